/**
 * The invariants of the model-based test, checked against the trace that
 * `tests/model/system.ts` records. Each check returns the violations it
 * finds, each naming the invariant, the stream, instance and channel, and the
 * command that was running when the trace went wrong.
 */
import type { BroadcastStats } from "../../mod.ts";
import { type InstanceRecord, type Message, type StreamRecord, type System, Violation } from "./system.ts";

/** From the link's drop to the resync that closed it (Infinity while open); sequence numbers and times. */
interface Gap {
  down: number;
  downTime: number;
  closed: number;
  closedTime: number;
}

/** An instance's gaps, and its resync events (`reconnect`) that closed no gap. */
export function gapsOf(record: InstanceRecord): { gaps: Gap[]; strays: number[] } {
  const marks = [
    ...record.states.filter(({ state }) => state === "down").map(({ seq, time }) => ({ seq, time, down: true })),
    ...reconnects(record).map(({ seq, time }) => ({ seq, time, down: false })),
  ].sort((a, b) => a.seq - b.seq);
  const gaps: Gap[] = [];
  const strays: number[] = [];
  let open: Gap | undefined;
  for (const mark of marks) {
    if (mark.down) {
      if (open === undefined) gaps.push(open = { down: mark.seq, downTime: mark.time, closed: Infinity, closedTime: Infinity });
    } else if (open !== undefined) {
      open.closed = mark.seq;
      open.closedTime = mark.time;
      open = undefined;
    } else {
      strays.push(mark.seq);
    }
  }
  return { gaps, strays };
}

/** The resync events that close a gap of the link (pub/sub mode); `gap` ones are a channel's, in history mode. */
function reconnects(record: InstanceRecord): InstanceRecord["resyncEvents"] {
  return record.resyncEvents.filter(({ reason, channel }) => reason === "reconnect" && channel === undefined);
}

/**
 * Pub/sub mode: the resync events of one channel that a link sent while it
 * lived on (a cluster's shard mended): each closes a gap of that channel
 * alone, opened at a time the model cannot see, so it excuses what that
 * channel lost before it and owes its streams one resync frame.
 */
function channelResyncs(record: InstanceRecord, channel: string): InstanceRecord["resyncEvents"] {
  return record.resyncEvents.filter((event) => event.reason === "reconnect" && event.channel === channel);
}

export function downsOf(record: InstanceRecord): number[] {
  return record.states.flatMap(({ seq, state }) => state === "down" ? [seq] : []);
}

/**
 * Every invariant that can be judged from the trace so far. With `final`,
 * the run is over, the backbone restored and quiet: what has not arrived by
 * now never will, and every gap must have been closed.
 */
export function check(system: System, final: boolean): Violation[] {
  const out: Violation[] = [];
  const gaps = system.instances.map(gapsOf);
  for (const [i, record] of system.instances.entries()) {
    for (const seq of gaps[i].strays) {
      out.push(new Violation("one resync per gap", `b${i} emitted a resync event with no gap open (${system.stepAt(seq)})`));
    }
    const failed = record.states.find(({ state }) => state === "failed");
    if (failed) out.push(new Violation("reconnects forever", `b${i} gave up (${system.stepAt(failed.seq)})`));
    const overflows = record.overflows.filter(({ source }) => source === "subscriber");
    if (overflows.length > 0) {
      const dropped = overflows.reduce((sum, { dropped }) => sum + dropped, 0);
      out.push(new Violation(
        "a flat-out reader loses nothing to overflow",
        `b${i} dropped ${dropped} events from subscriber queues in ${overflows.length} overflow(s), first during ${system.stepAt(overflows[0].seq)}`,
      ));
    }
    const last = gaps[i].gaps.at(-1);
    if (final && last?.closed === Infinity && !system.backbone.history) {
      out.push(new Violation("every gap ends with a resync", `b${i} went down (${system.stepAt(last.down)}) and never resynced`));
    }
    checkGapEvents(system, record, out);
  }
  for (const stream of system.streams) checkStream(system, stream, gaps.map((g) => g.gaps), final, out);
  return out;
}

