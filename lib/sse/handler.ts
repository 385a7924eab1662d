/**
 * Channels of a Broadcast served to browsers and other clients over HTTP, as
 * a web-standard handler from `Request` to `Response`: it runs unchanged in
 * `Deno.serve`, `Bun.serve`, a Hono app, a worker, and Node through
 * `nodeListener` (`node.ts`). `streamcast serve` is this handler plus
 * Node's process model.
 *
 * Routes, under `base`:
 * - `GET /subscribe?channel=a&channel=b`: a `text/event-stream`: a `ready`
 *   event once the backbone acknowledged the subscriptions, a `message`
 *   event per publish, keep-alive comments while idle; after a gap a
 *   `resync` event, then the stream closes at a random moment within
 *   `resyncSpread` (the client reconnects and re-fetches); a client that
 *   falls `maxQueueBytes` behind gets a `resync` event and is closed.
 *   In history mode (a Broadcast whose URI has `?history=`) each event has an
 *   SSE `id:`, where the stream stands in each of its channels; a client
 *   that comes back with it (`Last-Event-ID`, as `EventSource` sends it, or
 *   `?since=` after a page reload) first receives what it missed, from the
 *   backbone's history, then live events, with no `resync` event (a client
 *   that falls behind is closed without one, and comes back the same way).
 *   Its `ready` event, before anything it missed, says whether it got all of
 *   it: `recovered: true`, or `false` with `reasons`, each channel that did
 *   not and why (`gap`, `replaced`, `unknown`, `unreadable`: `Recovery`);
 *   then, for those, a `resync` event, as above. A stream that does not
 *   resume has no `recovered`.
 * - `POST /publish/<channel>`: the body (UTF-8, at most `maxBody` bytes) is
 *   published as it is: 200 when the backbone took it, 202 when it is
 *   buffered while the backbone is down.
 * - `GET /healthz`: 200 while the backbone is not given up, else 503. The
 *   backbone's user and host only to the static token or a JWT whose
 *   `healthz` claim is `true`.
 *
 * Every request passes the `Host` check (when `host` is given), the `Origin`
 * check (a foreign page is refused; `allowOrigins` get CORS) and, where
 * `auth` asks for one, a bearer token.
 *
 * @module
 */
import * as v from "valibot";
import { ChannelError, ConfigError, MessageError, PayloadTooLargeError } from "../contract/errors.ts";
import { milliseconds, notAnObject, toConfigIssues } from "../contract/config.ts";
import { type AuthSettings, authorize, createAuthenticator } from "./auth.ts";
import { encodeSseEvent, encodeFrame, type SseEncode } from "./encoder_stream.ts";
import { parseCursor, recoveredFields, UNREAD } from "./cursor.ts";
import { join, type SseBroadcast, SseHub } from "./hub.ts";
import { checkHost, checkOrigin, isRefusal, parseOrigin, preflightHeaders, type Refusal } from "./checks.ts";
import { readBody, BodyError } from "./body.ts";

/** Options of {@linkcode sseHandler}. */
export interface SseHandlerOptions {
  /** A path prefix for every route, such as `/events`. @default {""} */
  base?: string;
  /** Names this server in `ready` events and `/healthz` (serve gives its worker's pid). */
  id?: string | number;
  /** An idle stream gets a keep-alive comment after this many ms. @default {15000} */
  keepAlive?: number;
  /** The base of the `retry:` a client waits before reconnecting; each gets a value in [retry, 2 × retry). @default {1000} */
  retry?: number;
  /** After a gap, clients are closed at random moments within this many ms. @default {1000} */
  resyncSpread?: number;
  /** A client that overflowed and did not drain within this many ms is cut off. @default {15000} */
  writeTimeout?: number;
  /**
   * The bytes a client may fall behind before it gets a resync and is closed.
   * One event larger than that still reaches a client that reads: it is
   * queued when nothing else is, and must be taken within `writeTimeout`.
   * @default {1048576}
   */
  maxQueueBytes?: number;
  /** The largest body `POST /publish` takes, in bytes. @default {1048576} */
  maxBody?: number;
  /** Bearer tokens: a static one and/or JWTs. @default {no token required} */
  auth?: AuthSettings;
  /** Origins whose pages may call the server (with CORS); others are refused. @default {[]} */
  allowOrigins?: readonly string[];
  /**
   * How refusals name the settings that would let a request in, for a server
   * whose users set them by other names (serve: `{ allowOrigins: "--allow-origin" }`).
   * @default {{ allowOrigins: "the allowOrigins option" }}
   */
  settingNames?: { allowOrigins?: string };
  /** The `Host` check, against DNS rebinding: the address listened on, and other names to accept. @default {no check} */
  host?: { listen: string; allowHosts?: readonly string[] };
  /** Encodes each frame for every client at once. @default {encodeFrame} */
  encode?: SseEncode;
  /** Answers what no route matches (after the checks). @default {a 404} */
  fallback?: (request: Request) => Response | Promise<Response>;
}

