/**
 * History mode on the Redis Cluster backbone (`redis+cluster://…?history=N`),
 * on the shared cluster of `scripts/redis-cluster.sh` (127.0.0.1:17000..17005,
 * or `STREAMCAST_REDIS_CLUSTER_PORT`): the gapless column (the whole cluster
 * cut and stalled through a TCP proxy in front of every node, a slow
 * subscriber, retention by count), the replaced-history column (a stream and
 * its epoch deleted on the channel's master), and real faults that hit one
 * shard under publish load: a master SIGKILLed with and without
 * `waitForReplicas`, a manual failover, a slot migrated while publishing and
 * back, a master SIGSTOPped. History mode promises that a lost node costs no
 * resync frame: its channels are followed again on the new master from where
 * they stood. Every test that breaks the cluster leaves it healthy again.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { Broadcast, type BroadcastOptions, type Frame } from "../../mod.ts";
import { slotKey } from "../../backends/redis/keys.ts";
import { epochKey } from "../../backends/redis/stream_replies.ts";
import { startSharedCluster } from "../../scripts/dev/redis_cluster.ts";
import { runGapless } from "../fixtures/gapless.ts";
import { TcpProxy } from "../fixtures/proxy.ts";
import { RedisClusterFixture } from "../fixtures/redis_cluster.ts";
import { runReplaced } from "../fixtures/replaced.ts";
import { eventually, sleep, uniqueChannel, within } from "../fixtures/support.ts";

// Whatever the cluster does, nothing may go unhandled: checked by the last test.
const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));
process.on("uncaughtException", (error) => unhandled.push(error));

const fixture = new RedisClusterFixture();
const direct = (history: string) => `redis+cluster://${fixture.ports.map((port) => `127.0.0.1:${port}`).join(",")}?history=${history}`;

/** A TCP proxy in front of every node, and the map that routes a link's node connections through them. */
const proxies = fixture.ports.map((port) => new TcpProxy({ host: "127.0.0.1", port }));
const nodeAddressMap: Record<string, string> = {};
const throughProxies = (history: string) => `redis+cluster://${proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(",")}?history=${history}`;
const everyProxy = (action: (proxy: TcpProxy) => Promise<void>) => async () => void await Promise.all(proxies.map(action));

/** The gapless column's timing: a probe that finds a stall quickly, fast reconnects; every node connection through its proxy. */
const GAPLESS: BroadcastOptions = {
  reconnect: { minDelay: 10, maxDelay: 100 },
  liveness: { interval: 100, timeout: 1_000 },
  connectTimeout: 2_000,
  backendOptions: { failoverTimeout: 20_000, nodeAddressMap },
};

runGapless({
  name: "redis+cluster://",
  options: GAPLESS,
  start: async () => {
    await startSharedCluster();
    await fixture.waitHealthy();
    const ports = await Promise.all(proxies.map((proxy) => proxy.start()));
    fixture.ports.forEach((port, i) => nodeAddressMap[`127.0.0.1:${port}`] = `127.0.0.1:${ports[i]}`);
  },
  stop: async () => {
    await Promise.all(proxies.map((proxy) => proxy.stop()));
  },
  uri: direct,
  outages: {
    // The seeds too go through the proxies: a link that could still read the topology straight from a node would not go down.
    "the whole cluster cut (every node's proxy: every connection ends, new ones are refused)": {
      uri: () => throughProxies("1000"),
      break: everyProxy((proxy) => proxy.cut()),
      restore: everyProxy((proxy) => proxy.restore()),
    },
    "the whole cluster stalled (every node's proxy half-open, found by the liveness probe)": {
      uri: () => throughProxies("1000"),
      break: everyProxy((proxy) => proxy.stall()),
      restore: everyProxy((proxy) => proxy.restore()),
    },
  },
  retention: {
    slow: { history: "1000" },
    // As on redis://: retention well above the publisher's bursts of 100, and a subscriber buffer that holds all the first reader is sent.
    byCount: { history: "1000", published: 3_000, options: { subscriberBuffer: 5_000 } },
    byAge: {
      cannot: "the cluster's streams are trimmed by age as redis://'s are (the same AgeTrims: whole nodes of 100 entries, at most once a second per channel), checked link by link in tests/backbones/redis_history_test.ts",
    },
  },
});

/** Deletes `keys` (of one slot) on the master that serves them now. */
async function deleteOnMaster(keys: string[]): Promise<void> {
  const master = await fixture.masterOf(await fixture.slotOf(keys[0]));
  await fixture.send(master.port, ["DEL", ...keys]);
}

