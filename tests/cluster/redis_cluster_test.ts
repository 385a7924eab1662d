/**
 * The Redis Cluster backbone (`redis+cluster://`, sharded pub/sub) on the
 * shared cluster of `scripts/redis-cluster.sh` (127.0.0.1:17000..17005):
 * the conformance suite through a TCP proxy in front of every node (node
 * addresses mapped to the proxies by `nodeAddressMap`), real faults that hit
 * one shard (a master SIGKILLed, a manual failover, a slot migrated and back,
 * a master SIGSTOPped) or the whole cluster (every proxy cut), and bad input.
 * Every test that breaks the cluster leaves it healthy again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import process from "node:process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { AuthenticationError, Broadcast, type BroadcastOptions, ConfigError, type Frame } from "../../mod.ts";
import { clusterConfig } from "../../backends/redis/cluster/config.ts";
import { Shard } from "../../backends/redis/cluster/shard.ts";
import { systemClock } from "../../lib/util/clock.ts";
import { SHARED_CLUSTER_PORT, startSharedCluster } from "../../scripts/dev/redis_cluster.ts";
import { runConformance } from "../fixtures/conformance.ts";
import { TcpProxy } from "../fixtures/proxy.ts";
import { RedisServer } from "../fixtures/redis.ts";
import { RedisClusterFixture } from "../fixtures/redis_cluster.ts";
import { eventually, sleep, uniqueChannel, within } from "../fixtures/support.ts";

// Whatever the cluster does, nothing may go unhandled: checked by the last test.
const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));
process.on("uncaughtException", (error) => unhandled.push(error));

const fixture = new RedisClusterFixture();
// The admin connections would keep the process alive.
after(() => fixture.close());

/** A TCP proxy in front of every node of the shared cluster, and the options that route the link through them. */
interface Proxied {
  proxies: TcpProxy[];
  /** The URI naming the first `seeds` proxies (all by default). */
  uri(seeds?: number): string;
  nodeAddressMap: Record<string, string>;
  stop(): Promise<void>;
}

async function proxied(): Promise<Proxied> {
  const proxies = fixture.ports.map((port) => new TcpProxy({ host: "127.0.0.1", port }));
  const ports = await Promise.all(proxies.map((proxy) => proxy.start()));
  const nodeAddressMap = Object.fromEntries(fixture.ports.map((port, i) => [`127.0.0.1:${port}`, `127.0.0.1:${ports[i]}`]));
  return {
    proxies,
    uri: (seeds = ports.length) => `redis+cluster://${ports.slice(0, seeds).map((port) => `127.0.0.1:${port}`).join(",")}`,
    nodeAddressMap,
    stop: async () => void await Promise.all(proxies.map((proxy) => proxy.stop())),
  };
}

/** Sharded subscribers of `channel` on the master that serves it. */
async function shardSubscribers(channel: string): Promise<number> {
  const master = await fixture.masterOf(await fixture.slotOf(channel));
  const reply = await fixture.send<[string, number]>(master.port, ["PUBSUB", "SHARDNUMSUB", channel]);
  return Number(reply[1]);
}

runConformance("redis+cluster://", async () => {
  await startSharedCluster();
  await fixture.waitHealthy();
  const path = await proxied();
  return {
    // Two seeds: a link that lost every node finds it out when its probe asks the seeds for the
    // topology, one after the other, ~40 ms per refused seed (node-redis makes a client for each):
    // with all six, a whole-cluster cut took 350-450 ms to be noticed, more than the 400 ms
    // settle of "drops in quick succession …", so the second drop was a second gap (two resync
    // frames, failing 3 runs of 3). The fault test of a whole-cluster cut keeps all six.
    uri: path.uri(2),
    // A cluster link probes each shard within half the liveness timeout: with FAST's 200 ms that
    // is 100 ms, and on a busy 2-core machine a PING or a connect through a proxy took longer, so a
    // healthy shard was lost and mended (a resync frame and a gap: "a full replay buffer …" got
    // only its resync frame, "streams stay open …" a resync 0 ms after up). 1 s, as the fault
    // tests use.
    options: { liveness: { interval: 100, timeout: 1_000 }, backendOptions: { nodeAddressMap: path.nodeAddressMap } },
    cut: async () => void await Promise.all(path.proxies.map((proxy) => proxy.cut())),
    restore: async () => void await Promise.all(path.proxies.map((proxy) => proxy.restore())),
    stall: async () => void await Promise.all(path.proxies.map((proxy) => proxy.stall())),
    subscribers: shardSubscribers,
    outages: 20,
    close: () => path.stop(),
  };
});

