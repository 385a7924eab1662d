/**
 * The system under test of the model-based test (`tests/model/model.ts`): a few
 * Broadcast instances on one backbone, driven only through the public API,
 * with everything they do written to one ordered trace. Every observation
 * (a call, a state change, a frame read) gets the next sequence number, so the
 * invariants in `tests/model/check.ts` can ask what happened before what.
 */
import { Broadcast, type BroadcastOptions, type BroadcastStats, type Frame, type State } from "../../mod.ts";
import { activeTimers, sleep, uniqueChannel, within } from "../fixtures/support.ts";

/** One backbone for one run: where instances connect and how to break the path to it. */
export interface RunBackbone {
  uri: string;
  /** Options for instance `index` (timing, names the backbone can kill by). */
  options(index: number): BroadcastOptions;
  cut(): Promise<void>;
  stall(): Promise<void>;
  restore(): Promise<void>;
  /** Server-side kill of instance `index`'s connections. */
  kill?(index: number): Promise<void>;
  /** Server-side kill of every subscriber connection. */
  killSubscribers?(): Promise<void>;
  /** The server crashes and comes back on the same port. */
  restart?(): Promise<void>;
  /** The open connections answer late from now on (the probe gives up on them); later connections do not. */
  slow?(): Promise<void>;
  /**
   * History mode: the log of `channel` is made again (deleted and recreated,
   * a server restarted without persistence, a table truncated, a topic
   * recreated, a hub restarted), with a new epoch; what it held is gone.
   * Resolves once the backbone takes publishes again. The "history replaced"
   * command calls it; absent, the command is never generated.
   */
  replaceHistory?(channel: string): Promise<void>;
  /** `replaceHistory` makes every channel's log again, not only the one it names (a hub or server restart). */
  replacesEveryChannel?: boolean;
  /**
   * A link may live through a broken path and fetch again what it had fetched
   * (Kafka: kafkajs reconnects a socket when the broker answers again at once,
   * and the consumer refetches from its position), so a network fault is a
   * window for duplicates even without a reconnect.
   */
  redeliversAfterFaults?: boolean;
  /**
   * History mode: every gap is filled from the backbone's history, so the
   * invariants are stronger: exactly once, in each publisher's order, and no
   * resync frame at all.
   */
  history?: boolean;
}

/** A message a test published: `b<publisher>#<n>`, unique within a run. */
export interface Message {
  id: string;
  pub: number;
  n: number;
  channel: number;
  /** Sequence number just before `publish` was called. */
  start: number;
  outcome?: "accepted" | "rejected";
  /** When publish resolved: acknowledged by the backbone, or buffered. */
  settled?: { seq: number; time: number };
  error?: unknown;
  marker: boolean;
  step: string;
}

export interface StreamRecord {
  name: string;
  inst: number;
  channel: number;
  signal?: AbortController;
  opened: number;
  step: string;
  /** When it was cancelled, aborted or its instance disconnected. */
  closed?: number;
  closedBy?: string;
  /** Event frames read, as message ids, in the order read. */
  events: { seq: number; id: string }[];
  resyncs: { seq: number; reason: string }[];
  strays: string[];
  ended?: number;
  error?: unknown;
  reader?: ReadableStreamDefaultReader<Frame>;
}

export interface InstanceRecord {
  name: string;
  broadcast: Broadcast;
  states: { seq: number; time: number; state: State }[];
  /** Resync events: `reconnect` (pub/sub mode) closes a gap; `gap` (history mode) names its channel. */
  resyncEvents: { seq: number; time: number; reason: "reconnect" | "gap"; channel?: string }[];
  overflows: { seq: number; source: string; dropped: number }[];
  readies: { call: number; resolved?: number }[];
  nextN: number;
}

interface Pending {
  what: string;
  since: number;
  /** Only bounded while the backbone is reachable (ready waits for the link). */
  needsBackbone: boolean;
}

/** A broken invariant: its name, and what broke it where. */
export class Violation extends Error {
  override name = "Violation";
  readonly invariant: string;
  constructor(invariant: string, detail: string) {
    super(`Invariant "${invariant}" broken: ${detail}`);
    this.invariant = invariant;
  }
}

export interface Limits {
  /** How long publish, ready and disconnect may take, in ms. */
  bound: number;
  /** How long after it was sent an event surely reached every subscriber on a working link, in ms. */
  latency: number;
  /** How long after an event was sent its loss must show as a drop of the subscriber's link: delivery, liveness interval and timeout, and slack; in ms. */
  detection: number;
}

