/**
 * The commands of the model-based test. Each one checks its precondition
 * against the model, acts on the system through the public API (or breaks the
 * path to the backbone), lets one macrotask pass, and then checks every
 * invariant that can be judged so far. `toString` is what a shrunk
 * counterexample prints: `subscribe b1 c0`, `cancel s2`, `burst b0 c1 ×3000`;
 * `resubscribe s2` cancels s2 and opens the next stream on its instance and channel.
 */
import fc from "fast-check";
import { check as checkTrace, throwIfAny } from "./check.ts";
import type { System } from "./system.ts";
import { sleep } from "../fixtures/support.ts";

/** What the test knows without looking at the system. */
export interface Model {
  instances: number;
  /** Every stream opened, s1 first. */
  streams: { inst: number; channel: number; signal: boolean; open: boolean }[];
  /** The path to the backbone is neither cut nor stalled. */
  reachable: boolean;
}

/** What the commands need to know about the backbone. */
export interface CommandSet {
  /** Pauses the `wait` command picks from, in ms. */
  waits: number[];
  /**
   * What this backbone can do besides cut, stall and restore.
   * `replaceHistory`: make a channel's log again (history mode only; its runs give `replaceHistory`).
   */
  can: { kill: boolean; killSubscribers: boolean; restart: boolean; slow: boolean; replaceHistory?: boolean };
  /** History mode: the commands that only history mode has are generated. */
  history?: boolean;
}

abstract class Step implements fc.AsyncCommand<Model, System> {
  abstract check(model: Readonly<Model>): boolean;
  abstract act(model: Model, system: System): Promise<void> | void;
  abstract toString(): string;

  async run(model: Model, system: System): Promise<void> {
    system.begin(`step ${system.steps.length + 1}: ${this}`);
    await this.act(model, system);
    await system.tick();
    if (system.failure) throw system.failure;
    throwIfAny(checkTrace(system, false));
  }
}

class Subscribe extends Step {
  readonly inst: number;
  readonly channel: number;
  readonly signal: boolean;
  constructor(inst: number, channel: number, signal: boolean) {
    super();
    this.inst = inst;
    this.channel = channel;
    this.signal = signal;
  }
  check(m: Readonly<Model>) {
    return this.inst < m.instances;
  }
  act(m: Model, s: System) {
    m.streams.push({ inst: this.inst, channel: this.channel, signal: this.signal, open: true });
    s.subscribe(this.inst, this.channel, this.signal);
  }
  override toString() {
    return `subscribe b${this.inst} c${this.channel}${this.signal ? " with a signal" : ""}`;
  }
}

class Cancel extends Step {
  readonly stream: number;
  constructor(stream: number) {
    super();
    this.stream = stream;
  }
  check(m: Readonly<Model>) {
    return m.streams[this.stream - 1]?.open === true;
  }
  async act(m: Model, s: System) {
    m.streams[this.stream - 1].open = false;
    await s.cancel(s.streams[this.stream - 1]);
  }
  override toString() {
    return `cancel s${this.stream}`;
  }
}

/** Cancel a stream and at once open another of the same instance and channel, as a client that reconnects does. */
class Resubscribe extends Step {
  readonly stream: number;
  constructor(stream: number) {
    super();
    this.stream = stream;
  }
  check(m: Readonly<Model>) {
    return m.streams[this.stream - 1]?.open === true;
  }
  async act(m: Model, s: System) {
    const old = m.streams[this.stream - 1];
    old.open = false;
    await s.cancel(s.streams[this.stream - 1]);
    m.streams.push({ ...old, open: true });
    s.subscribe(old.inst, old.channel, old.signal);
  }
  override toString() {
    return `resubscribe s${this.stream}`;
  }
}

class Abort extends Step {
  readonly stream: number;
  constructor(stream: number) {
    super();
    this.stream = stream;
  }
  check(m: Readonly<Model>) {
    return m.streams[this.stream - 1]?.open === true && m.streams[this.stream - 1].signal;
  }
  act(m: Model, s: System) {
    m.streams[this.stream - 1].open = false;
    s.abort(s.streams[this.stream - 1]);
  }
  override toString() {
    return `abort s${this.stream}`;
  }
}

