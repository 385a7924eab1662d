/**
 * A load process of `bench/serve.ts` (forked with an IPC channel): it opens
 * the clients it is told to, at most `OPENING` at a time, and counts the
 * deliveries of the step being measured — sequence order per client and
 * publish → receive latency. Event streams are raw `node:net` sockets that
 * write one HTTP/1.1 GET and scan the bytes; socket.io clients are either
 * `ws` sockets speaking the engine.io / socket.io text protocol just enough
 * (open, ping → pong, connect, events) or `socket.io-client` itself.
 */
import net from "node:net";
import process from "node:process";
import { io } from "socket.io-client";
import { WebSocket } from "ws";
import { deferred } from "../../lib/util/deferred.ts";
import { type FromLoad, histogram, type LoadStats, now, parseMessage, record, type ToLoad } from "./wire.ts";

/** Connections being opened at once: a burst beyond the listen backlog costs SYN retries of a second or more. */
const OPENING = 200;

let ready = 0;
let failed = 0;
let closed = 0;
let resyncs = 0;
let firstError: string | undefined;
let last = new Float64Array(0);
let stats: LoadStats = { step: -1, received: 0, outOfOrder: 0, lastAt: 0, latency: histogram() };

const send = (message: FromLoad) => process.send?.(message);
const fail = (why: string) => {
  failed++;
  firstError ??= why;
};

/** One delivery to `client` of the message at `at` in `text`, received at `t`. */
function deliver(client: number, text: string, at: number, t: number): void {
  const { step, seq, sent } = parseMessage(text, at);
  if (step !== stats.step) return;
  stats.received++;
  if (seq <= last[client]) stats.outOfOrder++;
  last[client] = seq;
  stats.lastAt = t;
  record(stats.latency, t - sent);
}

/** An event stream read from a raw socket; resolves when it is ready or failed. */
function openSse(client: number, port: number, channel: string): Promise<void> {
  const { promise, resolve } = deferred();
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  let buffer = "";
  let answered = false;
  let isReady = false;
  socket.on("connect", () => {
    socket.write(`GET /subscribe?channel=${encodeURIComponent(channel)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  });
  socket.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("latin1");
    if (!answered) {
      answered = true;
      if (!buffer.startsWith("HTTP/1.1 200")) {
        fail(`GET /subscribe answered ${JSON.stringify(buffer.slice(0, buffer.indexOf("\r")))}`);
        socket.destroy();
        return resolve();
      }
    }
    // Frames end with a blank line; the chunked encoding's size lines sit between frames and are skipped.
    let start = 0;
    let t = 0;
    for (let end; (end = buffer.indexOf("\n\n", start)) >= 0; start = end + 2) {
      const at = buffer.indexOf("event: ", start);
      if (at < 0 || at > end) continue;
      if (buffer.startsWith("message", at + 7)) {
        const text = buffer.indexOf('"message":"', at);
        if (text >= 0 && text < end) deliver(client, buffer, text + 11, t ||= now());
      } else if (buffer.startsWith("ready", at + 7)) {
        isReady = true;
        ready++;
        resolve();
      } else if (buffer.startsWith("resync", at + 7)) {
        resyncs++;
      }
    }
    buffer = buffer.slice(start);
  });
  socket.on("error", (error) => firstError ??= error.message);
  socket.on("close", () => {
    if (isReady) closed++;
    else fail(firstError ?? "the event stream closed before its ready event");
    resolve();
  });
  return promise;
}

/** A socket.io client as a bare WebSocket: engine.io v4 text packets, socket.io v5 events. */
function openRawSocketIo(client: number, port: number, room: string): Promise<void> {
  const { promise, resolve } = deferred();
  const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket&room=${encodeURIComponent(room)}`;
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let isReady = false;
  ws.on("message", (data: Buffer) => {
    const text = data.toString("latin1");
    if (text.startsWith('42["m","')) deliver(client, text, 8, now());
    else if (text === "2") ws.send("3"); // ping → pong
    else if (text.startsWith("0{")) ws.send("40"); // engine.io open → connect the main namespace
    else if (text.startsWith('42["ready"')) {
      isReady = true;
      ready++;
      resolve();
    } else if (text.startsWith("44")) {
      fail(`socket.io refused the connection: ${text}`);
      ws.close();
    }
  });
  ws.on("error", (error) => firstError ??= error.message);
  ws.on("close", () => {
    if (isReady) closed++;
    else fail(firstError ?? "the WebSocket closed before the ready event");
    resolve();
  });
  return promise;
}

/** A socket.io client as an application would open it (WebSocket only). */
function openSocketIoClient(client: number, port: number, room: string): Promise<void> {
  const { promise, resolve } = deferred();
  const socket = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false, query: { room } });
  let isReady = false;
  socket.on("m", (text: string) => deliver(client, text, 0, now()));
  socket.on("ready", () => {
    isReady = true;
    ready++;
    resolve();
  });
  socket.on("connect_error", (error) => {
    fail(error.message);
    resolve();
  });
  socket.on("disconnect", (reason) => {
    if (isReady) closed++;
    else fail(`disconnected before the ready event: ${reason}`);
    resolve();
  });
  return promise;
}

const OPEN = { "sse": openSse, "socketio-raw": openRawSocketIo, "socketio-client": openSocketIoClient };

async function connect({ kind, port, channel, clients }: Extract<ToLoad, { type: "connect" }>): Promise<void> {
  last = new Float64Array(clients).fill(-1);
  let next = 0;
  const worker = async () => {
    while (next < clients) await OPEN[kind](next++, port, channel);
  };
  await Promise.all(Array.from({ length: Math.min(OPENING, clients) }, worker));
}

const progress = () => send({ type: "progress", ready, failed, closed, resyncs, firstError });
setInterval(progress, 200);

process.on("message", (message: ToLoad) => {
  if (message.type === "connect") void connect(message).then(progress);
  else {
    if (message.type === "measure") {
      last.fill(-1);
      stats = { step: message.step, received: 0, outOfOrder: 0, lastAt: 0, latency: histogram() };
    }
    send({ type: "stats", closed, resyncs, ...stats });
  }
});
process.on("disconnect", () => process.exit(0));
