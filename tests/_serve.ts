/**
 * Helpers for the `streamcast serve` tests: spawning the real command, an SSE
 * client over plain `node:http` (a new TCP connection each, so the cluster
 * spreads them over its workers), and small HTTP calls.
 */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { eventually, within } from "./_support.ts";
export { freePort } from "./_net.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A running `streamcast serve` process. */
export interface Serve {
  child: ChildProcess;
  /** Its stderr so far, line by line. */
  log: string[];
  exited: Promise<number | null>;
  /** Resolves once a stderr line matches `pattern`; the match. */
  waitLog(pattern: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | null>;
}

// Every serve process a test started, with the pids of its live workers, for `killServes`.
const spawned = new Map<ChildProcess, Set<number>>();

/**
 * Kills (SIGKILL) every serve process the tests started that is still
 * running, and its workers: call it from an `after` hook, so that a failed
 * test leaves nothing behind to keep `node --test` from exiting.
 */
export function killServes(): void {
  for (const child of spawned.keys()) kill(child);
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const pid of spawned.get(child) ?? []) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
  spawned.delete(child);
}

function spawnServe(args: string[], env: Record<string, string>): { child: ChildProcess; log: string[] } {
  const node = "Deno" in globalThis ? "node" : process.execPath;
  const child = spawn(node, ["--import", "tsx", "cli/main.ts", "serve", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...cleanEnv(), ...env },
  });
  const workers = new Set<number>();
  spawned.set(child, workers);
  child.once("exit", () => spawned.delete(child));
  const log: string[] = [];
  let partial = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    log.push(...lines);
    // The primary names each worker it starts and each that exits: kill only the live ones.
    for (const line of lines) {
      const [, pid, what] = /primary \d+\]: worker (\d+) (listening|exited)/.exec(line) ?? [];
      if (what === "listening") workers.add(Number(pid));
      else if (what === "exited") workers.delete(Number(pid));
    }
  });
  return { child, log };
}

/**
 * Spawns `streamcast serve` with `args` under Node (the command is a Node
 * program: node:cluster), from the sources through tsx: the dispatcher
 * `cli/main.ts`.
 */
export function startServe(args: string[], env: Record<string, string> = {}): Serve {
  const { child, log } = spawnServe(args, env);
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const serve: Serve = {
    child,
    log,
    exited,
    async waitLog(pattern, ms = 15_000, from = 0) {
      let match: RegExpMatchArray | null = null;
      await eventually(() => (match = log.slice(from).map((l) => l.match(pattern)).find(Boolean) ?? null) !== null, ms, `a log line matching ${pattern}`)
        .catch((error) => {
          throw new Error(`${error.message}; the log:\n${log.join("\n")}`);
        });
      return match!;
    },
    async stop(signal = "SIGTERM", ms = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return await within(exited, ms, `serve to exit after ${signal}; its log:\n${log.join("\n")}`).catch((error) => {
        kill(child);
        throw error;
      });
    },
  };
  return serve;
}

/** Runs `streamcast serve` to completion (bad arguments, --help); its code and output. */
export async function runServe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child } = spawnServe(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk) => stdout += chunk);
  child.stderr!.on("data", (chunk) => stderr += chunk);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const code = await within(exited, 20_000, `serve ${args.join(" ")} to exit`).catch((error) => {
    kill(child);
    throw new Error(`${error.message}; its stderr:\n${stderr}`);
  });
  return { code, stdout, stderr };
}

// The tests say what they configure: none of the OPAL_BROADCAST_* variables leak in from the caller.
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key, value]) => value !== undefined && !/^OPAL_|^UVICORN_/.test(key)),
  ) as Record<string, string>;
}

/** One SSE event as received. */
export interface SseEvent {
  event: string;
  data: string;
  at: number;
}

/** An event-stream reader: what it received, and when the server ended it. */
export class SseClient {
  readonly events: SseEvent[] = [];
  worker = 0;
  status = 0;
  endedAt = 0;
  readonly ended: Promise<void>;
  readonly #request: http.ClientRequest;
  #response: http.IncomingMessage | undefined;

