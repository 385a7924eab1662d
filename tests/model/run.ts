/**
 * Runs the model-based test (tests/model/model.ts) by hand, for longer than CI does:
 *
 *   npm run test:model -- --runs 1000 --backbone redis
 *   npm run test:model -- --backbone memory --seed 42 --path "3:1:0" --replay-path "AAB"
 *
 * --backbone memory|redis|postgres|kafka|redis-cluster|all (default memory), --runs N
 * (default 100), --max-commands N, --shrink-time SECONDS, --seed and --path
 * (from a failure's report) to replay it, --replay-path (the `replayPath` the
 * report prints inside the counterexample) to replay the same commands,
 * --verbose to list every failure met while shrinking; --commands "subscribe
 * b0 c0, ready b0, burst b1 c0 ×3000" [--instances N] runs one printed
 * counterexample as it is, without fast-check; --without burst,slow never
 * generates those commands (to look past a failure already known);
 * --history runs in history mode, with its stronger invariants. Exits 1 on a
 * failure.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { assertModel, DEFAULTS, runCommands } from "./model.ts";
import { type BackboneKind, KINDS, openBackbone, schemeOf } from "./backbones.ts";
import { COMMAND_NAMES, type CommandName } from "./commands.ts";

const { values } = parseArgs({
  options: {
    backbone: { type: "string", default: "memory" },
    runs: { type: "string", default: "100" },
    "max-commands": { type: "string" },
    "shrink-time": { type: "string" },
    seed: { type: "string" },
    path: { type: "string" },
    "replay-path": { type: "string" },
    verbose: { type: "boolean", default: false },
    history: { type: "boolean", default: false },
    commands: { type: "string" },
    without: { type: "string" },
    instances: { type: "string", default: "3" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log("Usage: npm run test:model -- [--backbone memory|redis|postgres|kafka|redis-cluster|all] [--runs N] [--max-commands N] [--shrink-time S] [--seed N --path P [--replay-path R]] [--verbose] [--history] [--without NAMES] [--commands LIST [--instances N]]");
  process.exit(0);
}

function integer(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) usage(`Invalid --${name}: Expected an integer >= ${min} but received ${JSON.stringify(text)}`);
  return value;
}

function usage(message: string): never {
  console.error(message);
  process.exit(2);
}

const kinds = values.backbone === "all" ? KINDS : [values.backbone as BackboneKind];
if (!kinds.every((kind) => KINDS.includes(kind))) {
  usage(`Invalid --backbone: Expected one of ${[...KINDS, "all"].join(", ")} but received ${JSON.stringify(values.backbone)}`);
}
const runs = integer("runs", values.runs, 1)!;
const seed = integer("seed", values.seed, -(2 ** 31));
if (values.path !== undefined && seed === undefined) usage("--path replays a failure only together with its --seed");

const without = (values.without?.split(",") ?? []).map((name) => name.trim()).filter((name) => name !== "") as CommandName[];
const unknown = without.filter((name) => !COMMAND_NAMES.includes(name));
if (unknown.length > 0) usage(`Invalid --without: Expected names among ${COMMAND_NAMES.join(", ")} but received ${unknown.join(", ")}`);

let failed = false;
for (const kind of kinds) {
  const started = Date.now();
  const backbone = await openBackbone(kind, values.history);
  try {
    if (values.commands !== undefined) {
      await runCommands(backbone, integer("instances", values.instances, 1)!, values.commands);
      console.log(`${schemeOf(kind)}: the commands passed`);
      continue;
    }
    await assertModel(backbone, {
      ...DEFAULTS[kind],
      runs,
      maxCommands: integer("max-commands", values["max-commands"], 1) ?? DEFAULTS[kind].maxCommands,
      shrinkTime: integer("shrink-time", values["shrink-time"], 0) ?? DEFAULTS[kind].shrinkTime,
      seed,
      path: values.path,
      replayPath: values["replay-path"],
      verbose: values.verbose,
      without,
    });
    console.log(`${schemeOf(kind)}: ${runs} runs passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    failed = true;
    console.error(`${schemeOf(kind)}: FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s\n${(error as Error).message}`);
  } finally {
    await backbone.close();
  }
}
process.exit(failed ? 1 : 0);
