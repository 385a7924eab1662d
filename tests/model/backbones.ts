/**
 * The backbones the model-based test runs on, each opened once for many runs,
 * with the means to break the path to it: the memory hub's control surface;
 * for the network backbones a TCP proxy of the test's own (cut, stall,
 * restore) and server-side kills of the test's own connections only.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type Backend, BackboneUnavailableError, type BroadcastOptions, type Link } from "../../mod.ts";
import { memoryHub } from "../../backends/memory/mod.ts";
import { FAST } from "../fixtures/conformance.ts";
import { TcpProxy } from "../fixtures/proxy.ts";
import { sleep } from "../fixtures/support.ts";
import type { CommandSet } from "./commands.ts";
import type { Limits, RunBackbone } from "./system.ts";

/** A backbone the model test runs on, opened once for many runs; `waits` and `can` say which commands it gets. */
export interface ModelBackbone extends CommandSet {
  name: string;
  /** History mode: stronger invariants (see `RunBackbone.history`). */
  history?: boolean;
  limits: Limits;
  /** A fresh place for one run (its own names); `release` mends whatever the run broke. */
  run(): Promise<RunBackbone & { release(): Promise<void> }>;
  close(): Promise<void>;
}

export type BackboneKind = "memory" | "redis" | "postgres" | "kafka" | "redis-cluster";
export const KINDS: BackboneKind[] = ["memory", "redis", "postgres", "kafka", "redis-cluster"];

/** How a test name or report says `kind`: `redis://`, `redis+cluster://`. */
export function schemeOf(kind: BackboneKind): string {
  return kind === "redis-cluster" ? "redis+cluster://" : `${kind}://`;
}

/** Opens the backbone of `kind`; with `history`, its runs are in history mode. */
export async function openBackbone(kind: BackboneKind, history = false): Promise<ModelBackbone> {
  const backbones = { memory: memoryBackbone, redis: redisBackbone, postgres: postgresBackbone, kafka: kafkaBackbone, "redis-cluster": redisClusterBackbone };
  const backbone = await backbones[kind](history);
  return history ? inHistoryMode(backbone) : backbone;
}

/** History mode: every run's URI asks for history (more than a run publishes), and the stronger invariants hold. */
function inHistoryMode(backbone: ModelBackbone): ModelBackbone {
  return {
    ...backbone,
    history: true,
    run: async () => {
      const run = await backbone.run();
      const uri = new URL(run.uri);
      uri.searchParams.set("history", "100000");
      return { ...run, uri: uri.href, history: true };
    },
  };
}

const NETWORK: BroadcastOptions = { ...FAST, resyncSettle: 100 };
const tag = () => `${process.pid}-${Math.random().toString(36).slice(2, 7)}`;

/**
 * The memory hub, through a backend (the public `backend` option) whose open
 * links can be made slow, like a congested connection: every later answer
 * (subscribe, unsubscribe, ping) comes 500 ms late, so the liveness probe
 * gives up on the link, and an answer may arrive after the next link is up.
 * A kill closes one instance's links, as a server-side kill of its
 * connections, and refuses its new ones for a while: what others publish
 * meanwhile is what it must not miss. History replaced: the hub restarts
 * without persistence (every channel's log, every link).
 */
function memoryBackbone(): Promise<ModelBackbone> {
  const name = `model-${tag()}`;
  const hub = memoryHub(name);
  let open: { slow: boolean }[] = [];
  let links: Link[][] = [];
  let refusedUntil: number[] = [];
  const backend = (index: number): Backend => (_, { history, clock }) => {
    if (history) hub.keep(history);
    return {
      open: async () => {
        if (Date.now() < (refusedUntil[index] ?? 0)) throw new BackboneUnavailableError(`Connection refused: b${index} was killed`);
        const pace = { slow: false };
        open.push(pace);
        const link = await hub.connect(history && clock);
        (links[index] ??= []).push(link);
        return slowAnswers(link, pace);
      },
    };
  };
  return Promise.resolve({
    name: "memory://",
    limits: { bound: 3_000, latency: 1_000, detection: 1_500 },
    waits: [0, 10, 50, 150, 400],
    can: { kill: true, killSubscribers: false, restart: false, slow: true, replaceHistory: true },
    run: async () => {
      open = [];
      links = [];
      refusedUntil = [];
      return {
        uri: `memory://${name}`,
        options: (i) => ({ ...FAST, backend: backend(i) }),
        kill: async (i) => {
          refusedUntil[i] = Date.now() + 150;
          await Promise.all((links[i] ?? []).splice(0).map((link) => link.close()));
        },
        cut: async () => hub.cut(),
        stall: async () => hub.stall(),
        restore: async () => hub.restore(),
        slow: async () => open.forEach((pace) => pace.slow = true),
        replaceHistory: async () => hub.restart(),
        replacesEveryChannel: true,
        release: async () => hub.restore(),
      };
    },
    close: async () => hub.restore(),
  });
}

