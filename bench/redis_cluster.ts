/**
 * streamcast on a Redis Cluster (`redis+cluster://`, sharded pub/sub) against
 * raw node-redis and against socket.io's sharded Redis adapter, on the shared
 * cluster of `scripts/dev/redis_cluster.ts` (3 masters + 3 replicas on
 * 127.0.0.1:17000..17005, started if it is not running and stopped again at
 * the end if this run started it).
 *
 *   npx tsx bench/redis_cluster.ts [--runs 5] [--messages 200000] [--publishers 2] [--subscribers 2]
 *                                  [--servers 3] [--rate 2000] [--seconds 3] [--port 17000] [--json]
 *
 * 1. Scaling over shards. `--publishers` + `--subscribers` load processes
 *    (`redis_cluster/peer.ts`, forked once, each its own connections and
 *    event loop). For 1, 2 and 3 shards: 3 channels on each of the first 1,
 *    2 or 3 masters (names picked by their hash slot); every subscriber
 *    subscribes every channel; the publishers publish `--messages` 100-byte
 *    messages between them, round-robin over the channels, in chunks of 1,000
 *    (each chunk awaited); timed from the first publish until every subscriber
 *    has every message. streamcast: a Broadcast per process. raw: node-redis's
 *    `createCluster` per process (`sPublish`, `sSubscribe`; per-command timeout
 *    off and RESP3, as streamcast's connections have them). The cluster
 *    client, not single-node clients per master, because it is what a
 *    developer would write instead of streamcast: it routes each command by
 *    its slot and holds one subscriber connection per master, as streamcast
 *    does (streamcast: one publisher + one subscriber connection per master;
 *    node-redis: one connection per master for commands + one per master for
 *    sharded subscriptions). CPU time of every load process and of every
 *    redis-server (masters and replicas: a replica receives every SPUBLISH by
 *    replication) is read from /proc before and after each step and printed as
 *    cores busy, for what limits the scaling on this machine.
 * 2. Against socket.io's sharded adapter, all in this process: `--servers` N
 *    socket.io 4 servers (not listening), each with its own
 *    `createShardedAdapter(pub, sub)` of `@socket.io/redis-adapter` over two
 *    node-redis cluster clients (`subscriptionMode: "dynamic"`: a room is a
 *    sharded channel of its own). Rooms are 3 per master (9), named so that
 *    their channels `socket.io#/#<room>#` land 3 on each master. Servers 2..N
 *    each hold one socket in every room: a stand-in registered in the
 *    namespace whose `client.writeToEngine` counts the packet (what a real
 *    socket would write to its websocket; the adapter has encoded it, as for
 *    a real socket). Server 1 does `io.to(room).emit("m", message)`,
 *    round-robin over the rooms, yielding (setImmediate) after each 1,000.
 *    streamcast: N Broadcasts, the first publishing the same messages over 9
 *    channels (3 per master) in awaited chunks of 1,000, the other N-1 each
 *    subscribed to all 9, each event read from its stream. Timed until every
 *    receiving server has every message; msgs/s is messages published.
 * 3. Latency: one publisher and one subscriber connection (a Broadcast each;
 *    a `createCluster` each for raw) in this process, `--rate` msgs/s for
 *    `--seconds` on one channel, each message carrying its send time; p50/p99
 *    of publish → receive.
 *
 * Each part runs its sides alternately, one warm-up run of each first; the
 * figures are medians over `--runs`.
 */
import { type ChildProcess, fork } from "node:child_process";
import process from "node:process";
import { setImmediate as yieldNow } from "node:timers/promises";
import { createShardedAdapter } from "@socket.io/redis-adapter";
import { Server } from "socket.io";
import { Broadcast } from "../mod.ts";
import { startSharedCluster, stopSharedCluster } from "../scripts/dev/redis_cluster.ts";
import { benchFlags } from "./_args.ts";
import { type Endpoint, latency, median, percentile } from "./_measure.ts";
import { streamcastSide } from "./_streamcast.ts";
import { clusterLayout, cpuMs, namesOn, type Node, shardSubscribers, slotOf } from "./redis_cluster/layout.ts";
import { type Command, type Kind, rawCluster, type Reply } from "./redis_cluster/peer.ts";