export class System {
  seq = 0;
  step = "setup";
  readonly steps: { seq: number; label: string }[] = [];
  readonly instances: InstanceRecord[] = [];
  readonly streams: StreamRecord[] = [];
  readonly messages = new Map<string, Message>();
  readonly channels: string[];
  readonly backbone: RunBackbone;
  readonly limits: Limits;
  /** The first violation seen off the command path (an operation that did not settle). */
  failure: Violation | undefined;
  /** The backbone is reachable (not cut, stalled or stopped) since this time, else undefined. */
  reachableSince: number | undefined = Date.now();
  /** Some links were made slow: their late answers may still be on their way. */
  slowed = false;
  /** Sequence number of the last stall, and which instances were up then (their link may be half-open). */
  lastStall: { seq: number; up: number[] } | undefined;
  /** When the path to the backbone was broken or mended (cut, stall, restore, blip, kills, replacements). */
  readonly faults: number[] = [];
  /** History mode: when a channel's log was made again (the index of the channel, or every channel). */
  readonly replacements: { seq: number; channel: number | "every" }[] = [];
  readonly #pending = new Set<Pending>();
  readonly #watchdog: ReturnType<typeof setInterval>;
  readonly timersBefore: number | undefined;

  private constructor(backbone: RunBackbone, limits: Limits) {
    this.backbone = backbone;
    this.limits = limits;
    // c0–c2 for the commands, c3 for the streams the final check opens.
    this.channels = [0, 1, 2, 3].map((i) => uniqueChannel(`model${i}`));
    this.timersBefore = activeTimers();
    this.#watchdog = setInterval(() => this.#watch(), 50);
  }

