/**
 * What the browser and workerd tests run inside those runtimes, bundled with
 * the library by esbuild: a round trip on `memory://`, and `connect()` to a
 * backbone whose backend cannot load there. Each answers in plain data (it
 * crosses into the test as JSON) and within a bound: a hang comes back as
 * an answer too, never as a test that waits for its own timeout.
 */
import { Broadcast } from "../../mod.ts";

/** A frame as the test sees it. */
export interface SeenFrame {
  readonly type: string;
  readonly channel: string;
  readonly message?: string;
}

/** What a round trip received, and whether it stopped waiting before all of it came. */
export interface RoundTrip {
  readonly frames: SeenFrame[];
  readonly timedOut: boolean;
}

/** How `connect()` ended: connected, rejected (and with what), or still pending after the bound. */
export type ConnectOutcome =
  | { readonly outcome: "connected" }
  | { readonly outcome: "pending" }
  | {
    readonly outcome: "rejected";
    readonly name: string;
    readonly code: unknown;
    readonly message: string;
    /** The Broadcast's state once `connect()` rejected. */
    readonly state: string;
    /** Attempts made: one `error` event each. */
    readonly attempts: number;
  };

const TIMED_OUT = Symbol("timed out");

/** Resolves as `promise` does, or with `TIMED_OUT` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<typeof TIMED_OUT>((resolve) => timer = setTimeout(() => resolve(TIMED_OUT), ms));
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Subscribes to `channel` on `uri`, publishes `messages` there, and reads
 * frames back until as many came as were published or `ms` passed.
 */
export async function memoryRoundTrip(uri: string, channel: string, messages: readonly string[], ms: number): Promise<RoundTrip> {
  const broadcast = await Broadcast.connect(uri);
  try {
    const reader = broadcast.subscribe(channel).getReader();
    await broadcast.ready();
    for (const message of messages) await broadcast.publish(channel, message);
    const frames: SeenFrame[] = [];
    while (frames.length < messages.length) {
      const read = await within(reader.read(), ms);
      if (read === TIMED_OUT) return { frames, timedOut: true };
      if (read.done) break;
      const frame = read.value;
      frames.push(frame.type === "event" ? { type: frame.type, channel: frame.channel, message: frame.message } : { type: frame.type, channel: frame.channel });
    }
    return { frames, timedOut: false };
  } finally {
    await broadcast.disconnect();
  }
}

/** Calls `connect()` on a Broadcast of `uri` and reports how it ended within `ms`. */
export async function connectOutcome(uri: string, ms: number): Promise<ConnectOutcome> {
  const broadcast = new Broadcast(uri);
  let attempts = 0;
  broadcast.addEventListener("error", () => {
    attempts++;
  });
  try {
    const outcome = await within(broadcast.connect().then(() => undefined, (error: unknown) => error), ms);
    if (outcome === TIMED_OUT) return { outcome: "pending" };
    if (outcome === undefined) return { outcome: "connected" };
    const { name, code, message } = outcome as { name?: unknown; code?: unknown; message?: unknown };
    return { outcome: "rejected", name: String(name), code, message: String(message), state: broadcast.state, attempts };
  } finally {
    await within(broadcast.disconnect(), ms);
  }
}