/** A running handler. */
export interface SseHandler {
  /** Answers one request; a stream's `Response` comes back once it is open. */
  fetch(request: Request): Promise<Response>;
  /** How many streams are open. */
  readonly clients: number;
  /** Closes every stream (each still delivers what it holds); `/healthz` answers 503 and new streams are refused. */
  close(): void;
}

const MAX_CHANNELS = 64;
const DEFAULTS = { base: "", keepAlive: 15_000, retry: 1_000, resyncSpread: 1_000, writeTimeout: 15_000, maxQueueBytes: 1 << 20, maxBody: 1 << 20 };
const bytes = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(2 ** 31 - 1));
const OptionsSchema = v.looseObject({
  base: v.optional(v.pipe(v.string(), v.regex(/^(\/[^/?#]+)*$/, "Expected a path such as /events, without a trailing slash"))),
  keepAlive: v.optional(milliseconds(1)),
  retry: v.optional(milliseconds(0)),
  resyncSpread: v.optional(milliseconds(0)),
  writeTimeout: v.optional(milliseconds(1)),
  maxQueueBytes: v.optional(bytes(1)),
  maxBody: v.optional(bytes(1)),
  allowOrigins: v.optional(v.array(v.pipe(v.string(), v.check((text) => parseOrigin(text) !== undefined, "Expected an origin such as https://app.example.com")))),
  host: v.optional(v.object({ listen: v.string(), allowHosts: v.optional(v.array(v.string())) })),
  settingNames: v.optional(v.object({ allowOrigins: v.optional(v.pipe(v.string(), v.minLength(1))) })),
  id: v.optional(v.union([v.string(), v.number()])),
  encode: v.optional(v.function()),
  fallback: v.optional(v.function()),
});

/**
 * A handler serving `broadcast`'s channels (connect the broadcast yourself).
 *
 * @example On memory://, as Deno.serve or Bun.serve would call it
 * ```ts
 * import { Broadcast } from "../../mod.ts";
 * import { sseHandler } from "./handler.ts";
 * const broadcast = await Broadcast.connect("memory://sse-example");
 * const sse = sseHandler(broadcast);
 * const stream = await sse.fetch(new Request("http://localhost/subscribe?channel=policy"));
 * const published = await sse.fetch(new Request("http://localhost/publish/policy", { method: "POST", body: "v2" }));
 * if (stream.status !== 200 || published.status !== 200) throw new Error("not served");
 * await stream.body!.cancel();
 * sse.close();
 * await broadcast.disconnect();
 * ```
 */
export function sseHandler(broadcast: SseBroadcast, options: SseHandlerOptions = {}): SseHandler {
  notAnObject(options, "SSE handler options");
  const parsed = v.safeParse(OptionsSchema, options);
  if (!parsed.success) throw new ConfigError(toConfigIssues(parsed.issues, (path) => `SSE handler option ${path}`));
  const settings = { ...DEFAULTS, ...stripUndefined(options) };
  const encode = options.encode ?? encodeFrame;
  const auth = createAuthenticator(options.auth ?? { subscribe: false });
  const hub = new SseHub(broadcast, { ...settings, encode });
  const allowOrigins = (options.allowOrigins ?? []).map((origin) => parseOrigin(origin)!);
  const host = options.host && { listen: options.host.listen, allowHosts: (options.host.allowHosts ?? []).map((name) => name.toLowerCase().replace(/\.$/, "")) };
  let closed = false;

  const subscribe = async (request: Request, url: URL): Promise<Response> => {
    const channels = [...new Set(url.searchParams.getAll("channel"))];
    if (channels.length === 0 || channels.length > MAX_CHANNELS) {
      return json(400, { error: `Invalid channel: Expected 1 to ${MAX_CHANNELS} ?channel= parameters but received ${channels.length}` });
    }
    const denied = await authorize(auth, request.headers, "subscribe", channels);
    if (denied !== undefined) return refuse(denied);
    if (closed) return json(503, { error: "Unavailable: the server is closing" });
    const state = broadcast.state;
    if (state === "failed" || state === "closed") return json(503, { error: `Unavailable: the backbone is ${state}` });
    const retry = Math.round(settings.retry * (1 + Math.random()));
    const hello = `retry: ${retry}\n: streamcast${options.id === undefined ? "" : ` worker ${options.id}`}\n\n`;
    // History mode: where the client stands, if it comes back. A cursor that does not read is a gap.
    const lastEventId = request.headers.get("last-event-id") || url.searchParams.get("since");
    const since = hub.history && lastEventId ? parseCursor(lastEventId, channels) : undefined;
    const lost = hub.history && lastEventId && since === undefined;
    const resyncs = lost ? channels.map((channel) => encode({ type: "resync", channel, reason: "gap" })) : [];
    let body;
    try {
      body = hub.open(channels, {
        first: join([new TextEncoder().encode(hello), ...resyncs]),
        since,
        // "ready" once the backbone acknowledged the subscriptions: a publish after it is received.
        ready: (recovery) => encodeSseEvent("ready", { worker: options.id, channels, ...recoveredFields(channels, lost ? channels.map(() => UNREAD) : recovery) }),
      });
    } catch (error) {
      return json(400, { error: (error as Error).message });
    }
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no", // a proxy such as nginx must not hold frames back
      },
    });
  };

  const publish = async (request: Request, url: URL, path: string): Promise<Response> => {
    let channel: string;
    try {
      channel = decodeURIComponent(path.slice("/publish/".length));
    } catch {
      return json(400, { error: `Invalid channel: Expected a percent-encoded channel name but received ${JSON.stringify(url.pathname)}` });
    }
    if (channel === "") return json(400, { error: "Invalid channel: Expected a channel name after /publish/ but received nothing" });
    const denied = await authorize(auth, request.headers, "publish", [channel]);
    // The body is not read: the connection is closed rather than drained.
    if (denied !== undefined) return refuse(denied, { connection: "close" });
    let message: string;
    try {
      message = await readBody(request, settings.maxBody);
    } catch (error) {
      if (!(error instanceof BodyError)) return json(400, { error: "Invalid body: the request was aborted" });
      return json(error.status, { error: error.message }, { connection: "close" });
    }
    try {
      await broadcast.publish(channel, message);
    } catch (error) {
      const status = error instanceof ChannelError || error instanceof MessageError ? 400 : error instanceof PayloadTooLargeError ? 413 : 503;
      return json(status, { error: (error as Error).message });
    }
    // 202: accepted while the backbone is down; it is replayed once it is back.
    const state = broadcast.state;
    return json(state === "up" ? 200 : 202, { channel, state, worker: options.id });
  };

  // 200 while it can still serve (connecting, up, or reconnecting: a transient outage must
  // not make an orchestrator restart it), 503 once given up or closed. The backbone's user
  // and host are shown only to the static token or a JWT that says so (`"healthz": true`):
  // a JWT every subscriber holds must not tell them where the backbone is.
  const health = async (request: Request): Promise<Response> => {
    const state = closed ? "closed" : broadcast.state;
    const caller = auth.configured && request.headers.has("authorization") ? await auth.authenticate(request.headers) : undefined;
    const trusted = caller !== undefined && !isRefusal(caller) && caller.healthz;
    const backbone = trusted ? broadcast.uri : `${/^[a-z][a-z0-9+.-]*:/i.exec(broadcast.uri)?.[0] ?? ""}//***`;
    const body = { state, worker: options.id, clients: hub.size, catchingUp: hub.catchingUp, slowClients: hub.dropped, backbone, stats: broadcast.stats };
    // `idle`: the Broadcast was never connected, so nothing it serves can arrive yet.
    const healthy = state !== "failed" && state !== "closed" && state !== "idle";
    return json(healthy ? 200 : 503, body, { "cache-control": "no-store" });
  };

  const route = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const wrongHost = host === undefined ? undefined : checkHost(request, host);
    if (wrongHost !== undefined) return refuse(wrongHost);
    const origin = checkOrigin(request, { allowOrigins, allowOriginsSetting: options.settingNames?.allowOrigins });
    if (isRefusal(origin)) return refuse(origin);
    const method = request.method;
    if (method === "OPTIONS") return new Response(null, { status: 204, headers: preflightHeaders(request, origin) });
    const path = url.pathname.startsWith(settings.base) ? url.pathname.slice(settings.base.length) : undefined;
    let response: Response;
    if (path === "/subscribe") {
      response = method === "GET" ? await subscribe(request, url) : wrongMethod("GET /subscribe?channel=…", method);
    } else if (path?.startsWith("/publish/")) {
      response = method === "POST" ? await publish(request, url, path) : wrongMethod("POST /publish/<channel> with the message as the body", method);
    } else if (path === "/healthz") {
      response = await health(request);
    } else {
      response = options.fallback ? await options.fallback(request) : json(404, { error: `Not found: ${method} ${url.pathname}` });
    }
    return withHeaders(response, origin);
  };

  return {
    fetch: route,
    get clients() {
      return hub.size;
    },
    close() {
      closed = true;
      hub.close();
    },
  };
}

/** A JSON answer with its length, so even a client reading raw HTTP finds where it ends. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(body));
  return new Response(bytes, { status, headers: { "content-type": "application/json", "content-length": String(bytes.byteLength), ...headers } });
}

function refuse({ status, error, headers }: Refusal, extra: Record<string, string> = {}): Response {
  return json(status, { error }, { ...headers, ...extra });
}

/** A 405 naming the method used and the one the route takes (the first word of `expected`). */
function wrongMethod(expected: string, method: string): Response {
  return json(405, { error: `Invalid method: Expected ${expected} but received ${JSON.stringify(method)}` }, { allow: expected.split(" ")[0] });
}

/** `response` with `headers` added; a response whose headers are immutable (a fetched one) is copied. */
function withHeaders(response: Response, headers: Record<string, string>): Response {
  try {
    for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    for (const [name, value] of Object.entries(headers)) copy.headers.set(name, value);
    return copy;
  }
}

function stripUndefined<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