  /** Connects `count` instances. */
  static async start(backbone: RunBackbone, count: number, limits: Limits): Promise<System> {
    const system = new System(backbone, limits);
    try {
      for (let i = 0; i < count; i++) system.instances.push(system.#instance(i));
      await system.bounded(Promise.all(system.instances.map((r) => r.broadcast.connect())), "connect() of every instance");
    } catch (error) {
      await system.stop().catch(() => {});
      throw error;
    }
    return system;
  }

  next(): number {
    return ++this.seq;
  }

  /** Names the command now running, for messages. */
  begin(label: string): void {
    this.step = label;
    this.steps.push({ seq: this.next(), label });
  }

  /** The command that was running at `seq`. */
  stepAt(seq: number): string {
    let label = "setup";
    for (const step of this.steps) {
      if (step.seq > seq) break;
      label = step.label;
    }
    return label;
  }

  subscribe(inst: number, channel: number, withSignal: boolean): StreamRecord {
    const signal = withSignal ? new AbortController() : undefined;
    const record: StreamRecord = {
      name: `s${this.streams.length + 1}`, inst, channel, signal, opened: this.next(), step: this.step,
      events: [], resyncs: [], strays: [],
    };
    this.streams.push(record);
    const stream = this.instances[inst].broadcast.subscribe(this.channels[channel], { signal: signal?.signal });
    this.#read(record, stream.getReader());
    return record;
  }

  async cancel(record: StreamRecord): Promise<void> {
    record.closed = this.next();
    record.closedBy = this.step;
    await this.bounded(record.reader!.cancel(), `cancel of ${record.name}`);
  }

  abort(record: StreamRecord): void {
    record.closed = this.next();
    record.closedBy = this.step;
    record.signal!.abort();
  }

  /** Publishes one message; not awaited, but bounded by the watchdog. */
  publish(inst: number, channel: number, marker = false): Promise<void> {
    const record = this.instances[inst];
    const n = record.nextN++;
    const id = `b${inst}#${n}`;
    const message: Message = { id, pub: inst, n, channel, start: this.next(), marker, step: this.step };
    this.messages.set(id, message);
    const pending = this.#track(`publish of ${id} (${this.step})`, false);
    return record.broadcast.publish(this.channels[channel], id).then(
      () => {
        message.outcome = "accepted";
        message.settled = { seq: this.next(), time: Date.now() };
      },
      (error) => {
        message.outcome = "rejected";
        message.error = error;
        this.failure ??= new Violation("publish resolves while open", `publish of ${id} on b${inst} rejected: ${error}`);
      },
    ).finally(() => this.#pending.delete(pending));
  }

  /** Calls ready(); awaits it while the backbone is reachable, else leaves it to the watchdog. */
  async ready(inst: number): Promise<void> {
    const record = this.instances[inst];
    const entry: { call: number; resolved?: number } = { call: this.next() };
    record.readies.push(entry);
    const pending = this.#track(`ready() on b${inst} (${this.step})`, true);
    const done = record.broadcast.ready().then(
      () => void (entry.resolved = this.next()),
      (error) => void (this.failure ??= new Violation("ready() resolves while open", `ready() on b${inst} rejected: ${error}`)),
    ).finally(() => this.#pending.delete(pending));
    if (this.reachableSince !== undefined) await this.bounded(done, `ready() on b${inst}`);
  }

  /** Breaks or mends the path; `reachable` says whether the backbone can be reached afterwards. */
  async outage(action: () => Promise<void>, reachable: boolean, stall = false): Promise<void> {
    const seq = this.next();
    this.faults.push(seq);
    if (stall) {
      this.lastStall = { seq, up: this.instances.flatMap((r, i) => r.broadcast.state === "up" ? [i] : []) };
    }
    await action();
    if (!reachable) this.reachableSince = undefined;
    else this.reachableSince ??= Date.now();
  }

  /** History mode: makes the log of `channel` again (and every channel's, where the backbone can only do that). */
  async replaceHistory(channel: number): Promise<void> {
    const replace = this.backbone.replaceHistory!;
    await this.outage(async () => {
      this.replacements.push({ seq: this.next(), channel: this.backbone.replacesEveryChannel ? "every" : channel });
      await replace(this.channels[channel]);
    }, true);
  }

  /** Rejects, naming `what`, unless `promise` settles within the bound. */
  bounded<T>(promise: Promise<T>, what: string, ms = this.limits.bound): Promise<T> {
    return within(promise, ms, what).catch((error) => {
      if (/^Timed out/.test(String(error?.message))) {
        throw new Violation("every call settles", `${what} did not settle within ${ms} ms (${this.step})`);
      }
      throw error;
    });
  }

  /** Lets microtasks and one macrotask pass, so every frame already on its way has been read. */
  tick(): Promise<void> {
    return sleep(0);
  }

  /** Publish calls not yet settled. */
  get pendingPublishes(): number {
    let count = 0;
    for (const entry of this.#pending) if (!entry.needsBackbone) count++;
    return count;
  }

  /** Disconnects every instance; resolves with each one's unsent count and stats. */
  async stop(): Promise<{ unsent: number; stats: BroadcastStats }[]> {
    clearInterval(this.#watchdog);
    for (const stream of this.streams) {
      if (stream.closed === undefined) {
        stream.closed = this.next();
        stream.closedBy = "disconnect";
      }
    }
    return await Promise.all(this.instances.map(async (record) => {
      const report = await this.bounded(record.broadcast.disconnect(), `disconnect() of ${record.name}`);
      return { unsent: report.unsent.length, stats: record.broadcast.stats };
    }));
  }

  #instance(index: number): InstanceRecord {
    const broadcast = new Broadcast(this.backbone.uri, this.backbone.options(index));
    const record: InstanceRecord = {
      name: `b${index}`, broadcast, states: [], resyncEvents: [], overflows: [], readies: [], nextN: 0,
    };
    broadcast.addEventListener("statechange", (event) => {
      const { state } = (event as CustomEvent<{ state: State }>).detail;
      record.states.push({ seq: this.next(), time: Date.now(), state });
    });
    broadcast.addEventListener("resync", (event) => {
      const { reason, channel } = event.detail;
      record.resyncEvents.push({ seq: this.next(), time: Date.now(), reason, channel });
    });
    broadcast.addEventListener("overflow", (event) => {
      const { source, dropped } = (event as CustomEvent<{ source: string; dropped: number }>).detail;
      record.overflows.push({ seq: this.next(), source, dropped });
    });
    return record;
  }

  async #read(record: StreamRecord, reader: ReadableStreamDefaultReader<Frame>): Promise<void> {
    record.reader = reader;
    const channel = this.channels[record.channel];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        const seq = this.next();
        if (done) return void (record.ended = seq);
        if (value.channel !== channel) record.strays.push(`a frame of channel ${value.channel}`);
        if (value.type === "event") record.events.push({ seq, id: value.message });
        else record.resyncs.push({ seq, reason: value.reason });
      }
    } catch (error) {
      record.error = error;
      record.ended = this.next();
    }
  }

  #track(what: string, needsBackbone: boolean): Pending {
    const entry = { what, since: Date.now(), needsBackbone };
    this.#pending.add(entry);
    return entry;
  }

  #watch(): void {
    const now = Date.now();
    for (const entry of this.#pending) {
      const since = entry.needsBackbone ? this.reachableSince === undefined ? now : Math.max(entry.since, this.reachableSince) : entry.since;
      if (now - since > this.limits.bound) {
        this.failure ??= new Violation("every call settles", `${entry.what} did not settle within ${this.limits.bound} ms`);
      }
    }
  }
}