function checkStream(system: System, stream: StreamRecord, gaps: Gap[][], final: boolean, out: Violation[]): void {
  const instance = system.instances[stream.inst];
  const name = describe(system, stream);
  if (stream.error !== undefined) out.push(new Violation("streams stay open through outages", `${name} errored: ${stream.error}`));
  else if (stream.ended !== undefined && (stream.closed === undefined || stream.closed > stream.ended)) {
    out.push(new Violation("streams stay open through outages", `${name} ended by itself (${system.stepAt(stream.ended)})`));
  }
  for (const stray of stream.strays) out.push(new Violation("frames belong to the stream's channel", `${name} received ${stray}`));
  if (system.backbone.history) {
    const unexplained = unexplainedGaps(system, stream.channel, stream.resyncs, stream.opened)[0];
    if (unexplained) {
      out.push(new Violation("history mode fills every gap", `${name} got a resync frame with reason "${unexplained.reason}" (${system.stepAt(unexplained.seq)})${explain(system, stream.channel)}`));
    }
  }
  // In history mode a resync frame (gap) is judged above: one per replacement of the channel's history.
  const overflow = stream.resyncs.find(({ reason }) => reason !== "reconnect" && !(system.backbone.history && reason === "gap"));
  if (overflow) {
    out.push(new Violation("a flat-out reader loses nothing to overflow", `${name} got a resync frame with reason "${overflow.reason}" (${system.stepAt(overflow.seq)})`));
  }
  const until = stream.closed ?? Infinity;
  const closes = [...reconnects(instance), ...channelResyncs(instance, system.channels[stream.channel])];
  const closedGaps = closes.filter(({ seq }) => seq > stream.opened && seq < until).length;
  const frames = stream.resyncs.filter(({ reason }) => reason === "reconnect").length;
  if (frames > closedGaps) {
    out.push(new Violation("one resync per gap", `${name} got ${frames} reconnect resync frame(s) but b${stream.inst} closed ${closedGaps} gap(s) while it was open`));
  } else if (final && stream.closed === undefined && stream.resyncs.length < closedGaps) {
    // An overflow frame still queued stands in for a reconnect one: either way the subscriber re-fetches.
    out.push(new Violation("one resync per gap", `${name} got ${frames} reconnect resync frame(s) for ${closedGaps} gap(s) of b${stream.inst} while it was open`));
  }
  const received = checkOrder(system, stream, name, out);
  checkMissing(system, stream, name, gaps, received, final, out);
  if (system.backbone.history) checkReplaced(system, stream, name, final, out);
}

/**
 * History mode, a replaced history is never silent. A stream open across a
 * replacement of its channel's log is owed what that log held for it: every
 * message on the channel published after the stream surely stood in the log
 * (after a ready() called after it opened resolved, or after it received
 * a message of the channel: a later message stands after that one in the
 * log) and acknowledged in that log
 * (see {@linkcode writtenBetween}). Each one arrives, or the stream gets a
 * resync frame (gap) after the replacement and after the last of them it did
 * receive. Judged once the stream has read from the new log (a message
 * published after the replacement), or, open at the end, once all is quiet.
 * (At most one such frame per replacement: `unexplainedGaps`.)
 */