runReplaced({
  name: "redis+cluster://",
  uri: () => direct("1000"),
  options: { ...GAPLESS, backendOptions: { failoverTimeout: 20_000 } },
  cases: {
    // No `away`: an instance kept away needs a path of its own, but nodeAddressMap is a backend option that every instance of
    // a test shares, the publisher too (which must stay connected). So the log is replaced under a live XREAD BLOCK.
    "the stream and its epoch deleted on the channel's master, under a live link": {
      replace: (channel) => deleteOnMaster([channel, epochKey(channel), slotKey("origins", channel)]),
    },
  },
});

/** Timing for the faults: a probe that finds a stalled master, fast reconnects, a failover well inside the link. */
const FAULT: BroadcastOptions = {
  liveness: { interval: 100, timeout: 1_000 },
  reconnect: { minDelay: 10, maxDelay: 100 },
  connectTimeout: 2_000,
  backendOptions: { failoverTimeout: 20_000 },
};

const PUBLISHERS = ["a", "b"];

/** Three instances reading two channels per shard; instances 0 and 1 publishing to each. */
interface Load {
  /** Channels by the port of the master that served them when the test began. */
  byShard: Map<number, string[]>;
  channels: string[];
  group: Broadcast[];
  /** What each instance read on each channel, in order. */
  got: Map<string, Frame[]>[];
  /** Rounds each publisher published (`a0 … a<n-1>` on every channel). */
  published: Map<string, number>;
}

/** What a test expects of delivery: every message exactly once, or at most once (a failover that may lose acknowledged appends). */
type Delivery = "exactly once" | "at most once";

/**
 * Runs `fault` while two instances publish `a0, a1, …` and `b0, b1, …` to two
 * channels per shard every few milliseconds, three instances reading all of
 * them. Then: no publish failed, no resync frame anywhere, no instance's link
 * reconnected (the fault was mended inside the link), and each stream holds
 * each publisher's messages in order, each once, all of them ("exactly
 * once") or some missing ("at most once"). Resolves with how many messages
 * were missing, over all streams.
 */
async function gaplessUnderLoad(
  name: string,
  fault: (load: Load) => Promise<void>,
  delivery: Delivery = "exactly once",
  options: BroadcastOptions = {},
): Promise<{ missing: number; delivered: number }> {
  const byShard = await fixture.channelsOnEachShard(2, `${uniqueChannel(`h-${name}`)}-`);
  const channels = [...byShard.values()].flat();
  const clientName = `sc-${uniqueChannel(name)}`;
  const merged = { ...FAULT, ...options, backendOptions: { ...FAULT.backendOptions, clientName, ...options.backendOptions } };
  const group = await Promise.all([0, 1, 2].map(() => Broadcast.connect(direct("100000"), merged)));
  const got: Map<string, Frame[]>[] = group.map(() => new Map(channels.map((channel) => [channel, []])));
  const reading: Promise<void>[] = [];
  const publishing: Promise<void>[] = [];
  const failures: unknown[] = [];
  const published = new Map(PUBLISHERS.map((p) => [p, 0]));
  let pumping = true;
  try {
    group.forEach((b, i) => {
      for (const channel of channels) {
        const reader = b.subscribe(channel).getReader();
        reading.push((async () => {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            got[i].get(channel)!.push(value);
          }
        })().catch(() => {}));
      }
    });
    await Promise.all(group.map((b) => b.ready()));
    const reconnects = group.map((b) => b.stats.reconnects);
    const pumps = PUBLISHERS.map((prefix, i) => (async () => {
      while (pumping) {
        const n = published.get(prefix)!;
        for (const channel of channels) {
          const sent = group[i].publish(channel, `${prefix}${n}`);
          sent.catch((error) => failures.push(error));
          publishing.push(sent);
        }
        published.set(prefix, n + 1);
        await sleep(5);
      }
    })());
    await eventually(() => got.every((mine) => channels.every((c) => messages(mine.get(c)!).length >= 20)), 10_000, "the first rounds everywhere");
    await fault({ byShard, channels, group, got, published });
    await sleep(500);
    pumping = false;
    await Promise.all(pumps);
    await within(Promise.allSettled(publishing), 30_000, "every publish to settle");
    assert.deepEqual(failures.map(String).slice(0, 5), [], "no publish failed");
    const last = PUBLISHERS.map((p) => `${p}${published.get(p)! - 1}`);
    await eventually(
      () => got.every((mine) => channels.every((c) => last.every((m) => messages(mine.get(c)!).includes(m)))),
      20_000,
      `the last messages (${last}) everywhere`,
    ).catch(() => {}); // the checks below say what is missing
    await sleep(200); // a late duplicate or resync frame would show here
    let missing = 0;
    let delivered = 0;
    for (const [i, mine] of got.entries()) {
      for (const channel of channels) {
        const frames = mine.get(channel)!;
        const where = `instance ${i}, ${channel}`;
        assert.deepEqual(frames.filter((f) => f.type === "resync").map((f) => f.type === "resync" && f.reason), [], `${where}: no resync frame`);
        for (const prefix of PUBLISHERS) {
          const result = checkOnce(frames, prefix, published.get(prefix)!, delivery, `${where}, publisher ${prefix}`);
          missing += result.missing;
          delivered += result.delivered;
        }
      }
      assert.equal(group[i].stats.reconnects, reconnects[i], `instance ${i}: its link was not reconnected`);
    }
    await Promise.all(group.map((b) => b.disconnect()));
    await assertNoConnectionLeft(clientName);
    return { missing, delivered };
  } finally {
    pumping = false;
    await Promise.all(group.map((b) => b.disconnect()));
    await Promise.allSettled(reading);
    await killConnections(clientName); // whatever a failed check left open, so that the file's process can end
  }
}