/** Timing for the faults: a probe that finds a stalled master, fast reconnects, a failover well inside the link. */
const FAULT: BroadcastOptions = {
  liveness: { interval: 100, timeout: 1_000 },
  reconnect: { minDelay: 10, maxDelay: 100 },
  resyncSettle: 50,
  connectTimeout: 2_000,
  backendOptions: { failoverTimeout: 20_000 },
};

/** What one instance got on one channel, in order, read as it comes. */
type Got = Map<string, Frame[]>;

/** Three instances subscribed to channels on every shard; two of them publishing to every channel. */
interface Load {
  /** Channels by the port of the master that served them when the test began. */
  byShard: Map<number, string[]>;
  channels: string[];
  group: Broadcast[];
  got: Got[];
  reconnects: number[];
  /** How many rounds each publisher published: message `${prefix}${n}` for n below it. */
  published: Map<string, number>;
}

const PUBLISHERS = ["a", "b"];

/**
 * Runs `fault` while two instances publish `a0, a1, …` and `b0, b1, …` to
 * two channels per shard every few milliseconds, three instances reading
 * them all. `affected` (called once the fault is over) names the channels
 * whose shard the fault hit, each with how many gaps it had: each of those
 * gets exactly that many resync frames, loses nothing but within a gap that
 * a resync frame ends, and keeps each publisher's order; every other channel
 * gets every message and no resync frame. With `wholeLink`, every instance
 * reconnected (the core's reconnect); without, none did.
 */