function checkReplaced(system: System, stream: StreamRecord, name: string, final: boolean, out: Violation[]): void {
  const ofChannel = system.replacements.filter((r) => r.channel === "every" || r.channel === stream.channel);
  const until = stream.closed ?? Infinity;
  if (!ofChannel.some((r) => r.seq > stream.opened && r.seq < until)) return;
  const instance = system.instances[stream.inst];
  const readyAt = Math.min(...instance.readies.filter((r) => r.call > stream.opened && r.resolved !== undefined).map((r) => r.resolved!));
  const receipts = new Map<string, number>();
  for (const { seq, id } of stream.events) if (!receipts.has(id)) receipts.set(id, seq);
  const received = [...receipts.keys()].flatMap((id) => {
    const message = system.messages.get(id);
    return message?.channel === stream.channel ? [message] : [];
  });
  // Positions follow the log's order: a message published after the stream read one stands after it.
  const firstReceipt = Math.min(...received.map((m) => receipts.get(m.id)!));
  const gaps = stream.resyncs.filter(({ reason }) => reason === "gap").map(({ seq }) => seq);
  for (const [k, replacement] of ofChannel.entries()) {
    if (replacement.seq <= stream.opened || replacement.seq >= until) continue;
    const fromNewLog = received.some((m) => m.start > replacement.seq);
    if (!fromNewLog && !(final && stream.closed === undefined)) continue; // it may not have met the new log yet
    const previous = ofChannel[k - 1]?.seq ?? -Infinity;
    const owed = [...system.messages.values()].filter((m) =>
      m.channel === stream.channel && writtenBetween(system, m, previous, replacement.seq) &&
      (m.start > readyAt || m.start > firstReceipt)
    );
    const missed = owed.filter((m) => !receipts.has(m.id));
    if (missed.length === 0) continue;
    const last = Math.max(replacement.seq, ...owed.flatMap((m) => receipts.get(m.id) ?? []));
    if (gaps.some((seq) => seq > last)) continue;
    const listed = missed.slice(0, 6).map((m) => `${m.id} (${m.step})`).join(", ") + (missed.length > 6 ? ` and ${missed.length - 6} more` : "");
    const frames = gaps.length === 0 ? "no resync frame (gap) at all" : `no resync frame (gap) after it (its last during ${system.stepAt(gaps.at(-1)!)})`;
    out.push(new Violation(
      "a replaced history is never silent",
      `${name} missed ${listed}, acknowledged in the log of c${stream.channel} before it was replaced (${system.stepAt(replacement.seq)}), and got ${frames}; it received ${received.length} message(s)${fromNewLog ? ", some from the new log" : ""}`,
    ));
  }
}

/**
 * Whether `message` was surely written to the log that stood between two
 * replacements (sequence numbers): its publish called after the first and
 * acknowledged before the second, by a publisher up from the call until well
 * after the acknowledgement. A publish that resolved as buffered (its
 * publisher down or connecting), or as in flight when the link dropped (it
 * resolves as it is buffered again, just before the drop is reported), is
 * written when it is replayed: to either log. The drop of a publish buffered
 * again is reported in the same turn, so before the second replacement, whose
 * command runs in a turn of its own (a drop it causes is no sign).
 */
function writtenBetween(system: System, message: Message, from: number, to: number): boolean {
  const { settled } = message;
  if (message.outcome !== "accepted" || settled === undefined || message.start <= from || settled.seq >= to) return false;
  const states = system.instances[message.pub].states;
  if (states.filter(({ seq }) => seq < message.start).at(-1)?.state !== "up") return false;
  return !states.some(({ seq, time, state }) =>
    state !== "up" && seq > message.start && seq < to && (seq < settled.seq || time <= settled.time + 500)
  );
}

/**
 * History mode: a channel's resync frames (or an instance's resync events,
 * reason `gap`, on it) that no replacement of its history explains. Each
 * replacement explains one, which comes after it: a replacement while the
 * stream was open, or the last one before it opened (its instance may not
 * have met the new log yet). Every other is a gap history should have filled.
 */
function unexplainedGaps<T extends { seq: number; reason: string }>(system: System, channel: number, resyncs: T[], opened: number): T[] {
  const ofChannel = system.replacements.filter((r) => r.channel === "every" || r.channel === channel);
  const before = ofChannel.filter((r) => r.seq < opened).at(-1);
  const open = ofChannel.filter((r) => r.seq > opened || r === before).map((r) => r.seq);
  const unexplained: T[] = [];
  for (const resync of resyncs) {
    const at = resync.reason === "gap" ? open.findIndex((seq) => seq < resync.seq) : -1;
    if (at < 0) unexplained.push(resync);
    else open.splice(at, 1);
  }
  return unexplained;
}