/** The connections named `${clientName}:…` on each node, as `port: name×n` ("" when none). */
async function connectionsNamed(clientName: string): Promise<string[]> {
  const left: string[] = [];
  for (const port of fixture.ports) {
    const list = await fixture.send<string>(port, ["CLIENT", "LIST"]).catch(() => "");
    const names = list.split("\n").flatMap((line) => {
      const named = /\bname=(\S*)/.exec(line)?.[1] ?? "";
      return named.startsWith(`${clientName}:`) ? [`${named.slice(clientName.length + 1)} (cmd=${/\bcmd=(\S*)/.exec(line)?.[1]})`] : [];
    });
    if (names.length > 0) left.push(`127.0.0.1:${port}: ${names.join(", ")}`);
  }
  return left;
}

/** Every node closed every connection of the instances named `clientName` once they disconnected. */
async function assertNoConnectionLeft(clientName: string): Promise<void> {
  let left: string[] = [];
  await eventually(async () => (left = await connectionsNamed(clientName)).length === 0, 5_000, "every connection closed").catch(() => {});
  assert.deepEqual(left, [], "no connection of a disconnected instance left open on any node");
}

/** Kills, on every node, the connections named `${clientName}:…`. */
async function killConnections(clientName: string): Promise<void> {
  for (const port of fixture.ports) {
    const list = await fixture.send<string>(port, ["CLIENT", "LIST"]).catch(() => "");
    for (const line of list.split("\n")) {
      const id = /\bid=(\d+)/.exec(line)?.[1];
      if (id && (/\bname=(\S*)/.exec(line)?.[1] ?? "").startsWith(`${clientName}:`)) await fixture.send(port, ["CLIENT", "KILL", "ID", id]).catch(() => {});
    }
  }
}

/**
 * Publisher `prefix`'s messages `0 … count-1` on one stream: each at most
 * once and in order; with "exactly once", every one of them. Returns how many
 * were missing, and how many arrived.
 */
function checkOnce(frames: Frame[], prefix: string, count: number, delivery: Delivery, where: string): { missing: number; delivered: number } {
  const ns = messages(frames).filter((m) => m.startsWith(prefix)).map((m) => Number(m.slice(prefix.length)));
  for (let k = 1; k < ns.length; k++) {
    if (ns[k] <= ns[k - 1]) {
      assert.fail(`${where}: ${prefix}${ns[k]} after ${prefix}${ns[k - 1]} (${ns[k] === ns[k - 1] ? "twice" : "out of order"}): …${ns.slice(Math.max(0, k - 5), k + 5).join(" ")}…`);
    }
  }
  const missing = count - ns.length;
  if (delivery === "exactly once") {
    const seen = new Set(ns);
    const absent = Array.from({ length: count }, (_, n) => n).filter((n) => !seen.has(n));
    assert.deepEqual(absent.slice(0, 20), [], `${where}: ${absent.length} of ${count} missing`);
  }
  return { missing, delivered: ns.length };
}

function messages(frames: Frame[]): string[] {
  return frames.flatMap((frame) => frame.type === "event" ? [frame.message] : []);
}

/** The replica of the master on `port`, by port. */
async function replicaOf(port: number): Promise<number> {
  const nodes = await fixture.nodes();
  const master = nodes.find((node) => node.port === port)!;
  const replica = nodes.find((node) => node.masterId === master.id && !node.failed);
  if (replica === undefined) throw new Error(`127.0.0.1:${port} has no replica`);
  return replica.port;
}