async function underLoad(
  name: string,
  fault: (load: Load) => Promise<{ affected: Map<string, number>; wholeLink?: boolean }>,
  options: BroadcastOptions = {},
  uri = `redis+cluster://${fixture.ports.map((port) => `127.0.0.1:${port}`).join(",")}`,
): Promise<void> {
  const byShard = await fixture.channelsOnEachShard(2, `${uniqueChannel(name)}-`);
  const channels = [...byShard.values()].flat();
  const merged = { ...FAULT, ...options, backendOptions: { ...FAULT.backendOptions, ...options.backendOptions } };
  const group = await Promise.all([0, 1, 2].map(() => Broadcast.connect(uri, merged)));
  const got: Got[] = group.map(() => new Map(channels.map((channel) => [channel, []])));
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
    const load: Load = { byShard, channels, group, got, reconnects, published };
    // Every instance gets the first rounds on every channel before the fault.
    await eventually(() => got.every((mine) => channels.every((c) => messages(mine.get(c)!).length >= 20)), 10_000, "the first rounds everywhere");
    const { affected, wholeLink = false } = await fault(load);
    // Every instance has its resync frames on every affected channel (one per gap), then publishes go on a while.
    await eventually(
      () => got.every((mine) => [...affected].every(([channel, gaps]) => resyncCount(mine.get(channel)!) >= gaps)),
      30_000,
      `a resync frame on every affected channel (${describeResyncs(got, affected)})`,
    );
    await sleep(300);
    pumping = false;
    await Promise.all(pumps);
    await within(Promise.allSettled(publishing), 30_000, "every publish to settle");
    assert.deepEqual(failures, [], "no publish failed");
    const last = PUBLISHERS.map((p) => `${p}${published.get(p)! - 1}`);
    const lacking = () => got.flatMap((mine, i) => channels.filter((c) => !last.every((m) => messages(mine.get(c)!).includes(m))).map((c) => [i, c] as const));
    await eventually(() => lacking().length === 0, 15_000, `the last messages (${last}) everywhere`).catch(async (error) => {
      // Who lacks them, what they got, and where each node holds subscriptions of those channels.
      const details = await Promise.all(lacking().map(async ([i, c]) => {
        const held = await Promise.all(fixture.ports.map((port) =>
          fixture.send<[string, number]>(port, ["PUBSUB", "SHARDNUMSUB", c], 1_000).then((r) => `${port}:${r[1]}`, () => `${port}:?`)
        ));
        return `instance ${i} ${c} (slot owner ${await masterPort(c).catch(() => "?")}; SHARDNUMSUB ${held.join(" ")}): …${show(got[i].get(c)!).slice(-300)}`;
      }));
      throw new Error(`${error.message}:\n${details.join("\n")}`);
    });
    await sleep(100); // a late duplicate or resync frame would show here
    for (const [i, mine] of got.entries()) {
      for (const channel of channels) {
        const frames = mine.get(channel)!;
        const gaps = affected.get(channel) ?? 0;
        const where = `instance ${i}, ${channel} (${gaps ? `affected, ${gaps} gap(s)` : "not affected"})`;
        assert.equal(resyncCount(frames), gaps, `${where}: resync frames: ${show(frames)}`);
        for (const frame of frames) if (frame.type === "resync") assert.equal(frame.reason, "reconnect", where);
        for (const prefix of PUBLISHERS) checkDelivery(frames, prefix, published.get(prefix)!, `${where}, publisher ${prefix}`);
      }
      if (wholeLink) assert.equal(group[i].stats.reconnects > reconnects[i], true, `instance ${i}: the core reconnected`);
      else assert.equal(group[i].stats.reconnects, reconnects[i], `instance ${i}: its link was not reconnected`);
    }
  } finally {
    pumping = false;
    await Promise.all(group.map((b) => b.disconnect()));
    await Promise.allSettled(reading);
  }
}

/** The event messages of `frames`. */
function messages(frames: Frame[]): string[] {
  return frames.flatMap((frame) => frame.type === "event" ? [frame.message] : []);
}

function resyncCount(frames: Frame[]): number {
  return frames.filter((frame) => frame.type === "resync").length;
}

function show(frames: Frame[]): string {
  const parts: string[] = [];
  for (const frame of frames) {
    if (frame.type === "resync") parts.push(`<resync:${frame.reason}>`);
    else if (parts.length < 400) parts.push(frame.message);
  }
  return parts.join(" ");
}

function describeResyncs(got: Got[], affected: Map<string, number>): string {
  return got.map((mine, i) => `instance ${i}: ${[...affected.keys()].map((c) => `${c}=${resyncCount(mine.get(c)!)}`).join(" ")}`).join("; ");
}

/**
 * Publisher `prefix`'s messages `0 … count-1` on one stream: in order (a
 * repeat of one already seen is at-least-once and ignored), the first and
 * the last there, and every one missing inside a gap that a resync frame
 * after it ends: a hole between `x` and `y` needs a resync frame after `x`.
 */
function checkDelivery(frames: Frame[], prefix: string, count: number, where: string): void {
  const seen = new Set<number>();
  let previous = -1;
  let previousAt = -1;
  frames.forEach((frame, at) => {
    if (frame.type !== "event" || !frame.message.startsWith(prefix)) return;
    const n = Number(frame.message.slice(prefix.length));
    if (seen.has(n)) return;
    seen.add(n);
    assert.equal(n > previous, true, `${where}: ${frame.message} after ${prefix}${previous}: out of order: ${show(frames)}`);
    if (n > previous + 1) {
      const resynced = frames.slice(previousAt + 1).some((later) => later.type === "resync");
      assert.ok(resynced, `${where}: ${prefix}${previous + 1}..${prefix}${n - 1} lost with no resync frame after them: ${show(frames)}`);
    }
    previous = n;
    previousAt = at;
  });
  assert.ok(seen.has(0), `${where}: ${prefix}0 missing`);
  assert.equal(previous, count - 1, `${where}: the last message`);
}

