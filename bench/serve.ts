/**
 * `streamcast serve` at scale, side by side with socket.io and its Redis
 * adapter, both on node:cluster with the same workers and the same Redis.
 *
 *   npx tsx bench/serve.ts [--workers 2] [--clients 1000,5000] [--rates 10,20,50,100,200]
 *                          [--size 100] [--duration 3] [--warmup 1] [--uri redis://127.0.0.1:6379]
 *                          [--only streamcast|socketio] [--idle N] [--loaders 2]
 *                          [--sio-client raw|socket.io-client] [--p99 50] [--profile DIR] [--json]
 *
 * For each client count N, each system in turn: a fresh server, its worker
 * RSS with no client, N clients opened from `--loaders` load processes
 * (`serve/load.ts`) and their RSS once all N had their ready event; then, per
 * rate R, one second of warm-up and `--duration` seconds at R msgs/s from a
 * publisher in this process straight onto Redis (`serve/publish.ts`),
 * counted until every delivery arrived or none came for 2 s (20 s at most). The rates
 * of an N stop at the first saturated step: under 95 % of the offered
 * deliveries a second, p99 above `--p99` ms, any loss, any delivery out of
 * order, or a client closed. The knee is the highest offered deliveries a
 * second of a step that was not saturated. `--idle N` only holds N idle
 * clients and reports their memory. Nothing is pinned to a core: the
 * workers, the load processes, this process and Redis share the machine.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { usage } from "./_args.ts";
import { type Loads, startLoads } from "./serve/loads.ts";
import { cpuMs, killAll, rss, type Server, sleep, startServer, sum } from "./serve/procs.ts";
import { publishAt, type Publisher, socketIoPublisher, streamcastPublisher } from "./serve/publish.ts";
import { type Bounds, type Idle, idleTable, kneeLines, LABEL, saturation, type Step, stepTable, type System } from "./serve/report.ts";
import { type ClientKind, now, quantile } from "./serve/wire.ts";

const OPTIONS = {
  workers: { type: "string", default: "2" },
  clients: { type: "string", default: "1000,5000" },
  rates: { type: "string", default: "10,20,50,100,200" },
  size: { type: "string", default: "100" },
  duration: { type: "string", default: "3" },
  warmup: { type: "string", default: "1" },
  uri: { type: "string", default: "redis://127.0.0.1:6379" },
  only: { type: "string" },
  idle: { type: "string" },
  loaders: { type: "string", default: "2" },
  "sio-client": { type: "string", default: "raw" },
  p99: { type: "string", default: "50" },
  profile: { type: "string" },
  json: { type: "boolean", default: false },
} as const;
const { values } = parseArgs({ options: { ...OPTIONS, help: { type: "boolean" } } });
if (values.help) {
  console.log(usage(OPTIONS));
  process.exit(0);
}
const number = (name: keyof typeof values, text = String(values[name])) => {
  const n = Number(text.replaceAll("_", ""));
  if (!(n > 0)) throw new Error(`Invalid --${name}: Expected a positive number but received ${JSON.stringify(text)}`);
  return n;
};
const list = (name: "clients" | "rates") => String(values[name]).split(",").map((text) => number(name, text)).sort((a, b) => a - b);
if (values.only !== undefined && values.only !== "streamcast" && values.only !== "socketio") {
  throw new Error(`Invalid --only: Expected streamcast or socketio but received ${JSON.stringify(values.only)}`);
}
if (values["sio-client"] !== "raw" && values["sio-client"] !== "socket.io-client") {
  throw new Error(`Invalid --sio-client: Expected raw or socket.io-client but received ${JSON.stringify(values["sio-client"])}`);
}
const config = {
  workers: number("workers"),
  size: number("size"),
  duration: number("duration"),
  warmup: number("warmup"),
  uri: values.uri!,
  loaders: number("loaders"),
  bounds: { share: 0.95, p99Ms: number("p99") } satisfies Bounds,
  systems: (values.only === undefined ? ["streamcast", "socketio"] : [values.only]) as System[],
  socketIoClient: values["sio-client"] as "raw" | "socket.io-client",
};
const KIND: Record<System, ClientKind> = { streamcast: "sse", socketio: config.socketIoClient === "raw" ? "socketio-raw" : "socketio-client" };
const run = `bench-serve-${process.pid}-${Date.now().toString(36)}`;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** A fresh server of `system` with `clients` clients that all had their ready event. */
interface Setup {
  server: Server;
  loads: Loads;
  publisher: Publisher;
  idle: Idle;
}

async function setUp(system: System, clients: number): Promise<Setup> {
  const channel = `${run}-${system}-${clients}`;
  const server = await startServer({ system, workers: config.workers, uri: config.uri, key: run, profileDir: values.profile });
  const loads = startLoads(config.loaders);
  try {
    const publisher = system === "streamcast" ? await streamcastPublisher(config.uri, channel) : await socketIoPublisher(config.uri, run, channel);
    await sleep(2_000); // as long as the clients get below: startup garbage has as much time to go
    const rssZero = sum(server.workers, rss);
    log(`${LABEL[system]}: opening ${clients} clients on workers ${server.workers.join(", ")}…`);
    await loads.connect(KIND[system], server.port, channel, clients, 30_000 + clients * 10);
    const cpu = sum(server.workers, cpuMs);
    const since = now();
    await sleep(2_000);
    const workerCpuPercent = (100 * (sum(server.workers, cpuMs) - cpu)) / (now() - since);
    const rssClients = sum(server.workers, rss);
    const idle = { system, clients, rssZero, rssClients, bytesPerClient: (rssClients - rssZero) / clients, workerCpuPercent };
    return { server, loads, publisher, idle };
  } catch (error) {
    await tearDown({ server, loads });
    throw error;
  }
}