/** `link`, its answers 500 ms late once `pace` is slow; a request takes effect at once, in order. */
function slowAnswers(link: Link, pace: { slow: boolean }): Link {
  const late = <T>(request: () => Promise<T>) => {
    const answer = request();
    if (!pace.slow) return answer;
    answer.catch(() => {}); // handled once the answer is due
    return sleep(500).then(() => answer);
  };
  return {
    readable: link.readable,
    writable: link.writable,
    subscribe: (channel, start) => late(() => link.subscribe(channel, start)),
    unsubscribe: (channel) => late(() => link.unsubscribe(channel)),
    ping: () => late(() => link.ping()),
    close: () => link.close(),
    ...link.read && { read: (channel, after, upTo, limit) => late(() => link.read!(channel, after, upTo, limit)) },
  };
}

/** A redis-server of our own (others use the shared one), behind our proxy, so kills and restarts touch nobody else. */
/** In history mode the server keeps an fsync'd append-only file: its streams outlive a restart. */
async function redisBackbone(history: boolean): Promise<ModelBackbone> {
  const { admin, RedisServer } = await import("../fixtures/redis.ts");
  const { epochKey } = await import("../../backends/redis/stream_replies.ts");
  const dir = history ? await mkdtemp(join(tmpdir(), "streamcast-model-")) : undefined;
  const server = await RedisServer.start(dir ? ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir] : []);
  const proxy = new TcpProxy({ port: server.port });
  const port = await proxy.start();
  let direct = await admin(server.port);
  const prefix = `model-${tag()}`;
  let runs = 0;
  return {
    name: "redis://",
    limits: { bound: 10_000, latency: 3_000, detection: 3_000 },
    waits: [0, 20, 100, 300, 700],
    can: { kill: true, killSubscribers: true, restart: true, slow: false, replaceHistory: true },
    run: async () => {
      const run = runs++;
      const name = (i: number) => `${prefix}-${run}-b${i}`;
      return {
        uri: `redis://127.0.0.1:${port}`,
        options: (i) => ({ ...NETWORK, backendOptions: { clientName: name(i) } }),
        cut: () => proxy.cut(),
        stall: () => proxy.stall(),
        restore: () => proxy.restore(),
        kill: async (i) => void await direct.kill(`${name(i)}:`),
        killSubscribers: async () => void await direct.send(["CLIENT", "KILL", "TYPE", "pubsub"]),
        restart: async () => {
          await direct.close();
          await server.kill();
          await server.restart();
          direct = await admin(server.port);
        },
        // This server keeps its streams through a restart (history mode): the log is made again by hand,
        // the stream and its epoch deleted, and the next publish makes both again.
        ...history && { replaceHistory: (channel: string) => untilLoaded(() => direct.send(["DEL", channel, epochKey(channel)])) },
        release: async () => {
          await proxy.restore();
          if (!server.running) {
            await server.restart();
            direct = await admin(server.port);
          }
        },
      };
    },
    close: async () => {
      await direct.close();
      await proxy.stop();
      await server.kill();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The shared Redis Cluster (`scripts/dev/redis_cluster.ts`) through a proxy of
 * our own in front of each of its six nodes (`nodeAddressMap` sends every
 * node connection through them): a cut or stall of all six is an outage of
 * the whole cluster. In history mode, kills end only this run's connections
 * (by client name), on every node, and "kill subscribers" this run's `XREAD`
 * readers (in pub/sub mode a killed node connection costs a resync frame with
 * no gap of the link's, which the model's invariants do not know). No restart: the shared cluster keeps no persistence, and the
 * fault tests of `tests/cluster/` kill its nodes one at a time. History
 * replaced: the stream and its epoch deleted on the channel's master.
 */
async function redisClusterBackbone(history: boolean): Promise<ModelBackbone> {
  const { startSharedCluster } = await import("../../scripts/dev/redis_cluster.ts");
  const { RedisClusterFixture } = await import("../fixtures/redis_cluster.ts");
  const { epochKey } = await import("../../backends/redis/stream_replies.ts");
  const { slotKey } = await import("../../backends/redis/keys.ts");
  await import("../../backends/redis/cluster/mod.ts"); // loaded before the first run, not during it
  await startSharedCluster();
  const cluster = new RedisClusterFixture();
  await cluster.waitHealthy();
  const proxies = cluster.ports.map((port) => new TcpProxy({ port }));
  const ports = await Promise.all(proxies.map((proxy) => proxy.start()));
  const nodeAddressMap = Object.fromEntries(cluster.ports.map((port, i) => [`127.0.0.1:${port}`, `127.0.0.1:${ports[i]}`]));
  const every = (action: (proxy: TcpProxy) => Promise<void>) => async () => void await Promise.all(proxies.map(action));
  /** Kills, on every node, the connections whose name starts with `prefix` and that `also` picks from CLIENT LIST's line. */
  const killWhere = async (prefix: string, also: (line: string) => boolean = () => true) => {
    await Promise.all(cluster.ports.map(async (port) => {
      const list = await cluster.send<string>(port, ["CLIENT", "LIST"]);
      const ids = list.split("\n").flatMap((line) => {
        const id = /\bid=(\d+)/.exec(line)?.[1];
        const name = /\bname=(\S*)/.exec(line)?.[1] ?? "";
        return id && name.startsWith(prefix) && also(line) ? [id] : [];
      });
      await Promise.all(ids.map((id) => cluster.send(port, ["CLIENT", "KILL", "ID", id]).catch(() => {})));
    }));
  };
  const prefix = `model-${tag()}`;
  let runs = 0;
  return {
    name: "redis+cluster://",
    limits: { bound: 10_000, latency: 3_000, detection: 3_000 },
    waits: [0, 20, 100, 300, 700],
    // Pub/sub mode: a node connection killed is mended inside the link, one resync frame for its shard's channels and no
    // state change, which the model cannot tell from a resync with no gap open: kills in history mode only (no resync at all).
    can: { kill: history, killSubscribers: history, restart: false, slow: false, replaceHistory: true },
    run: async () => {
      const run = runs++;
      const name = (i: number) => `${prefix}-${run}-b${i}`;
      return {
        // The seed list as the `nodes` parameter (what a host list becomes), so that history mode can add its own with `URL`.
        uri: `redis+cluster://127.0.0.1:${ports[0]}?nodes=${ports.map((port) => `127.0.0.1:${port}`).join(",")}`,
        // The link probes each node within half the liveness timeout: 500 ms here, not FAST's 100 ms, which a pause of
        // the event loop (the first run loading modules) outlasts, losing a healthy shard (a resync frame with no gap).
        options: (i) => ({
          ...NETWORK,
          liveness: { interval: 100, timeout: 1_000 },
          backendOptions: { clientName: name(i), nodeAddressMap, failoverTimeout: 5_000 },
        }),
        cut: every((proxy) => proxy.cut()),
        stall: every((proxy) => proxy.stall()),
        restore: every((proxy) => proxy.restore()),
        kill: (i) => killWhere(`${name(i)}:`),
        // Pub/sub mode: the connections in sharded subscribe (flag P); history mode: the readers blocked in XREAD.
        killSubscribers: () => killWhere(`${prefix}-${run}-`, history ? (line) => /\bname=\S*:read\b/.test(line) : (line) => /\bflags=\S*P/.test(line)),
        ...history && {
          replaceHistory: async (channel: string) => {
            const master = await cluster.masterOf(await cluster.slotOf(channel));
            await cluster.send(master.port, ["DEL", channel, epochKey(channel), slotKey("origins", channel)]);
          },
        },
        release: every((proxy) => proxy.restore()),
      };
    },
    close: async () => {
      await Promise.all(proxies.map((proxy) => proxy.stop()));
      await cluster.close();
    },
  };
}

/** Runs `command` again while a server just restarted answers `LOADING` (reading its append-only file). */
async function untilLoaded(command: () => Promise<unknown>): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      return void await command();
    } catch (error) {
      if (!/^LOADING\b/.test(String((error as Error)?.message)) || tries >= 200) throw error;
      await sleep(25);
    }
  }
}