  constructor(port: number, channels: string[], headers: Record<string, string> = {}) {
    const query = channels.map((channel) => `channel=${encodeURIComponent(channel)}`).join("&");
    let markEnded!: () => void;
    this.ended = new Promise((resolve) => markEnded = resolve);
    const end = () => {
      this.endedAt ||= Date.now();
      markEnded();
    };
    this.#request = http.get({ host: "127.0.0.1", port, path: `/subscribe?${query}`, headers, agent: false }, (res) => {
      this.status = res.statusCode ?? 0;
      this.#response = res;
      let buffer = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        buffer += chunk;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          this.#frame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      });
      res.on("end", end).on("close", end).on("error", end);
    });
    this.#request.on("error", end);
  }

  #frame(block: string): void {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      const worker = /^: streamcast worker (\d+)/.exec(line);
      if (worker) this.worker = Number(worker[1]);
      else if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length > 0) this.events.push({ event, data: data.join("\n"), at: Date.now() });
  }

  /** The messages received, in order. */
  messages(): string[] {
    return this.events.filter((e) => e.event === "message").map((e) => JSON.parse(e.data).message);
  }

  /** Resolves once the server said the subscriptions are acknowledged by the backbone. */
  ready(ms = 10_000): Promise<void> {
    return eventually(() => this.events.some((e) => e.event === "ready"), ms, `the "ready" event (status ${this.status})`);
  }

  /** Resolves once every one of `messages` arrived. */
  received(messages: string[], ms = 10_000): Promise<void> {
    return eventually(() => messages.every((m) => this.messages().includes(m)), ms, `worker ${this.worker}'s client to receive ${messages.join(", ")}`)
      .catch((error) => {
        throw new Error(`${error.message}; it got ${JSON.stringify(this.events.map((e) => e.event + " " + e.data))}`);
      });
  }

  /** Stops reading, as a frozen tab does: once its socket's buffers are full, the server's writes back up. */
  pause(): void {
    this.#response?.pause();
  }

  /** Reads again. */
  resume(): void {
    this.#response?.resume();
  }

  close(): void {
    this.#request.destroy();
  }
}

/** Sends `text` as is on a fresh connection; all the server answered until it closed the connection. */
export function rawRequest(port: number, text: string, ms = 10_000): Promise<string> {
  const socket = net.connect({ host: "127.0.0.1", port }, () => socket.write(text));
  let answer = "";
  socket.setEncoding("utf8").on("data", (chunk: string) => answer += chunk);
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(answer)).once("error", () => {}));
  return within(closed, ms, `the answer to ${JSON.stringify(text)}`).finally(() => socket.destroy());
}

/** An answer: its status, its headers, and its body parsed as JSON (status 0 when the connection was refused). */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
}

/** One HTTP request on a fresh connection, with `headers` added to Node's own. */
export function request(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk) => text += chunk);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: parse(text) }));
    });
    req.on("error", (error) => resolve({ status: 0, headers: {}, json: { error: error.message } }));
    req.end(body);
  });
}

function parse(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

/** Publishes `message` on `channel` through the server at `port`. */
export async function publish(port: number, channel: string, message: string, headers: Record<string, string> = {}): Promise<Answer> {
  return await request(port, "POST", `/publish/${encodeURIComponent(channel)}`, message, headers);
}

/** Resolves once `/healthz` at `port` answers `state`. */
export function healthIs(port: number, state: string, ms = 15_000): Promise<void> {
  let last = "";
  return eventually(async () => {
    const { status, json } = await request(port, "GET", "/healthz");
    last = `${status} ${JSON.stringify(json)}`;
    return json.state === state;
  }, ms, `/healthz on ${port} to say ${state}`).catch((error) => {
    throw new Error(`${error.message}; last answer: ${last}`);
  });
}