const SIZE = 100;
const CHUNK = 1_000;
const PER_SHARD = 3;
const SHARDS = [1, 2, 3] as const;
const GOAL = { scaling: 2.5 };
const KINDS: Kind[] = ["raw", "streamcast"];

const args = benchFlags({ messages: 200_000, runs: 5, rate: 2_000, seconds: 3 }, { port: "17000", publishers: "2", subscribers: "2", servers: "3" });
const whole = (name: "port" | "publishers" | "subscribers" | "servers", min: number) => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < min) throw new Error(`Invalid --${name}: Expected an integer >= ${min} but received ${JSON.stringify(args[name])}`);
  return value;
};
const PORT = whole("port", 1);
const PUBLISHERS = whole("publishers", 1);
const SUBSCRIBERS = whole("subscribers", 1);
const SERVERS = whole("servers", 2);
const SEED = `127.0.0.1:${PORT}`;
const URI = `redis+cluster://${SEED}`;
const PAYLOAD = "x".repeat(SIZE);
const log = (line: string) => args.json || process.stderr.write(`${line}\n`);
const tag = `${process.pid}-${Date.now().toString(36)}`;

// ---- load processes ----

interface Peer {
  child: ChildProcess;
  waiting: Map<string, { resolve: () => void; reject: (error: Error) => void }>;
}

