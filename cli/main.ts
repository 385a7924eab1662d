#!/usr/bin/env node
/**
 * The `streamcast` command: dispatches on its first argument to a subcommand
 * module, loaded only when used (so `pub` never loads `bench`), and turns
 * what the subcommand throws into one line on stderr and an exit code.
 *
 * @module
 */
import process from "node:process";
import { UsageError, invalid } from "./args.ts";
import { CommandFailure, reason } from "./broadcast.ts";

/** A subcommand: its runner (resolving with the exit code) and its help text. */
interface Command {
  run(argv: string[]): Promise<number>;
  usage: string;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  pub: () => import("./pub.ts").then((m) => ({ run: m.pub, usage: m.PUB_USAGE })),
  sub: () => import("./sub.ts").then((m) => ({ run: m.sub, usage: m.SUB_USAGE })),
  serve: () => import("./serve/mod.ts").then((m) => ({ run: m.serve, usage: m.SERVE_USAGE })),
  demo: () => import("./demo/mod.ts").then((m) => ({ run: m.demo, usage: m.DEMO_USAGE })),
  bench: () => import("./bench/mod.ts").then((m) => ({ run: m.bench, usage: m.BENCH_USAGE })),
};

/** `streamcast --help`. */
export const USAGE = `Usage: streamcast <command> [options]

Broadcast events between server workers over a backbone (memory://, redis://,
postgres://, kafka://), through outages.

Commands:
  pub     publish a message, or each line of stdin, on a channel
  sub     print every frame of one or more channels as JSON lines
  serve   serve channels to browsers and clients over HTTP
  demo    workers, subscribers and an outage in the middle, with checks
  bench   throughput and latency of one backbone

The URI is the first argument (redis://localhost:6379), or --uri, or the
environment: OPAL_BROADCAST_URI and the other OPAL_BROADCAST_* variables.

Run "streamcast <command> --help" for a command's options.
Exit codes: 0 done, 1 failed (backbone unreachable, a check failed), 2 bad arguments.`;

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") return help(rest[0]);
  if (name === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const load = COMMANDS[name];
    if (load === undefined) throw invalid("command", `one of ${Object.keys(COMMANDS).join(", ")}`, JSON.stringify(name));
    return await (await load()).run(rest);
  } catch (error) {
    return explain(error, COMMANDS[name] ? name : undefined);
  }
}

async function help(name: string | undefined): Promise<number> {
  if (name === undefined) {
    console.log(USAGE);
    return 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) return explain(invalid("command", `one of ${Object.keys(COMMANDS).join(", ")}`, JSON.stringify(name)));
  console.log((await load()).usage);
  return 0;
}

/** One line on stderr; the exit code that goes with the error. */
function explain(error: unknown, command?: string): number {
  const where = command ? `streamcast ${command}` : "streamcast";
  if (error instanceof UsageError) {
    process.stderr.write(`${where}: ${reason(error)} (see "${where} --help")\n`);
    return 2;
  }
  const text = error instanceof CommandFailure ? reason(error) : `${(error as Error)?.name ?? "Error"}: ${reason(error)}`;
  process.stderr.write(`streamcast: ${text}\n`);
  return 1;
}

/** Exits once stdout and stderr are flushed: a lingering socket must not keep a finished command alive. */
async function exit(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((out) => new Promise((resolve) => out.write("", resolve))));
  process.exit(code);
}

await exit(await main(process.argv.slice(2)));