/** The master that serves `channel` now, by port. */
async function masterPort(channel: string): Promise<number> {
  return (await fixture.masterOf(await fixture.slotOf(channel))).port;
}

/** The replica of the master on `port`, by port. */
async function replicaOf(port: number): Promise<number> {
  const nodes = await fixture.nodes();
  const master = nodes.find((node) => node.port === port)!;
  const replica = nodes.find((node) => node.masterId === master.id && !node.failed);
  if (replica === undefined) throw new Error(`127.0.0.1:${port} has no replica`);
  return replica.port;
}

/** Every channel of the shard on `port` had one gap. */
function oneGapEach(load: Load, port: number): Map<string, number> {
  return new Map(load.byShard.get(port)!.map((channel) => [channel, 1]));
}

describe("redis+cluster:// through real faults on the shared cluster", () => {
  before(async () => {
    await startSharedCluster();
    await fixture.waitHealthy();
  });
  after(async () => {
    // A node a test left killed or stopped comes back; the cluster is whole again for the next test.
    for (const port of fixture.ports) await fixture.resume(port).catch(() => {});
    await startSharedCluster();
    await fixture.waitHealthy();
  });

  it("a master SIGKILLed under publish load: its replica is promoted, its channels resubscribed there, one resync frame each", async () => {
    let killed: number | undefined;
    try {
      await underLoad("kill", async (load) => {
        killed = [...load.byShard.keys()][0];
        await fixture.killNode(killed);
        await fixture.waitForPromotion(killed);
        return { affected: oneGapEach(load, killed) };
      });
    } finally {
      if (killed !== undefined) await fixture.restartNode(killed);
      await fixture.waitHealthy();
    }
  });

  it("CLUSTER FAILOVER on a replica: the demoted master ends its subscriptions, they move to the new master", async () => {
    try {
      await underLoad("failover", async (load) => {
        const master = [...load.byShard.keys()][1];
        await fixture.failover(await replicaOf(master));
        return { affected: oneGapEach(load, master) };
      });
    } finally {
      await fixture.waitHealthy();
    }
  });

  it("a slot migrated while publishing, then migrated back: only that slot's channel is resubscribed, once per move", async () => {
    let moved: { slot: number; from: number; to: number } | undefined;
    let back = false;
    try {
      await underLoad("migrate", async (load) => {
        const [from, to] = [...load.byShard.keys()];
        const channel = load.byShard.get(from)![0];
        const slot = await fixture.slotOf(channel);
        moved = { slot, from, to };
        await fixture.migrateSlot(slot, from, to, { pauseBetween: () => sleep(100) });
        await eventually(() => load.got.every((mine) => resyncCount(mine.get(channel)!) >= 1), 20_000, `the resync after moving slot ${slot}`);
        assert.equal(await masterPort(channel), to);
        await sleep(200);
        await fixture.migrateSlot(slot, to, from, { pauseBetween: () => sleep(100) });
        back = true;
        return { affected: new Map([[channel, 2]]) };
      });
    } finally {
      if (moved !== undefined && !back) {
        // Put the slot back where it was, if the test stopped between the two moves.
        const owner = (await fixture.masterOf(moved.slot)).port;
        if (owner !== moved.from) await fixture.migrateSlot(moved.slot, owner, moved.from).catch(() => {});
      }
      await fixture.waitHealthy();
    }
  });

  it("a master stalled with SIGSTOP: the shard's probe finds it, its channels move to the promoted replica", async () => {
    let stalled: number | undefined;
    try {
      await underLoad("stall", async (load) => {
        stalled = [...load.byShard.keys()][2];
        await fixture.stall(stalled);
        await fixture.waitForPromotion(stalled);
        await fixture.resume(stalled);
        return { affected: oneGapEach(load, stalled) };
      });
    } finally {
      if (stalled !== undefined) await fixture.resume(stalled).catch(() => {});
      await fixture.waitHealthy();
    }
  });

  it("the whole cluster cut (every node's proxy): every channel gets one resync frame, through the core's reconnect", async () => {
    const path = await proxied();
    try {
      await underLoad("cut", async (load) => {
        await Promise.all(path.proxies.map((proxy) => proxy.cut()));
        await eventually(() => load.group.every((b) => b.state === "down"), 10_000, "every instance down");
        await sleep(200); // publishes go to the replay buffer meanwhile
        await Promise.all(path.proxies.map((proxy) => proxy.restore()));
        await eventually(() => load.group.every((b) => b.state === "up"), 15_000, "every instance up again");
        return { affected: new Map(load.channels.map((channel) => [channel, 1])), wholeLink: true };
      }, { backendOptions: { nodeAddressMap: path.nodeAddressMap } }, path.uri());
    } finally {
      await path.stop();
    }
  });
});