function forkPeer(): Peer {
  const child = fork(new URL("./redis_cluster/peer.ts", import.meta.url), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const peer: Peer = { child, waiting: new Map() };
  child.on("message", (reply: Reply) => {
    if (reply.op === "error") {
      for (const waiter of peer.waiting.values()) waiter.reject(new Error(`load process ${child.pid}: ${reply.message}`));
      peer.waiting.clear();
      return;
    }
    const waiter = peer.waiting.get(reply.op);
    peer.waiting.delete(reply.op);
    waiter?.resolve();
  });
  return peer;
}

/** Resolves when `peer` replies `op` (registered before `command` is sent, so a fast reply is not missed). */
function expectReply(peer: Peer, op: Reply["op"]): Promise<void> {
  return new Promise((resolve, reject) => peer.waiting.set(op, { resolve, reject }));
}

function ask(peer: Peer, command: Command, op: Reply["op"]): Promise<void> {
  const reply = expectReply(peer, op);
  peer.child.send(command);
  return reply;
}

// ---- part 1: scaling over shards ----

interface Step {
  msgsPerSecond: number;
  elapsedMs: number;
  /** CPU ms of the load processes together, and of each redis-server by port, during the step. */
  loadCpuMs: number;
  redisCpuMs: Record<number, number>;
}

async function scalingStep(kind: Kind, shards: number, run: number, masters: Node[], nodes: Node[], pubs: Peer[], subs: Peer[]): Promise<Step> {
  const channels = masters.slice(0, shards).flatMap((master) => namesOn(master, PER_SHARD, (i) => `bench-cl-${tag}-${run}-${kind}-${shards}-${i}`));
  await Promise.all(subs.map((peer) => ask(peer, { op: "subscribe", channels, expect: args.messages }, "subscribed")));
  const done = Promise.all(subs.map((peer) => expectReply(peer, "done")));
  const pids = [...pubs, ...subs].map((peer) => peer.child.pid!);
  const loadBefore = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const redisBefore = nodes.map((node) => cpuMs(node.pid));
  const start = performance.now();
  const shares = pubs.map((_, p) => Math.floor(args.messages / pubs.length) + (p < args.messages % pubs.length ? 1 : 0));
  const sent = Promise.all(pubs.map((peer, p) => ask(peer, { op: "publish", channels, messages: shares[p], chunk: CHUNK, payload: PAYLOAD }, "sent")));
  await Promise.all([sent, done]);
  const elapsedMs = performance.now() - start;
  const loadCpuMs = pids.reduce((sum, pid) => sum + cpuMs(pid), 0) - loadBefore;
  const redisCpuMs = Object.fromEntries(nodes.map((node, i) => [node.port, cpuMs(node.pid) - redisBefore[i]]));
  return { msgsPerSecond: args.messages / (elapsedMs / 1000), elapsedMs, loadCpuMs, redisCpuMs };
}

interface ShardFigures {
  shards: number;
  msgsPerSecond: number;
  runs: number[];
  /** Cores busy over the counted runs: the load processes together, each redis-server by port. */
  loadCores: number;
  redisCores: Record<number, number>;
}

async function scaling(masters: Node[], nodes: Node[]): Promise<Record<Kind, ShardFigures[]>> {
  const pubs = Array.from({ length: PUBLISHERS }, forkPeer);
  const subs = Array.from({ length: SUBSCRIBERS }, forkPeer);
  const steps: Record<Kind, Step[][]> = { raw: [[], [], []], streamcast: [[], [], []] };
  try {
    for (let run = 0; run <= args.runs; run++) {
      for (const kind of KINDS) {
        log(`scaling ${run === 0 ? "warm-up" : `run ${run}/${args.runs}`}: ${kind} …`);
        await Promise.all([
          ...pubs.map((peer) => ask(peer, { op: "open", kind, role: "pub", uri: URI, seed: SEED }, "opened")),
          ...subs.map((peer) => ask(peer, { op: "open", kind, role: "sub", uri: URI, seed: SEED }, "opened")),
        ]);
        try {
          for (const [i, shards] of SHARDS.entries()) {
            const step = await scalingStep(kind, shards, run, masters, nodes, pubs, subs);
            if (run > 0) steps[kind][i].push(step);
          }
        } finally {
          await Promise.all([...pubs, ...subs].map((peer) => ask(peer, { op: "close" }, "closed")));
        }
      }
    }
  } finally {
    await Promise.all([...pubs, ...subs].map((peer) => {
      const exited = new Promise((resolve) => peer.child.exitCode !== null ? resolve(undefined) : peer.child.once("exit", resolve));
      peer.child.disconnect();
      return exited;
    }));
  }
  const figures = (list: Step[], shards: number): ShardFigures => {
    const wall = list.reduce((sum, step) => sum + step.elapsedMs, 0);
    return {
      shards,
      msgsPerSecond: median(list.map((step) => step.msgsPerSecond)),
      runs: list.map((step) => step.msgsPerSecond),
      loadCores: list.reduce((sum, step) => sum + step.loadCpuMs, 0) / wall,
      redisCores: Object.fromEntries(nodes.map((node) => [node.port, list.reduce((sum, step) => sum + step.redisCpuMs[node.port], 0) / wall])),
    };
  };
  return { raw: steps.raw.map((list, i) => figures(list, SHARDS[i])), streamcast: steps.streamcast.map((list, i) => figures(list, SHARDS[i])) };
}

// ---- part 2: against socket.io's sharded adapter ----

type Fanout = "socket.io" | "streamcast";
interface FanoutRun {
  msgsPerSecond: number;
  cpuUs: number;
}

/** A fan-out system: published on the first server, received by every other. */
interface System {
  /** Resolves once every receiver is subscribed; `onReceive` is called per message per receiving server. */
  publishChunk(messages: string[], targets: string[]): Promise<void>;
  close(): Promise<void>;
}

async function socketIoSystem(masters: Node[], run: number, onReceive: () => void): Promise<{ system: System; targets: string[] }> {
  const rooms = masters.flatMap((master) => namesOn(master, PER_SHARD, (i) => `r-${tag}-${run}-${i}`, (room) => slotOf(`socket.io#/#${room}#`)));
  const servers = await Promise.all(Array.from({ length: SERVERS }, async () => {
    const pub = rawCluster(SEED);
    const sub = rawCluster(SEED);
    await Promise.all([pub.connect(), sub.connect()]);
    const io = new Server();
    io.adapter(createShardedAdapter(pub, sub, { subscriptionMode: "dynamic" }));
    return { io, pub, sub };
  }));
  // The stand-in socket of servers 2..N: registered in the namespace, in every room.
  const standIn = { client: { writeToEngine: onReceive } };
  for (const [i, { io }] of servers.entries()) {
    if (i === 0) continue;
    const nsp = io.of("/");
    (nsp.sockets as Map<string, unknown>).set(`stand-in-${i}`, standIn);
    nsp.adapter.addAll(`stand-in-${i}`, new Set(rooms));
  }
  // The adapter subscribes a room's channel without waiting: wait until every channel has its N-1 subscribers.
  for (const deadline = Date.now() + 10_000;;) {
    const counts = await shardSubscribers(masters, rooms.map((room) => `socket.io#/#${room}#`));
    if (counts.every((count) => count === SERVERS - 1)) break;
    if (Date.now() > deadline) throw new Error(`socket.io's adapters did not subscribe their rooms: ${counts.join(",")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const io = servers[0].io;
  return {
    targets: rooms,
    system: {
      async publishChunk(messages, targets) {
        messages.forEach((message, i) => io.to(targets[i % targets.length]).emit("m", message));
        await yieldNow();
      },
      async close() {
        for (const [i, { io, pub, sub }] of servers.entries()) {
          // Not adapter.close(): its SUNSUBSCRIBEs are not awaited, and destroying the client rejects them; destroying drops the subscriptions anyway.
          io.of("/").sockets.delete(`stand-in-${i}`);
          pub.destroy();
          sub.destroy();
        }
      },
    },
  };
}

async function streamcastSystem(masters: Node[], run: number, onReceive: () => void): Promise<{ system: System; targets: string[] }> {
  const channels = masters.flatMap((master) => namesOn(master, PER_SHARD, (i) => `fan-${tag}-${run}-${i}`));
  const settings = { resyncSettle: 0, subscriberBuffer: 10_000_000 };
  const broadcasts = await Promise.all(Array.from({ length: SERVERS }, () => Broadcast.connect(URI, settings)));
  const readings: Promise<void>[] = [];
  for (const broadcast of broadcasts.slice(1)) {
    for (const channel of channels) {
      const reader = broadcast.subscribe(channel).getReader();
      readings.push((async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) if (r.value.type === "event") onReceive();
      })().catch(() => {}));
    }
    await broadcast.ready();
  }
  return {
    targets: channels,
    system: {
      async publishChunk(messages, targets) {
        await Promise.all(messages.map((message, i) => broadcasts[0].publish(targets[i % targets.length], message)));
      },
      async close() {
        await Promise.all(broadcasts.map((broadcast) => broadcast.disconnect()));
        await Promise.all(readings);
      },
    },
  };
}

async function fanout(masters: Node[]): Promise<Record<Fanout, FanoutRun & { runs: FanoutRun[] }>> {
  const runs: Record<Fanout, FanoutRun[]> = { "socket.io": [], streamcast: [] };
  const n = args.messages;
  for (let run = 0; run <= args.runs; run++) {
    for (const name of ["socket.io", "streamcast"] as const) {
      log(`fan-out ${run === 0 ? "warm-up" : `run ${run}/${args.runs}`}: ${name} …`);
      let received = 0;
      let done!: () => void;
      const all = new Promise<void>((resolve) => done = resolve);
      const expected = n * (SERVERS - 1);
      const onReceive = () => {
        if (++received === expected) done();
      };
      const { system, targets } = await (name === "socket.io" ? socketIoSystem : streamcastSystem)(masters, run, onReceive);
      try {
        const cpu = process.cpuUsage();
        const start = performance.now();
        for (let i = 0; i < n;) {
          const messages: string[] = [];
          for (const end = Math.min(n, i + CHUNK); i < end; i++) messages.push(`${i} ${PAYLOAD.slice(String(i).length + 1)}`);
          await system.publishChunk(messages, targets);
        }
        await all;
        const elapsed = performance.now() - start;
        const used = process.cpuUsage(cpu);
        if (run > 0) runs[name].push({ msgsPerSecond: n / (elapsed / 1000), cpuUs: (used.user + used.system) / n });
      } finally {
        await system.close();
      }
    }
  }
  const figures = (list: FanoutRun[]) => ({ msgsPerSecond: median(list.map((r) => r.msgsPerSecond)), cpuUs: median(list.map((r) => r.cpuUs)), runs: list });
  return { "socket.io": figures(runs["socket.io"]), streamcast: figures(runs.streamcast) };
}

// ---- part 3: latency ----

interface Latency {
  p50Ms: number;
  p99Ms: number;
  runs: { p50Ms: number; p99Ms: number }[];
}

async function rawLatencySide(): Promise<Endpoint & { close(): Promise<void> }> {
  const publisher = rawCluster(SEED);
  const subscriber = rawCluster(SEED);
  await Promise.all([publisher.connect(), subscriber.connect()]);
  return {
    publish: (channel, message) => publisher.sPublish(channel, message),
    subscribe: (channel, onMessage) => subscriber.sSubscribe(channel, onMessage),
    close: async () => {
      publisher.destroy();
      subscriber.destroy();
    },
  };
}

async function latencies(): Promise<Record<Kind, Latency>> {
  const runs: Record<Kind, { p50Ms: number; p99Ms: number }[]> = { raw: [], streamcast: [] };
  for (let run = 0; run <= args.runs; run++) {
    for (const kind of KINDS) {
      log(`latency ${run === 0 ? "warm-up" : `run ${run}/${args.runs}`}: ${kind} …`);
      const side = kind === "raw" ? await rawLatencySide() : await streamcastSide(URI);
      try {
        const sorted = (await latency(side, { payload: PAYLOAD, rate: args.rate, seconds: args.seconds })).sort((a, b) => a - b);
        if (run > 0) runs[kind].push({ p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) });
      } finally {
        await side.close();
      }
    }
  }
  const figures = (list: { p50Ms: number; p99Ms: number }[]) => ({ p50Ms: median(list.map((r) => r.p50Ms)), p99Ms: median(list.map((r) => r.p99Ms)), runs: list });
  return { raw: figures(runs.raw), streamcast: figures(runs.streamcast) };
}

// ---- report ----

async function main(): Promise<void> {
  const cluster = await startSharedCluster();
  try {
    const nodes = await clusterLayout(PORT);
    const masters = nodes.filter((node) => node.role === "master" && node.slots.length > 0);
    if (masters.length < 3) throw new Error(`The cluster on ${SEED} has ${masters.length} masters serving slots; 3 are needed`);
    const load = (await import("node:os")).loadavg()[0];
    const shardFigures = await scaling(masters, nodes);
    const fan = await fanout(masters);
    const lat = await latencies();
    const scalingOf = (kind: Kind) => shardFigures[kind][2].msgsPerSecond / shardFigures[kind][0].msgsPerSecond;
    const summary = {
      node: process.version,
      uri: URI,
      nodes: nodes.map(({ port, role, pid }) => ({ port, role, pid })),
      cores: (await import("node:os")).availableParallelism(),
      loadAverageAtStart: load,
      messages: args.messages,
      bytes: SIZE,
      chunk: CHUNK,
      channelsPerShard: PER_SHARD,
      publishers: PUBLISHERS,
      subscribers: SUBSCRIBERS,
      servers: SERVERS,
      rate: args.rate,
      seconds: args.seconds,
      runs: args.runs,
      scaling: shardFigures,
      scalingRatio: { raw: scalingOf("raw"), streamcast: scalingOf("streamcast") },
      streamcastOverRaw: SHARDS.map((_, i) => shardFigures.streamcast[i].msgsPerSecond / shardFigures.raw[i].msgsPerSecond),
      fanout: fan,
      fanoutRatio: fan.streamcast.msgsPerSecond / fan["socket.io"].msgsPerSecond,
      latency: lat,
      goal: `throughput on 3 shards >= ${GOAL.scaling}x 1 shard`,
      goalMet: scalingOf("streamcast") >= GOAL.scaling,
    };
    if (args.json) return console.log(JSON.stringify(summary, null, 2));
    const int = (n: number) => Math.round(n).toLocaleString("en");
    console.log(`Redis Cluster (sharded pub/sub): streamcast vs raw node-redis vs socket.io — Node ${process.version}, ${URI}, ` +
      `${summary.cores} cores, load ${load.toFixed(2)} at start; ${SIZE}-byte messages, median of ${args.runs} alternating runs after a warm-up`);
    console.log();
    console.log(`1. Scaling: ${int(args.messages)} messages per step from ${PUBLISHERS} publisher + ${SUBSCRIBERS} subscriber processes ` +
      `(every subscriber gets every message), ${PER_SHARD} channels per shard, chunks of ${CHUNK}`);
    const masterPorts = masters.map((m) => m.port);
    const replicaPorts = nodes.filter((n) => !masterPorts.includes(n.port)).map((n) => n.port);
    const head = `${"".padEnd(20)}${"msgs/s".padStart(10)}${"load procs".padStart(12)}` +
      masterPorts.map((p) => `${`m:${p}`.padStart(9)}`).join("") + replicaPorts.map((p) => `${`r:${p}`.padStart(9)}`).join("") + `${"all".padStart(7)}`;
    console.log(`${head}    (CPU: cores busy over the step's wall time)`);
    for (const kind of KINDS) {
      for (const f of shardFigures[kind]) {
        const redis = [...masterPorts, ...replicaPorts].map((p) => f.redisCores[p]);
        const total = f.loadCores + redis.reduce((a, b) => a + b, 0);
        console.log(`${`${kind}, ${f.shards} shard${f.shards > 1 ? "s" : ""}`.padEnd(20)}${int(f.msgsPerSecond).padStart(10)}${f.loadCores.toFixed(2).padStart(12)}` +
          redis.map((c) => c.toFixed(2).padStart(9)).join("") + total.toFixed(2).padStart(7));
      }
    }
    console.log();
    for (const kind of KINDS) {
      const r = scalingOf(kind);
      console.log(`${kind}: 3 shards / 1 shard = ${r.toFixed(2)}x, 2 shards / 1 shard = ${(shardFigures[kind][1].msgsPerSecond / shardFigures[kind][0].msgsPerSecond).toFixed(2)}x` +
        `${kind === "streamcast" ? ` (goal >= ${GOAL.scaling}x — ${summary.goalMet ? "goal met" : "goal missed"})` : ""}`);
    }
    // What one shard costs per message, against what the load costs: where the ceiling is on this machine.
    const replicaOf = (kind: Kind) => replicaPorts.find((p) => shardFigures[kind][0].redisCores[p] > 0.5 * shardFigures[kind][0].redisCores[masterPorts[0]]);
    for (const kind of KINDS) {
      const f = shardFigures[kind][0];
      const us = (cores: number) => (cores * 1e6) / f.msgsPerSecond;
      const replica = replicaOf(kind);
      const master = us(f.redisCores[masterPorts[0]]);
      console.log(`${kind}, 1 shard, CPU per message: load processes ${us(f.loadCores).toFixed(1)} µs, master ${master.toFixed(1)} µs` +
        `${replica === undefined ? "" : ` + its replica ${us(f.redisCores[replica]).toFixed(1)} µs`}: the master alone would saturate near ${int(1e6 / master)} msgs/s, ` +
        `which would take ${(us(f.loadCores) / master).toFixed(1)} cores of load processes (the machine has ${summary.cores} in all)`);
    }
    console.log(`streamcast / raw: ${summary.streamcastOverRaw.map((r, i) => `${SHARDS[i]} shard${i ? "s" : ""} ${r.toFixed(2)}x`).join(", ")}`);
    console.log();
    console.log(`2. Fan-out against socket.io's sharded adapter: ${SERVERS} servers in this process, ${int(args.messages)} messages published on the first, ` +
      `every other receives all; ${PER_SHARD * 3} rooms/channels (${PER_SHARD} per master)`);
    console.log(`${"".padEnd(20)}${"msgs/s".padStart(10)}${"deliveries/s".padStart(14)}${"CPU µs/msg".padStart(12)}`);
    for (const name of ["socket.io", "streamcast"] as const) {
      const f = fan[name];
      console.log(`${name.padEnd(20)}${int(f.msgsPerSecond).padStart(10)}${int(f.msgsPerSecond * (SERVERS - 1)).padStart(14)}${f.cpuUs.toFixed(2).padStart(12)}`);
    }
    console.log(`streamcast / socket.io: ${summary.fanoutRatio.toFixed(2)}x throughput, ${(fan.streamcast.cpuUs / fan["socket.io"].cpuUs).toFixed(2)}x CPU per message`);
    console.log();
    console.log(`3. Latency at ${int(args.rate)} msgs/s for ${args.seconds} s, one channel, publish → receive in one process`);
    console.log(`${"".padEnd(20)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
    for (const kind of KINDS) console.log(`${kind.padEnd(20)}${lat[kind].p50Ms.toFixed(3).padStart(10)}${lat[kind].p99Ms.toFixed(3).padStart(10)}`);
    console.log(`streamcast p50 ${(lat.streamcast.p50Ms / lat.raw.p50Ms).toFixed(2)}x raw, p99 ${lat.streamcast.p99Ms - lat.raw.p99Ms >= 0 ? "+" : ""}${(lat.streamcast.p99Ms - lat.raw.p99Ms).toFixed(3)} ms over raw`);
  } finally {
    if (cluster.started) await stopSharedCluster();
  }
}

await main();
