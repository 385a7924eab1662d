/**
 * A `Request → Response` handler as a node:http request listener, so the SSE
 * handler (`handler.ts`) serves from `http.createServer` too. It reads
 * the request and writes the response through the few members of Node's
 * `IncomingMessage` and `ServerResponse` declared here, so it needs no
 * `node:` import: the library stays web-standard.
 *
 * @module
 */
import { json } from "./handler.ts";

/** What the listener reads of node:http's `IncomingMessage`. */
export interface NodeIncomingMessage extends AsyncIterable<Uint8Array> {
  /** The request method. */
  readonly method?: string;
  /** The request target, as sent. */
  readonly url?: string;
  /** Header names (lower case) to values. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** What the listener uses of node:http's `ServerResponse`. */
export interface NodeServerResponse {
  /** Sends the status line and headers. */
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  /** Queues a chunk; false when the socket is backed up (wait for `drain`). */
  write(chunk: Uint8Array): boolean;
  /** Ends the response. */
  end(): unknown;
  /** Closes the connection at once. */
  destroy(): unknown;
  /** Listens once. */
  once(event: "drain" | "close", listener: () => void): unknown;
  /** Stops listening. */
  off(event: "drain" | "close", listener: () => void): unknown;
  /** Whether the headers went out. */
  readonly headersSent: boolean;
  /** Whether the connection is gone. */
  readonly destroyed: boolean;
  /** Bytes written but not yet taken by the socket. */
  readonly writableLength: number;
}

/** Options of {@linkcode nodeListener}. */
export interface NodeListenerOptions {
  /** A client whose socket takes no byte for this many ms while a write waits is disconnected. @default {15000} */
  writeTimeout?: number;
  /** Told of a handler that threw (the client got a 500, or was disconnected mid-stream). */
  onError?: (error: unknown, request: NodeIncomingMessage) => void;
}

/**
 * A node:http request listener answering with `handler`: the body streams
 * with the socket's backpressure, and a client that leaves cancels it.
 *
 * @example
 * ```ts ignore
 * import { nodeListener, sseHandler } from "streamcast/sse";
 * // http: Node's own module
 * http.createServer(nodeListener(sseHandler(broadcast).fetch)).listen(8080);
 * ```
 */
export function nodeListener(
  handler: (request: Request) => Response | Promise<Response>,
  options: NodeListenerOptions = {},
): (req: NodeIncomingMessage, res: NodeServerResponse) => void {
  const writeTimeout = options.writeTimeout ?? 15_000;
  return (req, res) => {
    const gone = new AbortController();
    res.once("close", () => gone.abort());
    const request = toRequest(req, gone.signal);
    if (typeof request === "string") return void send(json(400, { error: request }, { connection: "close" }), res, writeTimeout);
    Promise.resolve()
      .then(() => handler(request))
      .then((response) => send(response, res, writeTimeout))
      .catch((error) => {
        options.onError?.(error, req);
        try {
          if (res.headersSent) return void res.destroy();
          void send(json(500, { error: "Internal error: the server could not answer this request" }), res, writeTimeout);
        } catch {
          res.destroy();
        }
      });
  };
}

/**
 * The `Request` of `req`, or why there is none: Node's parser lets through
 * what a WHATWG `Request` refuses (a target such as `//[`, credentials in the
 * target, the TRACE method), and none of it may cost more than a 400.
 */
function toRequest(req: NodeIncomingMessage, signal: AbortSignal): Request | string {
  let url: URL;
  try {
    url = new URL(req.url ?? "/", "http://localhost");
  } catch {
    return `Invalid request target: Expected a path but received ${JSON.stringify(req.url)}`;
  }
  // Not echoed: it may hold a password.
  if (url.username !== "" || url.password !== "") return "Invalid request: Expected a target without credentials";
  const headers = new Headers();
  const method = req.method ?? "GET";
  try {
    for (const [name, value] of Object.entries(req.headers)) {
      // HTTP/2 pseudo-headers (`:path`) have no place in a Request.
      if (name.startsWith(":")) continue;
      for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
    }
    const body = method === "GET" || method === "HEAD" ? null : streamOf(req);
    return new Request(url, { method, headers, body, signal, duplex: "half" } as RequestInit);
  } catch {
    return `Invalid request: Expected a method and headers a web Request can hold but received the method ${JSON.stringify(method.slice(0, 40))}`;
  }
}

function streamOf(req: NodeIncomingMessage): ReadableStream<Uint8Array> {
  const chunks = req[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await chunks.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    async cancel() {
      await chunks.return?.();
    },
  });
}

/**
 * Writes `response` to `res`: the head now, then the body as the socket takes
 * it. Only the body's reader is held while it streams, not the response.
 */
function send(response: Response, res: NodeServerResponse, writeTimeout: number): Promise<void> | undefined {
  const head: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") head[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) head["set-cookie"] = cookies;
  res.writeHead(response.status, head);
  if (response.body === null) return void res.end();
  return pump(response.body.getReader(), res, writeTimeout);
}

async function pump(reader: ReadableStreamDefaultReader<Uint8Array>, res: NodeServerResponse, writeTimeout: number): Promise<void> {
  const leave = () => void reader.cancel().catch(() => {});
  if (res.destroyed) return leave();
  res.once("close", leave);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await drained(res, writeTimeout);
      if (res.destroyed) return leave();
    }
    res.end();
  } catch {
    // The body failed (a client the handler cut off) or the client left: nothing more to send.
    res.destroy();
  } finally {
    res.off("close", leave);
  }
}

/**
 * Resolves once `res` drains or closes. A socket that takes nothing for
 * `timeout` ms is destroyed; one that keeps taking bytes, however slowly, is
 * given more time.
 */
function drained(res: NodeServerResponse, timeout: number): Promise<void> {
  return new Promise((resolve) => {
    let left = res.writableLength;
    const check = () => {
      if (res.writableLength < left) {
        left = res.writableLength;
        timer = setTimeout(check, timeout);
        return;
      }
      done();
      res.destroy();
    };
    let timer = setTimeout(check, timeout);
    const done = () => {
      clearTimeout(timer);
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
