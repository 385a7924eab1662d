/**
 * What is buffered while the backbone is away and replayed once it is back,
 * against the subscriptions of the same instance: a publish made just after a
 * `subscribe` reaches that subscriber, even when the replay would go out while
 * the subscription is still in flight on the new link. On `memory://` and on
 * a real redis-server (its connections killed server-side), time injected so
 * that every step comes in order.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Broadcast, type BroadcastOptions, type Frame } from "../../mod.ts";
import memory, { memoryHub } from "../../backends/memory/mod.ts";
import redis from "../../backends/redis/mod.ts";
import type { Backend, Link } from "../../lib/contract/link.ts";
import { ManualClock } from "../fixtures/clock.ts";
import { admin, type Admin } from "../fixtures/redis.ts";
import { reachState, readUntil, uniqueChannel } from "../fixtures/support.ts";

const REDIS = { host: "127.0.0.1", port: 6379 };

/** A backend whose links subscribe the channels in `gated` only once `open()` is called. */
function gated(backend: Backend) {
  const gated = new Set<string>();
  let opened = Promise.resolve();
  let open = () => {};
  const wrap: Backend = (url, context) => {
    const connector = backend(url, context);
    return {
      ...connector,
      close: connector.close?.bind(connector),
      open: async (signal): Promise<Link> => {
        const link = await connector.open(signal);
        const subscribe = link.subscribe.bind(link);
        link.subscribe = async (channel, start) => {
          if (gated.has(channel)) await opened;
          return subscribe(channel, start);
        };
        return link;
      },
    };
  };
  return {
    backend: wrap,
    /** From now on, `channel` is subscribed only once `open()` is called. */
    close(channel: string): void {
      gated.add(channel);
      opened = new Promise((resolve) => open = resolve);
    },
    open: () => open(),
  };
}

const messages = (frames: Frame[]) => frames.map((f) => f.type === "event" ? f.message : `resync:${f.reason}`);

/** A backbone to cut under one Broadcast, and what it says of a channel's subscribers. */
interface Backbone {
  uri: string;
  backend: Backend;
  options?: BroadcastOptions;
  /** Loses the Broadcast's link; the next attempt after it succeeds. */
  cut(): Promise<void>;
  subscribers(channel: string): Promise<number>;
}

/**
 * Cuts the link, and while the reconnected Broadcast settles subscribes a
 * channel (held in flight) and publishes on it; the replay comes due with the
 * subscription still in flight. Resolves with what the subscriber received,
 * up to a publish made once the subscription is acknowledged.
 */
async function replayedWhileSubscribing(backbone: Backbone, extra: BroadcastOptions): Promise<string[]> {
  const clock = new ManualClock();
  const gate = gated(backbone.backend);
  const channel = uniqueChannel("late");
  const broadcast = await Broadcast.connect(backbone.uri, {
    clock,
    backend: gate.backend,
    reconnect: { minDelay: 10, maxDelay: 10 },
    resyncSettle: 300,
    liveness: { interval: 0, timeout: 100 },
    ...backbone.options,
    ...extra,
  });
  try {
    await backbone.cut();
    await reachState(broadcast, "down");
    await clock.advance(10);
    await reachState(broadcast, "up"); // settling: what is published now is kept for the replay
    gate.close(channel);
    const reader = broadcast.subscribe(channel).getReader();
    await broadcast.publish(channel, "mine"); // resolves once kept
    await clock.advance(300); // the replay is due
    assert.equal(await backbone.subscribers(channel), 0, "the subscription is still in flight");
    gate.open();
    await broadcast.ready();
    await clock.advance(0);
    await broadcast.publish(channel, "after");
    return messages(await readUntil(reader, (got) => messages(got).includes("after"), 5_000, `"after" on ${channel}`));
  } finally {
    await broadcast.disconnect();
  }
}

/** What the subscriber must get: its instance's publish (the resync frame, where there is one, may come before or after it). */
const CASES: [string, BroadcastOptions, string[]][] = [
  ["resync frames on", {}, ["mine", "after", "resync:reconnect"]],
  ["resync frames off", { resyncOnReconnect: false }, ["mine", "after"]],
];
const sorted = (got: string[]) => [...got.filter((m) => !m.startsWith("resync:")), ...got.filter((m) => m.startsWith("resync:"))];

describe("a publish replayed after a reconnect, on memory://", () => {
  const hub = (query: string): Backbone => {
    const name = uniqueChannel("replay").replace(/[^a-z0-9]/gi, "");
    return {
      uri: `memory://${name}${query}`,
      backend: memory,
      cut: async () => {
        memoryHub(name).cut();
        memoryHub(name).restore(); // the next attempt, after the backoff, succeeds
      },
      subscribers: async (channel) => memoryHub(name).subscribers(channel),
    };
  };
  for (const [what, extra, expected] of CASES) {
    it(`pub/sub, ${what}: reaches a subscription made just before it and still in flight when the replay is due`, async () => {
      assert.deepEqual(sorted(await replayedWhileSubscribing(hub(""), extra)), expected);
    });
  }
  it("history mode: reaches a subscription made just before it and still in flight when the replay is due", async () => {
    assert.deepEqual(await replayedWhileSubscribing(hub("?history=100"), {}), ["mine", "after"]);
  });
});

describe("a publish replayed after a reconnect, on redis:// (pub/sub)", () => {
  let direct: Admin;
  before(async () => direct = await admin(REDIS.port));
  after(async () => await direct?.close());
  const server = (): Backbone => {
    const clientName = uniqueChannel("replay");
    return {
      uri: `redis://${REDIS.host}:${REDIS.port}`,
      backend: redis,
      options: { backendOptions: { clientName } },
      // The server drops both of the Broadcast's connections; it stays up for the next attempt.
      cut: async () => void await direct.kill(clientName),
      subscribers: (channel) => direct.numsub(channel),
    };
  };
  for (const [what, extra, expected] of CASES) {
    it(`${what}: reaches a subscription made just before it and still in flight when the replay is due`, async () => {
      assert.deepEqual(sorted(await replayedWhileSubscribing(server(), extra)), expected);
    });
  }
});