describe("redis+cluster:// history mode through real faults on the shared cluster", () => {
  before(async () => {
    await startSharedCluster();
    await fixture.waitHealthy();
  });
  after(async () => {
    // A node a test left killed or stopped comes back; the cluster is whole again for the next test.
    for (const port of fixture.ports) await fixture.resume(port).catch(() => {});
    await startSharedCluster();
    await fixture.waitHealthy();
    await fixture.close();
  });

  it("a master SIGKILLed under publish load, waitForReplicas 1: every message exactly once, in order, no resync frame, no reconnect", async () => {
    let killed: number | undefined;
    try {
      await gaplessUnderLoad("kill-wait", async (load) => {
        killed = [...load.byShard.keys()][0];
        await fixture.killNode(killed);
        await fixture.waitForPromotion(killed);
        // The new master has no replica until the old one is back as one: the appends' WAIT needs it.
        await fixture.restartNode(killed);
      }, "exactly once", { backendOptions: { waitForReplicas: 1 } });
    } finally {
      if (killed !== undefined) await fixture.restartNode(killed).catch(() => {});
      await fixture.waitHealthy();
    }
  });

  it("a master SIGKILLed under publish load, without waitForReplicas: at most once, in order, no resync frame, no reconnect", async (t) => {
    let killed: number | undefined;
    try {
      const { missing, delivered } = await gaplessUnderLoad("kill-nowait", async (load) => {
        killed = [...load.byShard.keys()][1];
        await fixture.killNode(killed);
        await fixture.waitForPromotion(killed);
        await fixture.restartNode(killed);
      }, "at most once");
      t.diagnostic(`without waitForReplicas: ${missing} message(s) lost over every stream, ${delivered} delivered`);
    } finally {
      if (killed !== undefined) await fixture.restartNode(killed).catch(() => {});
      await fixture.waitHealthy();
    }
  });

  it("CLUSTER FAILOVER on a replica under publish load: exactly once, in order, no resync frame, no reconnect", async () => {
    try {
      await gaplessUnderLoad("failover", async (load) => {
        const master = [...load.byShard.keys()][2];
        await fixture.failover(await replicaOf(master));
      });
    } finally {
      await fixture.waitHealthy();
    }
  });

  it("a slot migrated while publishing (ASK/TRYAGAIN while open, MOVED after), then back: exactly once, in order, no resync frame, no connection left", async (t) => {
    let moved: { slot: number; from: number; to: number } | undefined;
    let back = false;
    try {
      await gaplessUnderLoad("migrate", async (load) => {
        const [from, to] = [...load.byShard.keys()];
        const channel = load.byShard.get(from)![0];
        const slot = await fixture.slotOf(channel);
        moved = { slot, from, to };
        const count = () => messages(load.got[0].get(channel)!).length;
        // Let publishes land while the slot is open, before and after its keys moved; say whether they were read meanwhile.
        const pause = async (phase: string) => {
          const before = count();
          const started = Date.now();
          await sleep(300);
          const read = await eventually(() => count() > before, 3_000, "publishes read across the open slot").then(() => true, () => false);
          t.diagnostic(`slot ${slot} ${phase}: ${read ? `read on within ${Date.now() - started} ms` : `nothing read for ${Date.now() - started} ms`}`);
        };
        await fixture.migrateSlot(slot, from, to, { pauseBetween: pause });
        assert.equal((await fixture.masterOf(slot)).port, to);
        const before = count();
        await eventually(() => count() > before + 20, 10_000, `reading ${channel} from its new master`);
        await fixture.migrateSlot(slot, to, from, { pauseBetween: pause });
        back = true;
      });
    } finally {
      if (moved !== undefined && !back) {
        const owner = (await fixture.masterOf(moved.slot)).port;
        if (owner !== moved.from) await fixture.migrateSlot(moved.slot, owner, moved.from).catch(() => {});
      }
      await fixture.waitHealthy();
    }
  });

  it("a master stalled with SIGSTOP, resumed after its replica's promotion: exactly once, in order, no resync frame, no reconnect", async () => {
    let stalled: number | undefined;
    try {
      await gaplessUnderLoad("stall", async (load) => {
        stalled = [...load.byShard.keys()][0];
        await fixture.stall(stalled);
        await fixture.waitForPromotion(stalled);
        await fixture.resume(stalled);
      });
    } finally {
      if (stalled !== undefined) await fixture.resume(stalled).catch(() => {});
      await fixture.waitHealthy();
    }
  });
});

describe("redis+cluster:// history mode leaves nothing unhandled", () => {
  it("no unhandled rejection or uncaught exception in any test above", async () => {
    await sleep(100);
    assert.deepEqual(unhandled, []);
  });
});
