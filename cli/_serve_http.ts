/**
 * The HTTP routes of a serve worker: `GET /subscribe` (SSE), `POST
 * /publish/<channel>`, `GET /healthz`, `GET /` (the demo page), and the CORS
 * preflight. Every request first passes the web-standard checks of `Host`
 * (`_serve_host.ts`), `Origin` (`_serve_origin.ts`) and, where a token is
 * required, `Authorization` (`_serve_auth.ts`); this file is their node:http
 * glue. Private to the serve command.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { type Broadcast, ChannelError, MessageError, PayloadTooLargeError } from "../mod.ts";
import { type Authenticator, authorize } from "./_serve_auth.ts";
import type { ServeConfig } from "./_serve_config.ts";
import { checkHost } from "./_serve_host.ts";
import { checkOrigin, preflightHeaders } from "./_serve_origin.ts";
import { PAGE, PAGE_CSP } from "./_serve_page.ts";
import { isRefusal, type Refusal, type RequestLike } from "./_serve_refusal.ts";
import { openStream, reply, type SseClient } from "./_serve_sse.ts";

/** What the routes need from their worker. */
export interface WorkerContext {
  broadcast: Broadcast;
  clients: Set<SseClient>;
  config: ServeConfig;
  /** The worker's one authenticator (it caches the keys it fetched). */
  auth: Authenticator;
  stopping(): boolean;
}

/** A request body that cannot be published; `status` is 400 or 413. */
export class BodyError extends Error {
  override name = "BodyError" as const;
  readonly code = "INVALID_BODY" as const;
  readonly status: 400 | 413;
  constructor(status: 400 | 413, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/** Routes one request; settles once it is answered (an event stream: once it is open). */
export async function routeHttp(req: IncomingMessage, res: ServerResponse, context: WorkerContext): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? "/", "http://localhost");
  } catch {
    // Node's parser lets through targets that WHATWG URL refuses, such as `//[`.
    return reply(res, 400, `Invalid request target: Expected a path but received ${JSON.stringify(req.url)}`, { connection: "close" });
  }
  const method = req.method ?? "GET";
  const request: RequestLike = { method, headers: toHeaders(req.headers) };
  const { security } = context.config;
  const wrongHost = checkHost(request, { listen: context.config.host, allowHosts: security.allowHosts });
  if (wrongHost !== undefined) return refuse(res, wrongHost);
  const origin = checkOrigin(request, security);
  if (isRefusal(origin)) return refuse(res, origin);
  for (const [name, value] of Object.entries(origin)) res.setHeader(name, value);
  if (method === "OPTIONS") return void res.writeHead(204, preflightHeaders(request, origin)).end();
  if (url.pathname === "/subscribe") {
    if (method !== "GET") return wrongMethod(res, "GET /subscribe?channel=…", method);
    const denied = await authorize(context.auth, request.headers, "subscribe", url.searchParams.getAll("channel"));
    if (denied !== undefined) return refuse(res, denied);
    return openStream(req, res, url, { ...context.config, broadcast: context.broadcast }, context.clients);
  }
  if (url.pathname.startsWith("/publish/")) {
    if (method !== "POST") return wrongMethod(res, "POST /publish/<channel> with the message as the body", method);
    return await publish(req, res, url, request, context);
  }
  if (url.pathname === "/healthz") return await health(res, request, context);
  if (url.pathname === "/" && (method === "GET" || method === "HEAD")) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": PAGE_CSP });
    return void res.end(method === "HEAD" ? undefined : PAGE);
  }
  reply(res, 404, `Not found: ${method} ${url.pathname}`);
}

// 200 while the worker can still serve (connecting, up, or reconnecting after a
// drop: a transient outage must not make an orchestrator restart it), 503 once
// the backbone is given up or the worker is stopping.
// The backbone's user and host are shown only to a caller with a valid token.
async function health(res: ServerResponse, request: RequestLike, { broadcast, clients, stopping, auth }: WorkerContext): Promise<void> {
  const state = stopping() ? "closed" : broadcast.state;
  const ok = state !== "failed" && state !== "closed";
  const trusted = auth.configured && request.headers.has("authorization") && !isRefusal(await auth.authenticate(request.headers));
  const backbone = trusted ? broadcast.uri : `${/^[a-z][a-z0-9+.-]*:/i.exec(broadcast.uri)?.[0] ?? ""}//***`;
  const body = JSON.stringify({ state, worker: process.pid, clients: clients.size, backbone, stats: broadcast.stats });
  res.writeHead(ok ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(body);
}

async function publish(req: IncomingMessage, res: ServerResponse, url: URL, request: RequestLike, context: WorkerContext): Promise<void> {
  let channel: string;
  try {
    channel = decodeURIComponent(url.pathname.slice("/publish/".length));
  } catch {
    return reply(res, 400, `Invalid channel: Expected a percent-encoded channel name but received ${JSON.stringify(url.pathname)}`);
  }
  if (channel === "") return reply(res, 400, "Invalid channel: Expected a channel name after /publish/ but received nothing");
  const denied = await authorize(context.auth, request.headers, "publish", [channel]);
  // The body is not read: close the connection rather than drain it.
  if (denied !== undefined) return refuse(res, denied, { connection: "close" });
  let message: string;
  try {
    message = await readBody(req, context.config.maxBody);
  } catch (error) {
    if (!(error instanceof BodyError)) return reply(res, 400, "Invalid body: the request was aborted");
    // The rest of the body is not read: close the connection rather than drain it.
    return reply(res, error.status, error.message, { connection: "close" });
  }
  const { broadcast } = context;
  try {
    await broadcast.publish(channel, message);
  } catch (error) {
    const status = error instanceof ChannelError || error instanceof MessageError ? 400 : error instanceof PayloadTooLargeError ? 413 : 503;
    return reply(res, status, (error as Error).message);
  }
  // 202: accepted while the backbone is down; it is replayed once it is back.
  const state = broadcast.state;
  const body = JSON.stringify({ channel, state, worker: process.pid });
  res.writeHead(state === "up" ? 200 : 202, { "content-type": "application/json" }).end(body);
}

/** A 405 naming the method that was used and the one the route takes (the first word of `expected`). */
function wrongMethod(res: ServerResponse, expected: string, method: string): void {
  reply(res, 405, `Invalid method: Expected ${expected} but received ${JSON.stringify(method)}`, { allow: expected.split(" ")[0] });
}

function refuse(res: ServerResponse, { status, error, headers }: Refusal, extra: Record<string, string> = {}): void {
  reply(res, status, error, { ...headers, ...extra });
}

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
  }
  return headers;
}

/**
 * Reads a UTF-8 body of at most `limit` bytes, byte for byte: a leading byte
 * order mark is part of the message. Throws `BodyError` (413 or 400).
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const tooLarge = (size: string) => new BodyError(413, `Invalid body: Expected at most ${limit} bytes but received ${size}`);
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > limit) throw tooLarge(`${declared}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge("more");
    chunks.push(chunk);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(Buffer.concat(chunks));
  } catch (error) {
    throw new BodyError(400, "Invalid body: Expected UTF-8 text but received bytes that are not UTF-8", { cause: error });
  }
}