/** The resync events (`gap`) of an instance: per channel, one per replacement of its history at most. */
function checkGapEvents(system: System, record: InstanceRecord, out: Violation[]): void {
  const gaps = record.resyncEvents.filter(({ reason }) => reason === "gap");
  for (const [channel, name] of system.channels.entries()) {
    const [unexplained] = unexplainedGaps(system, channel, gaps.filter((e) => e.channel === name), 0);
    if (unexplained) {
      out.push(new Violation("history mode fills every gap", `${record.name} emitted a resync event (gap) on c${channel} (${system.stepAt(unexplained.seq)})${explain(system, channel)}`));
    }
  }
  const strays = gaps.filter((e) => !system.channels.includes(e.channel ?? ""));
  if (strays.length > 0) out.push(new Violation("history mode fills every gap", `${record.name} emitted a resync event (gap) on no channel of the run`));
}

/** How many replacements of `channel`'s history there were, for a message. */
function explain(system: System, channel: number): string {
  const count = system.replacements.filter((r) => r.channel === "every" || r.channel === channel).length;
  return count === 0 ? ", and its history was never replaced" : `, beyond one per replacement of its history (${count})`;
}

/**
 * Per publisher: receipts in publish order, and repeats, except around a
 * reconnect of the publisher or the stream's instance, when what was in flight
 * is sent again (a stream that opened meanwhile may see some of it for the
 * first time); in history mode, never. Returns the first receipts by publisher.
 */
function checkOrder(system: System, stream: StreamRecord, name: string, out: Violation[]): Map<string, number>[] {
  const downs = system.instances.map(downsOf);
  const firsts = system.instances.map(() => new Map<string, number>());
  const lastN = system.instances.map(() => -1);
  let reported = 0;
  const report = (violation: Violation) => {
    if (reported++ < 3) out.push(violation);
  };
  for (const { seq, id } of stream.events) {
    const message = system.messages.get(id);
    if (message === undefined || message.channel !== stream.channel) {
      report(new Violation("only what was published on the channel arrives", `${name} received ${JSON.stringify(id)}${message ? ` published on c${message.channel}` : ", never published"}`));
      continue;
    }
    const seen = firsts[message.pub];
    const first = seen.get(id);
    // Sent again after a reconnect: a write in flight when a link dropped is replayed.
    const around = (d: number) => d > message.start && d < seq;
    const resent = !system.backbone.history && (downs[message.pub].some(around) || downs[stream.inst].some(around) ||
      (system.backbone.redeliversAfterFaults === true && system.faults.some(around)));
    if (first !== undefined) {
      if (!resent) {
        report(new Violation(
          system.backbone.history ? "exactly once in history mode" : "duplicates only around a reconnect",
          `${name} received ${id} twice (${system.stepAt(first)}, then ${system.stepAt(seq)}) with no reconnect of ${message.pub === stream.inst ? `b${message.pub}` : `b${message.pub} or b${stream.inst}`} in between`,
        ));
      }
      continue;
    }
    seen.set(id, seq);
    if (message.n < lastN[message.pub] && !resent) {
      report(new Violation(
        "each publisher's order is kept",
        `${name} received ${id} (${message.step}) after b${message.pub}#${lastN[message.pub]}, with no reconnect in between`,
      ));
    }
    lastN[message.pub] = Math.max(lastN[message.pub], message.n);
  }
  return firsts;
}

/**
 * A message published on the stream's channel after a ready() (called after
 * the stream opened) resolved, and before the stream closed, must arrive,
 * unless the stream's instance had a gap that can explain the loss: one that
 * was still open when the message was published, began before the next
 * message of the same publisher arrived, and began at most `detection` ms
 * after the message was sent (acknowledged, or replayed after the
 * publisher's own gap): later than that, the event should long have arrived.
 * In history mode no gap excuses a loss.
 */
