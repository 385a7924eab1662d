/**
 * Helpers for the `streamcast serve` tests: spawning the real command, an SSE
 * client over plain `node:http` (a new TCP connection each, so the cluster
 * spreads them over its workers), and small HTTP calls.
 */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
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

/**
 * Spawns `streamcast serve` with `args` under Node (the command is a Node
 * program: node:cluster), from the sources through tsx: the dispatcher
 * `cli/main.ts`.
 */
export function startServe(args: string[], env: Record<string, string> = {}): Serve {
  const node = "Deno" in globalThis ? "node" : process.execPath;
  const child = spawn(node, ["--import", "tsx", "cli/main.ts", "serve", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...cleanEnv(), ...env },
  });
  const log: string[] = [];
  let partial = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    log.push(...lines);
  });
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
      return await within(exited, ms, `serve to exit after ${signal}; its log:\n${log.join("\n")}`);
    },
  };
  return serve;
}

/** Runs `streamcast serve` to completion (bad arguments, --help); its code and output. */
export async function runServe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const node = "Deno" in globalThis ? "node" : process.execPath;
  const child = spawn(node, ["--import", "tsx", "cli/main.ts", "serve", ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => stdout += chunk);
  child.stderr.setEncoding("utf8").on("data", (chunk) => stderr += chunk);
  const code = await within(new Promise<number | null>((resolve) => child.once("exit", resolve)), 20_000, `serve ${args.join(" ")} to exit`);
  return { code, stdout, stderr };
}

// The tests say what they configure: none of the seed's variables leak in from the caller.
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

  constructor(port: number, channels: string[]) {
    const query = channels.map((channel) => `channel=${encodeURIComponent(channel)}`).join("&");
    let markEnded!: () => void;
    this.ended = new Promise((resolve) => markEnded = resolve);
    const end = () => {
      this.endedAt ||= Date.now();
      markEnded();
    };
    this.#request = http.get({ host: "127.0.0.1", port, path: `/subscribe?${query}`, agent: false }, (res) => {
      this.status = res.statusCode ?? 0;
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

  close(): void {
    this.#request.destroy();
  }
}

/** One HTTP request on a fresh connection; the status and the parsed JSON body (status 0 when refused). */
export function request(port: number, method: string, path: string, body?: string | Buffer): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk) => text += chunk);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: parse(text) }));
    });
    req.on("error", (error) => resolve({ status: 0, json: { error: error.message } }));
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
export async function publish(port: number, channel: string, message: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return await request(port, "POST", `/publish/${encodeURIComponent(channel)}`, message);
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