describe("redis+cluster:// refuses bad input", () => {
  const uris: [string, RegExp][] = [
    ["redis+cluster://:s3cret@127.0.0.1:17000,127.0.0.1:notaport", /node/],
    ["redis+cluster://:s3cret@127.0.0.1:17000,127.0.0.1:99999", /node/],
    ["redis+cluster://:s3cret@127.0.0.1:17000/3", /database/],
    ["redis+cluster://:s3cret@127.0.0.1:17000,127.0.0.1:17001/cache", /database/],
    ["redis+cluster://:s3cret@127.0.0.1:17000?db=2", /db/],
    ["redis+cluster://:s3cret@127.0.0.1:17000?brokers=127.0.0.1:17001", /brokers/],
  ];
  for (const [uri, naming] of uris) {
    it(`${uri.replace("s3cret", "***")}: ConfigError naming what is wrong, password masked`, async () => {
      const error = await Broadcast.connect(uri, FAULT).then(() => assert.fail("connected"), (error: unknown) => error);
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, naming);
      assert.doesNotMatch(`${error.message} ${(error.cause as Error)?.message ?? ""}`, /s3cret/);
    });
  }

  it("an unknown or bad backend option is a ConfigError naming it", async () => {
    const cases: [BroadcastOptions["backendOptions"], RegExp][] = [
      [{ failoverTimeout: 0 }, /backendOptions\.failoverTimeout/],
      [{ nodeAddressMap: { "127.0.0.1:17000": "nowhere" } }, /backendOptions\.nodeAddressMap/],
      [{ shards: 3 }, /backendOptions\.shards|shards/],
    ];
    for (const [backendOptions, naming] of cases) {
      const error = await Broadcast.connect(`redis+cluster://127.0.0.1:${SHARED_CLUSTER_PORT}`, { ...FAULT, backendOptions })
        .then(() => assert.fail("connected"), (error: unknown) => error);
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, naming);
    }
  });

  it("a redis+cluster:// URI to a Redis that is not a cluster (127.0.0.1:6379) fails at once with a ConfigError saying so, password masked", async () => {
    const b = new Broadcast("redis+cluster://:s3cret-pass@127.0.0.1:6379", { ...FAULT, reconnect: { maxRetries: 3, minDelay: 10, maxDelay: 20 } });
    let attempts = 0;
    b.addEventListener("error", () => attempts++);
    const error = await b.connect().then(() => assert.fail("connected"), (error: unknown) => error);
    await b.disconnect();
    const text = `${(error as Error).message} ${((error as Error).cause as Error)?.message ?? ""} ${b.uri}`;
    assert.doesNotMatch(text, /s3cret-pass/, "the password masked");
    assert.match(text, /cluster support disabled/);
    assert.match(text, /use redis:\/\//);
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
    assert.equal(attempts, 1, "no retry");
  });

  describe("a cluster node that wants a password", () => {
    let server: RedisServer;
    let dir: string;
    before(async () => {
      dir = await mkdtemp(`${tmpdir()}/streamcast-cluster-auth-`);
      // One node of a cluster of its own (no slots assigned): enough to be refused at the door.
      server = await RedisServer.start(["--cluster-enabled", "yes", "--cluster-config-file", `${dir}/nodes.conf`, "--dir", dir, "--requirepass", "right-s3cret"]);
    });
    after(async () => {
      await server?.kill();
      await rm(dir, { recursive: true, force: true });
    });

    it("a wrong password fails connect at once with AuthenticationError, never printing the password", async () => {
      for (const credentials of [":wr0ng-pass@", "default:wr0ng-pass@", ""]) {
        const b = new Broadcast(`redis+cluster://${credentials}127.0.0.1:${server.port},127.0.0.1:${SHARED_CLUSTER_PORT}`, FAULT);
        let attempts = 0;
        b.addEventListener("error", () => attempts++);
        const error = await b.connect().then(() => assert.fail("connected"), (error: unknown) => error);
        await b.disconnect();
        assert.ok(error instanceof AuthenticationError, `${credentials || "no password"}: ${String(error)}`);
        assert.equal(attempts, 1, "no retry");
        assert.doesNotMatch(`${error.message} ${(error.cause as Error)?.message ?? ""} ${b.uri}`, /wr0ng-pass/);
      }
    });
  });
});