function checkMissing(
  system: System,
  stream: StreamRecord,
  name: string,
  gaps: Gap[][],
  received: Map<string, number>[],
  final: boolean,
  out: Violation[],
): void {
  const instance = system.instances[stream.inst];
  const readyAt = Math.min(...instance.readies.filter((r) => r.call > stream.opened && r.resolved !== undefined).map((r) => r.resolved!));
  if (readyAt === Infinity) return;
  const until = stream.closed ?? Infinity;
  const horizons = received.map(horizonOf(system));
  const replayDrops = system.instances.map((r) => r.overflows.filter((o) => o.source === "replay").map((o) => o.seq));
  const mine = gaps[stream.inst];
  const missing: Message[] = [];
  for (const message of system.messages.values()) {
    if (message.channel !== stream.channel || message.outcome === "rejected") continue;
    if (message.start <= readyAt || message.start >= until || received[message.pub].has(message.id)) continue;
    const horizon = horizons[message.pub](message.n) ?? (final && stream.closed === undefined ? Infinity : undefined);
    if (horizon === undefined) continue; // nothing later from that publisher yet: it may still come
    const latest = sentAt(message, gaps[message.pub]) + system.limits.detection;
    const excused = !system.backbone.history && mine.some((gap) => gap.down <= horizon && gap.closed >= message.start && gap.downTime <= latest);
    if (excused) continue;
    if (!system.backbone.history && channelResyncs(instance, system.channels[stream.channel]).some(({ seq }) => seq > message.start)) continue;
    if (replayDrops[message.pub].some((seq) => seq >= message.start)) continue; // its replay buffer overflowed
    if (stream.resyncs.some((r) => r.reason === "overflow" && r.seq > message.start)) continue; // reported as an overflow
    // Published before its channel's log was made again: it may have gone with the old log.
    if (system.replacements.some((r) => r.seq > message.start && (r.channel === "every" || r.channel === message.channel))) continue;
    missing.push(message);
  }
  if (missing.length === 0) return;
  const listed = missing.slice(0, 6).map((m) => `${m.id} (${m.step})`).join(", ") + (missing.length > 6 ? ` and ${missing.length - 6} more` : "");
  const lastGap = mine.at(-1);
  const since = lastGap ? `b${stream.inst}'s last gap was ${system.stepAt(lastGap.down)} to ${lastGap.closed === Infinity ? "never closed" : system.stepAt(lastGap.closed)}` : `b${stream.inst} never had a gap`;
  const got = stream.events.length === 0 ? "no event at all" : `${stream.events.length} event(s), the last ${stream.events.at(-1)!.id} during ${system.stepAt(stream.events.at(-1)!.seq)}`;
  const markers = missing.filter((m) => m.marker);
  const owed = [...system.messages.values()].filter((m) => m.marker && m.channel === stream.channel && m.start > readyAt);
  if (final && markers.length > 0) {
    out.push(new Violation(
      markers.length === owed.length ? "no deaf subscriber" : "at-least-once delivery",
      `${name} missed ${markers.length} of the ${owed.length} final markers after restore and ready() (${listed}); ${since}; it received ${got}`,
    ));
  } else {
    out.push(new Violation(
      "at-least-once delivery",
      `${name} missed ${listed}, published after ready() on b${stream.inst} resolved (${system.stepAt(readyAt)}) while it was open, with no gap of b${stream.inst} to explain it; ${since}; it received ${got}`,
    ));
  }
}

/**
 * When a message went out: when publish resolved, or, if its publisher was in
 * a gap then (it was buffered, or in flight and buffered again), when that
 * gap closed (the replay comes before the resync).
 */
function sentAt(message: Message, publisherGaps: Gap[]): number {
  if (message.settled === undefined) return Infinity;
  const { seq, time } = message.settled;
  // In flight when the link dropped: settled as it was buffered again, just before the drop was reported.
  const gap = publisherGaps.find((g) => g.closed >= message.start && (g.down <= seq || g.downTime <= time + 100));
  return gap ? gap.closedTime : time;
}

