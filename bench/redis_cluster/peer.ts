/**
 * One load process of `bench/redis_cluster.ts`, forked with an IPC channel:
 * a publisher or a subscriber of one side at a time (streamcast's Broadcast,
 * or node-redis's cluster client), told what to do by the parent. A
 * subscriber reports `done` once it has `expect` messages; a publisher
 * publishes its share in chunks, each chunk awaited, round-robin over the
 * channels it is given.
 */
import process from "node:process";
import { createCluster } from "redis";
import { Broadcast } from "../../mod.ts";

export type Kind = "streamcast" | "raw";
export type Command =
  | { op: "open"; kind: Kind; role: "pub" | "sub"; uri: string; seed: string }
  | { op: "subscribe"; channels: string[]; expect: number }
  | { op: "publish"; channels: string[]; messages: number; chunk: number; payload: string }
  | { op: "close" };
export type Reply = { op: "opened" | "subscribed" | "done" | "sent" | "closed" } | { op: "error"; message: string };

interface Open {
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channels: string[], onMessage: () => void): Promise<void>;
  close(): Promise<void>;
}

/** The raw side: node-redis's cluster client (sPublish / sSubscribe), no per-command timeout, RESP3 as streamcast. */
export function rawCluster(seed: string) {
  const cluster = createCluster({ rootNodes: [{ url: `redis://${seed}` }], RESP: 3, commandOptions: { timeout: 0 } });
  cluster.on("error", () => {});
  return cluster;
}

async function open(command: Extract<Command, { op: "open" }>): Promise<Open> {
  if (command.kind === "streamcast") {
    const broadcast = await Broadcast.connect(command.uri, { resyncSettle: 0, subscriberBuffer: 10_000_000 });
    const readings: Promise<void>[] = [];
    return {
      publish: (channel, message) => broadcast.publish(channel, message),
      async subscribe(channels, onMessage) {
        for (const channel of channels) {
          const reader = broadcast.subscribe(channel).getReader();
          readings.push((async () => {
            for (let r = await reader.read(); !r.done; r = await reader.read()) if (r.value.type === "event") onMessage();
          })().catch(() => {}));
        }
        await broadcast.ready();
      },
      async close() {
        await broadcast.disconnect();
        await Promise.all(readings);
      },
    };
  }
  const cluster = rawCluster(command.seed);
  await cluster.connect();
  return {
    publish: (channel, message) => cluster.sPublish(channel, message),
    async subscribe(channels, onMessage) {
      await Promise.all(channels.map((channel) => cluster.sSubscribe(channel, onMessage)));
    },
    async close() {
      cluster.destroy();
    },
  };
}

let side: Open | undefined;
let received = 0;
let expect = Infinity;
const reply = (message: Reply) => process.send!(message);
const onMessage = () => {
  if (++received === expect) reply({ op: "done" });
};

process.on("message", async (command: Command) => {
  try {
    switch (command.op) {
      case "open":
        side = await open(command);
        return reply({ op: "opened" });
      case "subscribe":
        received = 0;
        expect = command.expect;
        await side!.subscribe(command.channels, onMessage);
        return reply({ op: "subscribed" });
      case "publish": {
        const { channels, messages, chunk, payload } = command;
        for (let i = 0; i < messages;) {
          const sent: Promise<unknown>[] = [];
          for (const end = Math.min(messages, i + chunk); i < end; i++) {
            sent.push(side!.publish(channels[i % channels.length], `${i} ${payload.slice(String(i).length + 1)}`));
          }
          await Promise.all(sent);
        }
        return reply({ op: "sent" });
      }
      case "close":
        await side?.close();
        side = undefined;
        expect = Infinity;
        return reply({ op: "closed" });
    }
  } catch (error) {
    reply({ op: "error", message: String((error as Error)?.stack ?? error) });
  }
});
// The parent closing the channel ends the process.
process.on("disconnect", () => process.exit(0));
