/** Helpers shared by the test files: reading streams with deadlines, waiting for events. */
import type { Broadcast, BroadcastEventMap, ConnectorContext, Direction, EventFrame, Frame, State } from "../mod.ts";
import { systemClock } from "../lib/clock.ts";

/** Rejects if `promise` has not settled within `ms`, naming `what`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Reads frames until `done(frames)` is true; fails after `ms`. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<Frame>,
  done: (frames: Frame[]) => boolean,
  ms = 5_000,
  what = "frames",
): Promise<Frame[]> {
  const frames: Frame[] = [];
  const deadline = Date.now() + ms;
  while (!done(frames)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`Timed out waiting for ${what}; got ${describe(frames)}`);
    const { value, done: ended } = await within(reader.read(), left, `${what}; got ${describe(frames)}`);
    if (ended) throw new Error(`Stream ended while waiting for ${what}; got ${describe(frames)}`);
    frames.push(value);
  }
  return frames;
}

/** Reads until `count` event frames have arrived (resync frames are kept too). */
export function readEvents(reader: ReadableStreamDefaultReader<Frame>, count: number, ms = 5_000): Promise<Frame[]> {
  return readUntil(reader, (frames) => events(frames).length >= count, ms, `${count} events`);
}

/** The messages of the event frames, in order. */
export function events(frames: Frame[]): string[] {
  return frames.flatMap((frame) => frame.type === "event" ? [frame.message] : []);
}

/** The resync frames. */
export function resyncs(frames: Frame[]): Frame[] {
  return frames.filter((frame) => frame.type === "resync");
}

/** Resolves with the event's detail the next time `broadcast` fires `type`. */
export function nextEvent<K extends keyof BroadcastEventMap>(
  broadcast: Broadcast,
  type: K,
  ms = 5_000,
): Promise<BroadcastEventMap[K]["detail"]> {
  return within(
    new Promise<BroadcastEventMap[K]["detail"]>((resolve) => {
      broadcast.addEventListener(type, (event) => resolve(event.detail), { once: true });
    }),
    ms,
    `a "${type}" event`,
  );
}

/** Resolves once `broadcast.state` is `state` (at once if it already is). */
export function reachState(broadcast: Broadcast, state: State, ms = 5_000): Promise<void> {
  if (broadcast.state === state) return Promise.resolve();
  return within(
    new Promise<void>((resolve) => {
      const listener = () => {
        if (broadcast.state !== state) return;
        broadcast.removeEventListener("statechange", listener);
        resolve();
      };
      broadcast.addEventListener("statechange", listener);
    }),
    ms,
    `state "${state}" (now "${broadcast.state}")`,
  );
}

/** Polls `check` until it returns true; fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5_000, what = "a condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A channel name no other test uses. */
export function uniqueChannel(prefix = "ch"): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Drops repeats of what was already seen: at-least-once delivery may duplicate. */
export function dedupe(messages: string[]): string[] {
  const seen = new Set<string>();
  return messages.filter((message) => !seen.has(message) && seen.add(message));
}

/** Timers the runtime holds now (Node); undefined where the runtime cannot tell. */
export function activeTimers(): number | undefined {
  const info = (globalThis as { process?: { getActiveResourcesInfo?: () => string[] } }).process
    ?.getActiveResourcesInfo?.();
  return info?.filter((name) => name === "Timeout").length;
}

/** What a `dropped` event says about a frame the backbone refused. */
export type DroppedDetail = BroadcastEventMap["dropped"]["detail"];

/** Collects the detail of every `dropped` event `broadcast` fires from now on. */
export function droppedEvents(broadcast: Broadcast): DroppedDetail[] {
  const details: DroppedDetail[] = [];
  broadcast.addEventListener("dropped", (event) => details.push(event.detail));
  return details;
}

/** A context for driving a backend's connector directly, without a Broadcast: it collects what is reported dropped. */
export function connectorContext(settings: Record<string, unknown> = {}): {
  context: ConnectorContext;
  dropped: { frame: EventFrame; reason: unknown; direction: Direction }[];
} {
  const dropped: { frame: EventFrame; reason: unknown; direction: Direction }[] = [];
  const context: ConnectorContext = {
    settings,
    clock: systemClock,
    dropped: (frame, reason, direction) => void dropped.push({ frame, reason, direction }),
  };
  return { context, dropped };
}

function describe(frames: Frame[]): string {
  const text = JSON.stringify(frames.map((f) => f.type === "event" ? f.message : `<${f.type}:${f.reason}>`));
  return text.length > 400 ? `${text.slice(0, 400)}… (${frames.length} frames)` : text;
}
