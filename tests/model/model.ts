/**
 * A model-based randomized test of the public API, on any backbone, with
 * fast-check: random sequences of subscribe, cancel, resubscribe, abort,
 * publish, burst, ready, and outages (cut, stall, restore, server-side kills,
 * a server restart, slow answers; in history mode, a channel's history
 * replaced) across 2–3 Broadcast instances, checked after every command and
 * after the run (`tests/model/check.ts`). Failures shrink to a short command
 * list; streams are numbered s1, s2, … in the order of the subscribe commands.
 *
 * After the commands: restore everything, wait for every instance to be up
 * and resynced, open one more stream on every instance (on a channel of its
 * own), call ready() everywhere, publish a marker from every instance on every
 * channel with an open stream, and require every open stream to receive every
 * marker (a deaf stream fails here), then check the stats, disconnect, and
 * check that no timer is left.
 */
import process from "node:process";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { type BackboneKind, type ModelBackbone, openBackbone, schemeOf } from "./backbones.ts";
import { activeTimers, eventually, sleep } from "../fixtures/support.ts";
import { checkDisconnect, check, checkStats, downsOf, gapsOf, throwIfAny } from "./check.ts";
import { type InstanceRecord, System, Violation } from "./system.ts";
import { type CommandName, commandArbitrary, type Model, parseCommands } from "./commands.ts";

export interface ModelOptions {
  runs: number;
  maxCommands: number;
  /** Seconds of shrinking after the first failure, then the smallest failure so far is reported. */
  shrinkTime: number;
  seed?: number;
  path?: string;
  replayPath?: string;
  verbose?: boolean;
  /** Commands never to generate: to look past a failure already known. */
  without?: readonly CommandName[];
}

/** Runs the property `runs` times; throws fast-check's report (seed, path, shrunk commands, the violation). */
export async function assertModel(backbone: ModelBackbone, options: ModelOptions): Promise<void> {
  let failedAt: number | undefined;
  let cutShort = false;
  const arbitrary = fc.record({
    instances: fc.integer({ min: 2, max: 3 }),
    commands: fc.commands([commandArbitrary(backbone, options.without)], { maxCommands: options.maxCommands, size: "max", replayPath: options.replayPath }),
  });
  const property = fc.asyncProperty(arbitrary, async ({ instances, commands }) => {
    if (failedAt !== undefined && Date.now() - failedAt > options.shrinkTime * 1000) {
      cutShort = true; // the budget is spent: every later candidate "passes", so the smallest failure so far stands
      return;
    }
    try {
      await scenario(backbone, instances, commands);
    } catch (error) {
      failedAt ??= Date.now();
      throw error;
    }
  });
  const details = await fc.check(property, {
    numRuns: options.runs,
    seed: options.seed,
    path: options.path,
    endOnFailure: options.path !== undefined,
    verbose: options.verbose ? fc.VerbosityLevel.Verbose : fc.VerbosityLevel.None,
    includeErrorInReport: true,
  });
  if (!details.failed) return;
  let report = fc.defaultReportMessage(details) ?? "The model-based test failed";
  const shown = fc.stringify(details.counterexample);
  const replayPath = /replayPath="([^"]*)"/.exec(shown)?.[1];
  const commands = /"commands":(.*?) \/\*replayPath/.exec(shown)?.[1];
  const kind = backbone.name.replace("redis+cluster://", "redis-cluster").replace("://", "") + (backbone.history ? " --history" : "");
  if (details.counterexamplePath !== null && replayPath !== undefined) {
    report += `\nReplay it: npm run test:model -- --backbone ${kind} --seed=${details.seed} --path "${details.counterexamplePath}" --replay-path "${replayPath}"`;
  }
  if (commands !== undefined) {
    const instances = (details.counterexample?.[0] as { instances?: number } | undefined)?.instances;
    report += `\nOr run the shrunk commands as they are: npm run test:model -- --backbone ${kind} --instances ${instances} --commands "${commands}"`;
  }
  if (cutShort) report += `\n(Shrinking stopped after ${options.shrinkTime} s; replay with --seed and --path to shrink further.)`;
  throw new Error(report, { cause: details.errorInstance });
}

/** Runs one command list as printed in a counterexample, without fast-check: for replaying by hand. */
export function runCommands(backbone: ModelBackbone, instances: number, text: string): Promise<void> {
  return scenario(backbone, instances, parseCommands(text));
}

async function scenario(backbone: ModelBackbone, instances: number, commands: Iterable<fc.AsyncCommand<Model, System>>): Promise<void> {
  const place = await backbone.run();
  let system: System | undefined;
  let failure: unknown;
  try {
    system = await System.start(place, instances, backbone.limits);
    const model: Model = { instances, streams: [], reachable: true };
    const real = system;
    await fc.asyncModelRun(() => ({ model, real }), commands);
    await settle(system);
    throwIfAny(check(system, true));
    await eventually(() => checkStats(real).length === 0, 3_000).catch(() => throwIfAny(checkStats(real)));
  } catch (error) {
    failure = error;
  }
  try {
    if (system) {
      const reports = await system.stop();
      if (failure === undefined) {
        throwIfAny(checkDisconnect(system, reports));
        await noTimersLeft(system);
      }
    }
  } catch (error) {
    failure ??= error;
  }
  await place.release().catch((error) => failure ??= error);
  if (failure !== undefined) throw failure;
}