/** For one publisher's first receipts: the earliest receipt of a message later than `n`. */
function horizonOf(system: System): (firsts: Map<string, number>) => (n: number) => number | undefined {
  return (firsts) => {
    const receipts = [...firsts].map(([id, seq]) => ({ n: system.messages.get(id)!.n, seq })).sort((a, b) => a.n - b.n);
    const earliest = receipts.map((r) => r.seq);
    for (let i = earliest.length - 2; i >= 0; i--) earliest[i] = Math.min(earliest[i], earliest[i + 1]);
    return (n) => {
      let lo = 0;
      let hi = receipts.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (receipts[mid].n > n) hi = mid;
        else lo = mid + 1;
      }
      return lo < receipts.length ? earliest[lo] : undefined;
    };
  };
}

/**
 * Once quiet: every accepted publish was sent or dropped from a full replay
 * buffer; everything buffered was replayed or dropped; `dropped` is the sum
 * of the overflow events; no more events or resync frames were read than the
 * stats say were handed out.
 */
export function checkStats(system: System): Violation[] {
  const out: Violation[] = [];
  for (const [i, record] of system.instances.entries()) {
    const stats = record.broadcast.stats;
    const { accepted, replayDropped, subscriberDropped } = counts(system, i);
    const streams = system.streams.filter((s) => s.inst === i);
    const read = streams.reduce((sum, s) => sum + s.events.length, 0);
    const resyncs = streams.reduce((sum, s) => sum + s.resyncs.length, 0);
    const say = (detail: string) => out.push(new Violation("stats add up", `b${i}: ${detail} (${format(stats)})`));
    if (stats.published + replayDropped !== accepted) {
      say(`published ${stats.published} + dropped from the replay buffer ${replayDropped} ≠ ${accepted} accepted publishes, with nothing left to send`);
    }
    if (stats.buffered !== stats.replayed + replayDropped) {
      say(`buffered ${stats.buffered} ≠ replayed ${stats.replayed} + dropped from the replay buffer ${replayDropped}, with nothing left to replay`);
    }
    if (stats.dropped !== replayDropped + subscriberDropped) {
      say(`dropped ${stats.dropped} ≠ ${replayDropped} + ${subscriberDropped} reported by overflow events`);
    }
    if (read > stats.delivered) say(`subscribers read ${read} events but delivered says ${stats.delivered}`);
    if (resyncs > stats.resyncs) say(`subscribers read ${resyncs} resync frames but resyncs says ${stats.resyncs}`);
  }
  return out;
}

/** After disconnect: every accepted publish was sent, dropped, or reported unsent. */
export function checkDisconnect(system: System, reports: { unsent: number; stats: BroadcastStats }[]): Violation[] {
  return reports.flatMap(({ unsent, stats }, i) => {
    const { accepted, replayDropped } = counts(system, i);
    if (stats.published + replayDropped + unsent === accepted) return [];
    return [new Violation(
      "stats add up",
      `b${i}: after disconnect, published ${stats.published} + dropped ${replayDropped} + unsent ${unsent} ≠ ${accepted} accepted publishes`,
    )];
  });
}

function counts(system: System, i: number): { accepted: number; replayDropped: number; subscriberDropped: number } {
  let accepted = 0;
  for (const message of system.messages.values()) if (message.pub === i && message.outcome === "accepted") accepted++;
  const sum = (source: string) =>
    system.instances[i].overflows.filter((o) => o.source === source).reduce((total, o) => total + o.dropped, 0);
  return { accepted, replayDropped: sum("replay"), subscriberDropped: sum("subscriber") };
}

function format(stats: BroadcastStats): string {
  return Object.entries(stats).map(([key, value]) => `${key} ${value}`).join(", ");
}

function describe(system: System, stream: StreamRecord): string {
  return `${stream.name} (b${stream.inst} on c${stream.channel}, opened during ${stream.step})`;
}

/** Throws the violations as one error, the first one's invariant in front. */
export function throwIfAny(violations: Violation[]): void {
  if (violations.length === 0) return;
  const [first, ...rest] = violations;
  if (rest.length === 0) throw first;
  const more = rest.slice(0, 4).map((v) => `\n  also: ${v.message}`).join("") + (rest.length > 4 ? `\n  and ${rest.length - 4} more` : "");
  throw new Violation(first.invariant, `${first.message.replace(/^Invariant "[^"]*" broken: /, "")}${more}`);
}
