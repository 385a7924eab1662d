/**
 * The peer of `streamcast serve` in `bench/serve.ts`: socket.io on node:cluster
 * with the Redis adapter, as a Node developer would set it up.
 *
 *   node --import tsx bench/serve/socketio_server.ts --port <n> --workers <n> --uri redis://… --key <prefix>
 *
 * Each worker holds one Redis publisher and one subscriber (the adapter's),
 * accepts WebSocket only (no polling, so no sticky sessions are needed behind
 * the cluster's round robin), joins each client to the room named by its
 * `room` query parameter, and then emits it `ready`. Messages come through
 * Redis from `@socket.io/redis-emitter`; `--key` keeps the adapter's channels
 * apart from anyone else's on a shared Redis. `GET /healthz` answers 200 once
 * the worker listens, which is after its Redis clients connected.
 */
import cluster from "node:cluster";
import http from "node:http";
import process from "node:process";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    workers: { type: "string", default: "1" },
    uri: { type: "string", default: "redis://127.0.0.1:6379" },
    key: { type: "string", default: "socket.io" },
  },
});
const log = (line: string) => process.stderr.write(`socketio[${cluster.isPrimary ? "primary" : "worker"} ${process.pid}]: ${line}\n`);

if (cluster.isPrimary) {
  for (let i = 0; i < Number(values.workers); i++) cluster.fork();
  cluster.on("listening", (worker, address) => log(`worker ${worker.process.pid} listening on ${address.port}`));
  // A worker that dies is not replaced: the bench would count its clients as lost.
  cluster.on("exit", (worker, code, signal) => log(`worker ${worker.process.pid} exited (${signal ?? code})`));
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    setTimeout(() => process.exit(0), 2_000).unref();
    cluster.on("exit", () => Object.keys(cluster.workers ?? {}).length === 0 && process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const pub = createClient({ url: values.uri });
  const sub = pub.duplicate();
  pub.on("error", (error) => log(`redis: ${error.message}`));
  sub.on("error", (error) => log(`redis: ${error.message}`));
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer((req, res) => {
    if (req.url === "/healthz") res.writeHead(200, { "content-type": "application/json" }).end(`{"worker":${process.pid}}`);
    else if (!res.headersSent) res.writeHead(404).end();
  });
  const io = new Server(server, { transports: ["websocket"], adapter: createAdapter(pub, sub, { key: values.key }) });
  io.on("connection", (socket) => {
    const room = socket.handshake.query.room;
    if (typeof room !== "string" || room === "") return void socket.disconnect(true);
    void Promise.resolve(socket.join(room)).then(() => socket.emit("ready"));
  });
  server.listen(Number(values.port), "127.0.0.1");
  process.on("SIGTERM", () => {
    io.close();
    pub.destroy();
    sub.destroy();
    process.exit(0);
  });
}
