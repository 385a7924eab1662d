/**
 * The publishers of `bench/serve.ts`, both straight onto Redis from the bench
 * process, as another service of the application would publish (a policy
 * update from some other worker): for streamcast a `Broadcast` on the same
 * backbone URI, for socket.io `@socket.io/redis-emitter` with the adapter's
 * key. And the schedule that publishes at a fixed rate.
 */
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { streamcastSide } from "../_streamcast.ts";
import { sleep } from "./procs.ts";
import { message, now } from "./wire.ts";

export interface Publisher {
  publish(text: string): Promise<unknown>;
  close(): Promise<void>;
}

export async function streamcastPublisher(uri: string, channel: string): Promise<Publisher> {
  const side = await streamcastSide(uri);
  return { publish: (text) => side.publish(channel, text), close: () => side.close() };
}

export async function socketIoPublisher(uri: string, key: string, room: string): Promise<Publisher> {
  const client = createClient({ url: uri });
  client.on("error", () => {}); // a failed publish is counted as loss
  await client.connect();
  const emitter = new Emitter(client, { key });
  return {
    // The emitter neither waits for Redis nor reports a failure: a lost publish shows as loss.
    publish: async (text) => void emitter.to(room).emit("m", text),
    close: async () => client.destroy(),
  };
}

/** What a run of the schedule sent: how many, and when the first went out (`now()`). */
export interface Sent {
  sent: number;
  failed: number;
  first: number;
}

/**
 * Publishes `rate` messages a second for `seconds`, each on time (a late
 * one goes at once, so the rate holds on average), numbered from 0 and
 * stamped with `step`.
 */
export async function publishAt(publisher: Publisher, step: number, rate: number, seconds: number, size: number): Promise<Sent> {
  const total = Math.max(1, Math.round(rate * seconds));
  const pending: Promise<unknown>[] = [];
  let failed = 0;
  const first = now();
  for (let seq = 0; seq < total; seq++) {
    const wait = first + (seq * 1000) / rate - now();
    if (wait >= 1) await sleep(wait);
    pending.push(publisher.publish(message(step, seq, size)).catch(() => failed++));
  }
  await Promise.all(pending);
  return { sent: total - failed, failed, first };
}