/**
 * The machine's Postgres through our proxy; kills terminate only this run's
 * sessions (by application_name). No restart: a cluster of our own takes
 * seconds to stop and start, too slow for a command among tens. In history
 * mode a log table of our own, which the history replaced truncates: every
 * channel's log at once.
 */
async function postgresBackbone(history: boolean): Promise<ModelBackbone> {
  const { admin, SERVER, terminate } = await import("../fixtures/postgres.ts");
  const proxy = new TcpProxy({ host: SERVER.host, port: SERVER.port });
  const port = await proxy.start();
  const sql = admin();
  await sql`select 1`; // connected now: its timers exist before any run counts timers
  const prefix = `sc-model-${tag()}`;
  const table = `streamcast_log_${prefix}`;
  let runs = 0;
  return {
    name: "postgres://",
    limits: { bound: 10_000, latency: 3_000, detection: 3_000 },
    waits: [0, 20, 100, 300, 700],
    can: { kill: true, killSubscribers: false, restart: false, slow: false, replaceHistory: true },
    run: async () => {
      const run = runs++;
      const name = (i: number) => `${prefix}-${run}-b${i}`;
      return {
        uri: `postgres://${SERVER.user}@127.0.0.1:${port}/${SERVER.database}`,
        options: (i) => ({ ...NETWORK, backendOptions: { applicationName: name(i), historyTable: table } }),
        cut: () => proxy.cut(),
        stall: () => proxy.stall(),
        restore: () => proxy.restore(),
        kill: async (i) => void await terminate(sql, name(i)),
        // Before the first link made it there is no log to replace.
        ...history && { replaceHistory: () => truncate(sql, table), replacesEveryChannel: true },
        release: () => proxy.restore(),
      };
    },
    close: async () => {
      await proxy.stop();
      await sql.unsafe(`drop table if exists "${table}", "${table}_swept"`);
      await sql.end();
    },
  };
}