async function tearDown({ server, loads, publisher }: Partial<Setup>): Promise<void> {
  loads?.close();
  await publisher?.close().catch(() => {});
  await server?.stop();
}

let steps = 0;
const QUIET_MS = 2_000;
const DRAIN_MS = 20_000;

/** One step at `rate` on a setup; its figures. */
async function step({ server, loads, publisher }: Setup, system: System, clients: number, rate: number): Promise<Step> {
  const id = ++steps;
  await publishAt(publisher, 0, rate, config.warmup, config.size); // step 0: counted by nobody
  await loads.measure(id);
  const cpu = { workers: sum(server.workers, cpuMs), loads: sum(loads.pids, cpuMs) };
  const { sent, first } = await publishAt(publisher, id, rate, config.duration, config.size);
  const expected = sent * clients;
  // Wait for every delivery, or until none came for QUIET_MS (DRAIN_MS at most).
  const publishedAt = now();
  let totals = await loads.totals();
  for (let seen = totals.received, quietSince = now(); totals.received < expected && now() - quietSince < QUIET_MS && now() - publishedAt < DRAIN_MS;) {
    await sleep(100);
    totals = await loads.totals();
    if (totals.received > seen) [seen, quietSince] = [totals.received, now()];
  }
  const elapsed = now() - first;
  const workerMs = sum(server.workers, cpuMs) - cpu.workers;
  const figures = {
    system,
    clients,
    rate,
    offered: clients * rate,
    sent,
    received: totals.received,
    deliveriesPerSecond: totals.received / Math.max(sent / rate, (totals.lastAt - first) / 1000),
    loss: expected - totals.received,
    outOfOrder: totals.outOfOrder,
    closed: totals.closed,
    resyncs: totals.resyncs,
    p50Ms: quantile(totals.latency, 50),
    p99Ms: quantile(totals.latency, 99),
    maxMs: quantile(totals.latency, 100),
    workerCpuPercent: (100 * workerMs) / elapsed,
    cpuUsPerDelivery: (1000 * workerMs) / Math.max(1, totals.received),
    loadCpuPercent: (100 * (sum(loads.pids, cpuMs) - cpu.loads)) / elapsed,
  };
  return { ...figures, saturated: saturation(figures, config.bounds) };
}

async function main(): Promise<void> {
  const results: Step[] = [];
  const idle: Idle[] = [];
  const idleOnly = values.idle === undefined ? undefined : number("idle");
  for (const clients of idleOnly === undefined ? list("clients") : [idleOnly]) {
    for (const system of config.systems) {
      const setup = await setUp(system, clients);
      try {
        idle.push(setup.idle);
        if (idleOnly !== undefined) continue;
        for (const rate of list("rates")) {
          const result = await step(setup, system, clients, rate);
          results.push(result);
          log(`${LABEL[system]}: ${clients} clients × ${rate} msgs/s: ${Math.round(result.deliveriesPerSecond)} deliveries/s, ` +
            `p99 ${result.p99Ms.toFixed(2)} ms${result.saturated.length > 0 ? `, saturated (${result.saturated.join(", ")})` : ""}`);
          if (result.saturated.length > 0) break;
        }
      } finally {
        await tearDown(setup);
      }
    }
  }
  report(results, idle);
}

function report(results: Step[], idle: Idle[]): void {
  const clientLabel = config.socketIoClient === "raw" ? "raw ws sockets speaking engine.io v4 / socket.io v5 text packets" : "socket.io-client over WebSocket only";
  if (values.json) {
    console.log(JSON.stringify({ node: process.version, run, ...config, socketIoClientUsed: clientLabel, idle, steps: results }, null, 2));
    return;
  }
  console.log(`streamcast serve vs socket.io 4.8 + @socket.io/redis-adapter 8.3 — Node ${process.version}, ${config.workers} workers each, ${config.uri}`);
  console.log(`${config.size}-byte messages; per step ${config.warmup} s warm-up, then ${config.duration} s measured; ` +
    `publisher in the bench process straight onto Redis (streamcast: Broadcast.publish; socket.io: @socket.io/redis-emitter)`);
  console.log(`clients from ${config.loaders} load processes: streamcast — raw node:net SSE; socket.io — ${clientLabel}`);
  console.log(`no core pinned: server workers, load processes, the publisher and Redis share the machine's cores`);
  console.log(`saturated: < ${config.bounds.share * 100} % of offered delivered, p99 > ${config.bounds.p99Ms} ms, loss, out of order, or a client closed`);
  console.log(`CPU % and µs/deliv: all server workers together (100 % = one core); load %: the load processes together`);
  if (results.length > 0) {
    console.log();
    for (const line of stepTable(results, config.systems)) console.log(line);
    console.log();
    for (const line of kneeLines(results, config.systems)) console.log(line);
  }
  console.log();
  console.log("worker RSS, all workers added up, before any client and 2 s after every client was ready:");
  for (const line of idleTable(idle)) console.log(line);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench/serve.ts: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  killAll();
}
