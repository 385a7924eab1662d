/**
 * One Server-Sent Events client of a serve worker: it subscribes to the
 * requested channels, writes each event as an SSE frame, and after a backbone
 * gap (a resync frame) closes itself at a random moment within the spread, so
 * that the clients of every worker do not all come back at once. Private to
 * the serve command.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Broadcast, Frame } from "../mod.ts";

/** The settings a stream needs from the worker. */
export interface SseSettings {
  broadcast: Broadcast;
  /** Clients close within this many ms of a resync, at random. */
  resyncSpread: number;
  /** The base of the `retry:` field; each client gets a value in [retry, 2 × retry). */
  retry: number;
  /** Interval of keep-alive comments. */
  keepAlive: number;
  /** A client whose pending data has not drained after this many ms is closed. */
  writeTimeout: number;
}

/** An open SSE response; `close()` ends it (with an optional last event). */
export interface SseClient {
  close(last?: string): void;
  readonly closed: Promise<void>;
}

const MAX_CHANNELS = 64;

/**
 * Answers `GET /subscribe?channel=…`: a 400 naming a bad channel, 503 when the
 * backbone was given up, or an event stream registered in `clients` until it ends.
 */
export function openStream(req: IncomingMessage, res: ServerResponse, url: URL, settings: SseSettings, clients: Set<SseClient>): void {
  const channels = [...new Set(url.searchParams.getAll("channel"))];
  if (channels.length === 0 || channels.length > MAX_CHANNELS) {
    return reply(res, 400, `Invalid channel: Expected 1 to ${MAX_CHANNELS} ?channel= parameters but received ${channels.length}`);
  }
  const { broadcast } = settings;
  if (broadcast.state === "failed" || broadcast.state === "closed") {
    return reply(res, 503, `Unavailable: the backbone is ${broadcast.state}`);
  }
  const abort = new AbortController();
  const streams: [string, ReadableStream<Frame>][] = [];
  try {
    for (const channel of channels) streams.push([channel, broadcast.subscribe(channel, { signal: abort.signal })]);
  } catch (error) {
    abort.abort();
    return reply(res, 400, (error as Error).message);
  }
  const client = startClient(req, res, abort, settings);
  clients.add(client);
  void client.closed.then(() => clients.delete(client));
  // Say "ready" once the backbone acknowledged the subscriptions: a publish after it is received.
  broadcast.ready().then(() => client.write(event("ready", { worker: process.pid, channels })), () => {});
  for (const [channel, stream] of streams) void pump(channel, stream, client);
}

interface LiveClient extends SseClient {
  write(text: string): Promise<void>;
  resync(frame: Frame & { type: "resync" }): void;
}

function startClient(req: IncomingMessage, res: ServerResponse, abort: AbortController, settings: SseSettings): LiveClient {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "x-accel-buffering": "no", // a proxy such as nginx must not hold frames back
  });
  const retry = Math.round(settings.retry * (1 + Math.random()));
  res.write(`retry: ${retry}\n: streamcast worker ${process.pid}\n\n`);
  let ended = false;
  let resyncing = false;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => markClosed = resolve);
  const keepAlive = setInterval(() => {
    // While data is pending there is nothing to keep alive, and one wait for it is enough.
    if (!res.writableNeedDrain) void client.write(": keep-alive\n\n");
  }, settings.keepAlive);
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(keepAlive);
    abort.abort();
    markClosed();
  };
  req.socket.on("close", finish);
  res.on("close", finish);
  const backedUp = waitForDrain(res, settings.writeTimeout);
  const client: LiveClient = {
    closed,
    async write(text) {
      if (ended || res.writableEnded || res.destroyed) return;
      if (!res.write(text)) await backedUp();
    },
    close(last) {
      if (ended) return;
      if (last !== undefined && !res.writableEnded) res.write(last);
      res.end();
      finish();
      if (res.writableFinished) return;
      // The last frames may sit behind a client that stopped reading: the same deadline applies.
      const timer = setTimeout(() => res.destroy(), settings.writeTimeout);
      const clear = () => clearTimeout(timer);
      res.once("finish", clear).once("close", clear);
    },
    resync(frame) {
      if (resyncing || ended) return; // one close per gap, however many channels
      resyncing = true;
      const data = event("resync", { reason: frame.reason, channel: frame.channel });
      setTimeout(() => client.close(data), Math.random() * settings.resyncSpread);
    },
  };
  return client;
}

/**
 * A wait for `res` to drain, shared by every writer while it is backed up; a
 * client that takes nothing for `timeout` ms (a frozen tab, a dead NAT path)
 * is destroyed, or it would sit behind its full socket forever and never see
 * the resync frame of its overflowing queue.
 */
function waitForDrain(res: ServerResponse, timeout: number): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () =>
    pending ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => res.destroy(), timeout);
      const done = () => {
        clearTimeout(timer);
        res.off("drain", done).off("finish", done).off("close", done);
        pending = undefined;
        resolve();
      };
      res.on("drain", done).on("finish", done).on("close", done);
    });
}

async function pump(channel: string, stream: ReadableStream<Frame>, client: LiveClient): Promise<void> {
  try {
    for await (const frame of stream) {
      if (frame.type === "resync") client.resync(frame);
      else await client.write(event("message", { channel, message: frame.message }));
    }
  } catch {
    // The broadcast gave up or closed: the worker reports it and stops.
  }
  client.close();
}

/** One SSE frame; the data is JSON, so a message with newlines is still one `data:` line. */
export function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A small JSON error reply. */
export function reply(res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}