/** Truncates the log table `table`, if there is one yet. */
async function truncate(sql: import("postgres").Sql, table: string): Promise<void> {
  const [{ made }] = await sql`select to_regclass(${`"${table}"`}) is not null as made`;
  if (made) await sql.unsafe(`truncate "${table}"`);
}

/**
 * A broker of our own that advertises our proxy, so every client connection
 * can be cut. No kill (Kafka has no per-client kill) and no restart (a broker
 * takes about ten seconds to start). History replaced: the topic deleted and
 * created again, by an admin client of the test's own, straight to the broker.
 */
async function kafkaBackbone(): Promise<ModelBackbone> {
  const { TestBroker, kafkaAdmin } = await import("../fixtures/kafka.ts");
  let proxy!: TcpProxy;
  const broker = await TestBroker.create(async (port) => {
    proxy = new TcpProxy({ port });
    return await proxy.start();
  });
  const admin = await kafkaAdmin(`127.0.0.1:${broker.directPort}`);
  const recreate = async (topic: string) => {
    // A topic no instance has used yet has nothing to replace: it is made all the same.
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch((error) => {
      const type = (e: { type?: string; cause?: unknown } | undefined): string | undefined => e && (e.type ?? type(e.cause as typeof e));
      if (type(error) !== "UNKNOWN_TOPIC_OR_PARTITION") throw error;
    });
    await admin.createTopics({ topics: [{ topic }], timeout: 10_000 });
    for (let tries = 0; !(await admin.fetchTopicOffsets(topic).then(() => true, () => false)); tries++) {
      if (tries >= 100) throw new Error(`Kafka topic ${topic} was not made again within 10 s`);
      await sleep(100);
    }
  };
  return {
    name: "kafka://",
    limits: { bound: 15_000, latency: 8_000, detection: 3_000 },
    waits: [0, 100, 300, 1_000],
    can: { kill: false, killSubscribers: false, restart: false, slow: false, replaceHistory: true },
    run: async () => ({
      uri: `kafka://127.0.0.1:${proxy.port}`,
      redeliversAfterFaults: true,
      options: () => ({ ...NETWORK, connectTimeout: 5_000, resyncSettle: 200 }),
      cut: () => proxy.cut(),
      stall: () => proxy.stall(),
      restore: () => proxy.restore(),
      replaceHistory: recreate,
      release: () => proxy.restore(),
    }),
    close: async () => {
      await admin.disconnect();
      await proxy.stop();
      await broker.remove();
    },
  };
}