class Publish extends Step {
  readonly inst: number;
  readonly channel: number;
  readonly count: number;
  constructor(inst: number, channel: number, count = 1) {
    super();
    this.inst = inst;
    this.channel = channel;
    this.count = count;
  }
  check(m: Readonly<Model>) {
    return this.inst < m.instances;
  }
  act(_: Model, s: System) {
    for (let i = 0; i < this.count; i++) void s.publish(this.inst, this.channel);
  }
  override toString() {
    return this.count === 1 ? `publish b${this.inst} c${this.channel}` : `burst b${this.inst} c${this.channel} ×${this.count}`;
  }
}

class Ready extends Step {
  readonly inst: number;
  constructor(inst: number) {
    super();
    this.inst = inst;
  }
  check(m: Readonly<Model>) {
    return this.inst < m.instances;
  }
  act(_: Model, s: System) {
    return s.ready(this.inst);
  }
  override toString() {
    return `ready b${this.inst}`;
  }
}

/** Cut, stall, restore, a blip (cut and restore at once), kills, restarts and slow answers. */
class Outage extends Step {
  readonly kind: "cut" | "stall" | "restore" | "blip" | "kill subscribers" | "restart server" | "slow answers";
  constructor(kind: "cut" | "stall" | "restore" | "blip" | "kill subscribers" | "restart server" | "slow answers") {
    super();
    this.kind = kind;
  }
  check(m: Readonly<Model>) {
    if (this.kind === "restore") return !m.reachable;
    if (this.kind === "slow answers") return true;
    return this.kind === "cut" || this.kind === "stall" || m.reachable;
  }
  async act(m: Model, s: System) {
    const backbone = s.backbone;
    const actions = {
      "cut": () => backbone.cut(),
      "stall": () => backbone.stall(),
      "restore": () => backbone.restore(),
      "blip": async () => {
        await backbone.cut();
        await backbone.restore();
      },
      "kill subscribers": () => backbone.killSubscribers!(),
      "restart server": () => backbone.restart!(),
      "slow answers": () => backbone.slow!(),
    };
    if (this.kind === "cut" || this.kind === "stall") m.reachable = false;
    if (this.kind === "restore") m.reachable = true;
    if (this.kind === "slow answers") s.slowed = true;
    await s.outage(actions[this.kind], m.reachable, this.kind === "stall");
  }
  override toString() {
    return this.kind;
  }
}

class Kill extends Step {
  readonly inst: number;
  constructor(inst: number) {
    super();
    this.inst = inst;
  }
  check(m: Readonly<Model>) {
    return this.inst < m.instances && m.reachable;
  }
  act(m: Model, s: System) {
    return s.outage(() => s.backbone.kill!(this.inst), m.reachable);
  }
  override toString() {
    return `kill b${this.inst}`;
  }
}

/**
 * History mode: the log of a channel is made again, with what it held gone
 * (on a backbone that can only replace every channel's, all of them): each
 * open stream of the channel may get one resync frame (gap) for it.
 */
class ReplaceHistory extends Step {
  readonly channel: number;
  constructor(channel: number) {
    super();
    this.channel = channel;
  }
  check(m: Readonly<Model>) {
    return m.reachable;
  }
  act(_: Model, s: System) {
    return s.replaceHistory(this.channel);
  }
  override toString() {
    return `history replaced c${this.channel}`;
  }
}

class Wait extends Step {
  readonly ms: number;
  constructor(ms: number) {
    super();
    this.ms = ms;
  }
  check() {
    return true;
  }
  act() {
    return sleep(this.ms);
  }
  override toString() {
    return `wait ${this.ms} ms`;
  }
}

/** The commands by name, for `--without`. */
export const COMMAND_NAMES = [
  "subscribe", "cancel", "abort", "resubscribe", "publish", "burst", "ready", "cut", "stall", "restore", "blip", "wait",
  "kill", "kill-subscribers", "restart", "slow", "history-replaced",
] as const;
export type CommandName = typeof COMMAND_NAMES[number];

