/**
 * One worker of `streamcast serve`, started by the cluster primary, which
 * answers its request for the configuration over the IPC channel: one
 * Broadcast, the SSE handler (`lib/sse/handler.ts`: subscribe, publish,
 * health) plus the demo page on an HTTP server on the shared port, a log line
 * per backbone state change, and an exit once the backbone is given up, so
 * the primary starts a fresh worker. Private to the serve command.
 */
import http from "node:http";
import process from "node:process";
import { Broadcast, GiveUpError, maskUri } from "../../mod.ts";
import { nodeListener, sseHandler } from "../../lib/sse/mod.ts";
import { receiveConfig } from "./ipc.ts";
import { PAGE, PAGE_CSP } from "./page.ts";

/** Worker exit codes the primary acts on (it keeps its own copy: importing this module starts a worker). */
const EXIT = {
  /** The backbone was given up: start a new worker. */
  gaveUp: 1,
  /** Retrying cannot help (cannot listen, credentials, config): stop serving. */
  fatal: 3,
} as const;

/** How long a worker keeps answering 503 after giving up, so probes and clients see why. */
const GIVE_UP_LINGER = 1_000;

const config = await receiveConfig();
if (config === null) {
  process.stderr.write("streamcast serve: the worker module runs only under `streamcast serve`\n");
  process.exit(EXIT.fatal);
}

const log = (line: string) => process.stderr.write(`streamcast serve[worker ${process.pid}]: ${maskUri(line)}\n`);
const tell = (message: Record<string, unknown>) => process.send?.(message);
const broadcast = new Broadcast(config.uri, config.options);
const { security } = config;
const page = (request: Request) => {
  const path = new URL(request.url).pathname;
  if (path !== "/" || (request.method !== "GET" && request.method !== "HEAD")) {
    return Response.json({ error: `Not found: ${request.method} ${path}` }, { status: 404 });
  }
  return new Response(request.method === "HEAD" ? null : PAGE, {
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": PAGE_CSP },
  });
};
const sse = sseHandler(broadcast, {
  id: process.pid,
  keepAlive: config.keepAlive,
  retry: config.retry,
  resyncSpread: config.resyncSpread,
  writeTimeout: config.writeTimeout,
  maxBody: config.maxBody,
  auth: security.auth,
  allowOrigins: security.allowOrigins,
  settingNames: { allowOrigins: "--allow-origin" },
  host: { listen: config.host, allowHosts: security.allowHosts },
  fallback: page,
});
let stopping = false;

broadcast.addEventListener("statechange", (event) => {
  const { state, cause } = event.detail;
  log(`backbone ${broadcast.uri} ${state}${cause && state !== "up" ? ` (${describe(cause)})` : ""}`);
});
broadcast.addEventListener("error", (event) => {
  const { error, attempt } = event.detail;
  log(`connection attempt ${attempt} to ${broadcast.uri} failed: ${describe(error)}`);
});
broadcast.addEventListener("resync", (event) => {
  const { reason } = event.detail;
  log(`resync (${reason}): closing ${sse.clients} SSE clients over ${config.resyncSpread} ms so they re-fetch`);
});
broadcast.addEventListener("giveup", (event) => void giveUp(event.detail.error));

// A bug met by one request must cost that request, never the worker and all its streams.
const listener = nodeListener(sse.fetch, {
  writeTimeout: config.writeTimeout,
  onError: (error, req) => log(`${req.method} ${JSON.stringify(req.url?.slice(0, 200))} failed: ${describe(error)}`),
});
const server = http.createServer((req, res) => listener(req, res));
server.on("error", (error) => {
  log(`cannot listen on ${config.host}:${config.port}: ${describe(error)}`);
  tell({ type: "fatal", reason: describe(error) });
  process.exit(EXIT.fatal);
});
server.listen(config.port, config.host);

// A failed first connection also fires `giveup`; the listener above handles both.
broadcast.connect().catch(() => {});

async function giveUp(error: unknown): Promise<void> {
  const fatal = !(error instanceof GiveUpError);
  log(`${fatal ? "cannot use the backbone" : "gave up on the backbone"}: ${describe(error)}; /healthz now answers 503`);
  tell({ type: fatal ? "fatal" : "giveup", reason: describe(error) });
  // Every stream ends as its subscription does; /healthz answers 503 from the broadcast's state.
  await new Promise((resolve) => setTimeout(resolve, GIVE_UP_LINGER));
  reportUnsent((await broadcast.disconnect()).unsent.length);
  server.close();
  server.closeAllConnections();
  process.exit(fatal ? EXIT.fatal : EXIT.gaveUp);
}

async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`stopping (${why})`);
  server.close();
  sse.close();
  server.closeIdleConnections();
  reportUnsent((await broadcast.disconnect()).unsent.length);
  process.exit(0);
}

function reportUnsent(count: number): void {
  if (count > 0) log(`${count} accepted publishes were never sent to the backbone`);
}

process.on("message", (message) => {
  if ((message as { type?: string })?.type === "shutdown") void stop("asked by the primary");
});
process.on("disconnect", () => void stop("the primary is gone"));
// Ctrl-C reaches every process of the group: shut down cleanly, as the primary asks.
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Our errors often quote their cause already: add it only when they do not.
  const cause = error.cause instanceof Error && !error.message.includes(error.cause.message) ? `: ${error.cause.message}` : "";
  return `${error.name}: ${error.message}${cause}`.replace(/\s+/g, " ");
}
