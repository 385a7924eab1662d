/**
 * The streamcast side of every benchmark, defined once: a publishing
 * Broadcast and a subscribing one on the same URI, as a `Side` that
 * `_measure.ts` drives exactly like a raw client's. A bench file then holds
 * only its raw client and its report.
 */
import { Broadcast } from "../mod.ts";
import type { Faults, Side } from "./_measure.ts";

/** How the two Broadcasts are connected. */
export interface StreamcastSideOptions {
  /**
   * How far the subscriber may lag, in frames: room for a whole run, so that
   * a run measures delivery, not overflow.
   * @default {1_000_000}
   */
  subscriberBuffer?: number;
  /**
   * The class to connect with: another checkout's, to compare two versions
   * of streamcast in one process.
   * @default {Broadcast} this checkout's
   */
  broadcast?: typeof Broadcast;
}

/** streamcast as a benchmarked side, its faults counted by the subscribing Broadcast. */
export interface StreamcastSide extends Side {
  faults(): Faults;
}

/** A publishing Broadcast and a subscribing one on `uri`. */
export async function streamcastSide(uri: string, options: StreamcastSideOptions = {}): Promise<StreamcastSide> {
  const { subscriberBuffer = 1_000_000, broadcast = Broadcast } = options;
  // A reconnect mid-run resyncs at once rather than after the default settle: a spoilt run shows as resyncs, not as a stall.
  const settings = { resyncSettle: 0, subscriberBuffer };
  const publisher = await broadcast.connect(uri, settings);
  // Connected at the first subscribe, so that a side that only publishes holds one connection.
  let subscribing: Promise<Broadcast> | undefined;
  let subscriber: Broadcast | undefined;
  const readings: Promise<void>[] = [];
  return {
    publish: (channel, message) => publisher.publish(channel, message),
    async subscribe(channel, onMessage) {
      subscriber = await (subscribing ??= broadcast.connect(uri, settings));
      const reader = subscriber.subscribe(channel).getReader();
      readings.push((async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          if (r.value.type === "event") onMessage(r.value.message);
        }
      })().catch(() => {}));
      await subscriber.ready();
    },
    faults: () => ({ dropped: subscriber?.stats.dropped ?? 0, resyncs: subscriber?.stats.resyncs ?? 0 }),
    async close() {
      await Promise.all([publisher.disconnect(), subscribing?.then((s) => s.disconnect())]);
      await Promise.all(readings);
    },
  };
}