/** One arbitrary of every command this backbone supports and `without` does not name, weighted. */
export function commandArbitrary(backbone: CommandSet, without: readonly CommandName[] = []): fc.Arbitrary<fc.AsyncCommand<Model, System>> {
  const inst = fc.nat(2);
  const channel = fc.nat(2);
  const stream = fc.integer({ min: 1, max: 6 });
  const { can } = backbone;
  const table: [CommandName, number, fc.Arbitrary<Step>, boolean?][] = [
    ["subscribe", 6, fc.tuple(inst, channel, fc.boolean()).map(([i, c, signal]) => new Subscribe(i, c, signal))],
    ["cancel", 2, stream.map((k) => new Cancel(k))],
    ["abort", 1, stream.map((k) => new Abort(k))],
    ["resubscribe", 4, stream.map((k) => new Resubscribe(k))],
    ["publish", 6, fc.tuple(inst, channel).map(([i, c]) => new Publish(i, c))],
    ["burst", 1, fc.tuple(inst, channel, fc.integer({ min: 2_000, max: 5_000 })).map(([i, c, n]) => new Publish(i, c, n))],
    ["ready", 3, inst.map((i) => new Ready(i))],
    ["cut", 1, fc.constant(new Outage("cut"))],
    ["stall", 1, fc.constant(new Outage("stall"))],
    ["restore", 2, fc.constant(new Outage("restore"))],
    ["blip", 1, fc.constant(new Outage("blip"))],
    ["wait", 3, fc.constantFrom(...backbone.waits).map((ms) => new Wait(ms))],
    ["kill", 1, inst.map((i) => new Kill(i)), can.kill],
    ["kill-subscribers", 1, fc.constant(new Outage("kill subscribers")), can.killSubscribers],
    ["restart", 1, fc.constant(new Outage("restart server")), can.restart],
    ["slow", 2, fc.constant(new Outage("slow answers")), can.slow],
    ["history-replaced", 1, channel.map((c) => new ReplaceHistory(c)), can.replaceHistory === true && backbone.history === true],
  ];
  const weighted = table
    .filter(([name, , , supported = true]) => supported && !without.includes(name))
    .map(([, weight, arbitrary]) => ({ weight, arbitrary }));
  return fc.oneof(...weighted);
}

/** Parses a counterexample as printed (`subscribe b0 c1, ready b0, burst b1 c1 ×3000`) back into commands. */
export function parseCommands(text: string): fc.AsyncCommand<Model, System>[] {
  return text.split(",").map((part) => part.trim()).filter((part) => part !== "").map((part) => {
    const [word, ...rest] = part.split(/\s+/);
    const num = (token: string | undefined, prefix: string) => {
      const value = Number(token?.startsWith(prefix) ? token.slice(prefix.length) : NaN);
      if (!Number.isInteger(value)) throw new Error(`Invalid command ${JSON.stringify(part)}: Expected ${prefix}<number> but received ${JSON.stringify(token)}`);
      return value;
    };
    switch (word) {
      case "subscribe":
        return new Subscribe(num(rest[0], "b"), num(rest[1], "c"), rest.includes("signal"));
      case "cancel":
        return new Cancel(num(rest[0], "s"));
      case "resubscribe":
        return new Resubscribe(num(rest[0], "s"));
      case "abort":
        return new Abort(num(rest[0], "s"));
      case "publish":
        return new Publish(num(rest[0], "b"), num(rest[1], "c"));
      case "burst":
        return new Publish(num(rest[0], "b"), num(rest[1], "c"), num(rest[2], "×"));
      case "ready":
        return new Ready(num(rest[0], "b"));
      case "kill":
        return rest[0] === "subscribers" ? new Outage("kill subscribers") : new Kill(num(rest[0], "b"));
      case "wait":
        return new Wait(Number(rest[0]));
      case "cut":
      case "stall":
      case "restore":
      case "blip":
        return new Outage(word);
      case "restart":
        return new Outage("restart server");
      case "slow":
        return new Outage("slow answers");
      case "history":
        return new ReplaceHistory(num(rest[1], "c"));
      default:
        throw new Error(`Invalid command ${JSON.stringify(part)}: Expected subscribe, cancel, resubscribe, abort, publish, burst, ready, cut, stall, restore, blip, kill, restart, slow, history replaced or wait`);
    }
  });
}