describe("redis+cluster:// lets every connection go", () => {
  /** The open TCP sockets of this process to 127.0.0.1:`port`. */
  function sockets(port: number): net.Socket[] {
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    return handles.filter((handle): handle is net.Socket => handle instanceof net.Socket && handle.remotePort === port && !handle.destroyed);
  }

  function socketsTo(port: number): number {
    return sockets(port).length;
  }

  it("a shard whose connect times out while the TCP connect is under way leaves no socket open", async () => {
    // The connect's timer fires before the loop sees the TCP connect complete (the loop was busy):
    // node-redis 6.3's destroy() cannot reach a socket it has not been handed yet, which then
    // connects and stays open; a Broadcast let go by disconnect() kept the process alive.
    await startSharedCluster();
    const config = await clusterConfig(new URL(`redis+cluster://127.0.0.1:${SHARED_CLUSTER_PORT}`), {});
    const events = { message: () => {}, moved: () => {}, lost: () => {} };
    const before = socketsTo(SHARED_CLUSTER_PORT);
    for (let i = 0; i < 3; i++) {
      const opening = Shard.open(`127.0.0.1:${SHARED_CLUSTER_PORT}`, config.redis, events, systemClock, 20);
      opening.catch(() => {});
      const busyUntil = Date.now() + 100;
      while (Date.now() < busyUntil) { /* the loop busy, as under load */ }
      await assert.rejects(opening, /within 20 ms/);
    }
    await eventually(() => socketsTo(SHARED_CLUSTER_PORT) === before, 3_000, `the sockets to ${SHARED_CLUSTER_PORT} to close (${socketsTo(SHARED_CLUSTER_PORT) - before} left)`)
      .catch(async (error) => {
        await sleep(500);
        throw new Error(`${error.message}; after 3.5 s still ${socketsTo(SHARED_CLUSTER_PORT) - before} open`);
      });
  });
});

describe("redis+cluster:// leaves nothing unhandled", () => {
  it("no unhandled rejection or uncaught exception in any test above", async () => {
    await sleep(100);
    assert.deepEqual(unhandled, []);
  });
});