/**
 * Restore everything, let every gap close, open a stream on every instance,
 * then markers: ready() on every instance, one marker per instance per channel
 * with an open stream, and wait for every open stream to have them all. A round whose markers met a new
 * outage (a probe timing out on a loaded machine) is excused and repeated.
 */
async function settle(system: System): Promise<void> {
  system.begin("the final restore, ready() and markers");
  await system.outage(() => system.backbone.restore(), true);
  // A link that was up when the path stalled is found by the probe, or it came through (the
  // proxy drops stalled connections on restore; a client may reconnect them): give it the time.
  const stall = system.lastStall;
  if (stall) {
    const dropped = () => stall.up.every((i) => downsOf(system.instances[i]).some((seq) => seq > stall.seq));
    await eventually(dropped, system.limits.detection).catch(() => {});
  }
  if (system.slowed) await sleep(600); // the late answers of slow links arrive
  await quiet(system);
  // Late joiners: a stream opened now, on every instance, must get the markers too.
  for (const [i] of system.instances.entries()) system.subscribe(i, 3, false);
  for (let round = 1; round <= 3; round++) {
    await quiet(system);
    const from = system.seq;
    await Promise.all(system.instances.map((_, i) => system.ready(i)));
    const open = system.streams.filter((s) => s.closed === undefined);
    const channels = [...new Set(open.map((s) => s.channel))];
    const before = system.messages.size;
    await system.bounded(
      Promise.all(channels.flatMap((c) => system.instances.map((_, i) => system.publish(i, c, true)))),
      "publish of the final markers",
    );
    const markers = [...system.messages.values()].slice(before);
    const arrived = () =>
      open.every((s) => markers.every((m) => m.channel !== s.channel || s.events.some((e) => e.id === m.id)));
    const outage = () => system.instances.some((r) => downsOf(r).some((seq) => seq > from));
    await eventually(() => arrived() || outage(), system.limits.latency).catch(() => {});
    if (arrived() || !outage()) break;
  }
  await untilOrFail(system, () => system.pendingPublishes === 0, "every call settles", () => "publishes still pending");
  await quiet(system);
  if (system.failure) throw system.failure;
}

/** Every instance up and every gap closed by a resync (filled, in history mode). */
async function quiet(system: System): Promise<void> {
  const closed = (r: InstanceRecord) => system.backbone.history || gapsOf(r).gaps.at(-1)?.closed !== Infinity;
  await untilOrFail(
    system,
    () => system.instances.every((r) => r.broadcast.state === "up" && closed(r)),
    "every gap ends with a resync",
    () => system.instances.flatMap((r) => {
      if (r.broadcast.state !== "up") return [`${r.name} is ${r.broadcast.state}, not up`];
      const open = gapsOf(r).gaps.at(-1);
      return open?.closed === Infinity ? [`${r.name} is up but never resynced after going down (${system.stepAt(open.down)})`] : [];
    }).join("; "),
  );
}

async function untilOrFail(system: System, done: () => boolean, invariant: string, why: () => string): Promise<void> {
  try {
    await eventually(() => done() || system.failure !== undefined, system.limits.bound);
  } catch {
    throw new Violation(invariant, `${why()}, ${system.limits.bound} ms after the final restore`);
  }
  if (system.failure) throw system.failure;
}

/** After disconnect, the runtime holds no more timers than before the run (Node; other runtimes cannot tell). */
async function noTimersLeft(system: System): Promise<void> {
  const before = system.timersBefore;
  if (before === undefined) return;
  await eventually(() => (activeTimers() ?? 0) <= before, 2_000).catch(() => {
    throw new Violation("nothing left behind", `${activeTimers()} timers after disconnect, ${before} before the run`);
  });
}

/** How each backbone's test file runs by default: bounded for CI; `npm run test:model` runs more. */
export const DEFAULTS: Record<BackboneKind, Omit<ModelOptions, "runs">> = {
  memory: { maxCommands: 40, shrinkTime: 60 },
  redis: { maxCommands: 30, shrinkTime: 120 },
  postgres: { maxCommands: 30, shrinkTime: 120 },
  kafka: { maxCommands: 20, shrinkTime: 120 },
  "redis-cluster": { maxCommands: 30, shrinkTime: 120 },
};

/** The test a backbone's model test file declares: `runs` random command sequences. */
export function modelSuite(kind: BackboneKind, defaultRuns: number, options: { history?: boolean } = {}): void {
  // MODEL_RUNS overrides the count: the runtime matrix runs fewer on the runtimes beyond Node 20.
  const runs = Number(process.env.MODEL_RUNS ?? defaultRuns);
  const mode = options.history ? " in history mode" : "";
  describe(`model-based test on ${schemeOf(kind)}${mode}`, () => {
    let backbone: ModelBackbone | undefined;
    before(async () => {
      backbone = await openBackbone(kind, options.history);
    });
    after(async () => {
      await backbone?.close();
    });
    const promise = options.history
      ? "every subscriber gets every event exactly once, in each publisher's order, with no resync frame but one per replaced history"
      : "no subscriber goes deaf, loses or reorders events, or overflows; one resync per gap";
    it(`${promise}; every call settles and the stats add up, under random churn and outages on ${schemeOf(kind)}${mode}`, async () => {
      await assertModel(backbone!, { ...DEFAULTS[kind], runs });
    });
  });
}
