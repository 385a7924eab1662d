/**
 * Helpers for the Redis tests: redis-server processes the tests own (started,
 * killed and restarted on the same port), a self-signed TLS setup made with
 * openssl, an admin connection, and redis-cli.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "redis";
import { sleep } from "./_support.ts";
import { freePort } from "./_net.ts";

const run = promisify(execFile);

/** A redis-server of the test's own, on a fixed port across restarts. */
export class RedisServer {
  readonly port: number;
  readonly #args: string[];
  readonly #tls: boolean;
  #child: ChildProcess | undefined;

  private constructor(port: number, args: string[], tls: boolean) {
    this.port = port;
    this.#args = args;
    this.#tls = tls;
  }

  /** Starts `redis-server` with `args` on a free port; with `tls`, that port speaks TLS only. */
  static async start(args: string[] = [], options: { tls?: boolean } = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), args, options.tls ?? false);
    await server.restart();
    return server;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the process again on the same port and waits until it accepts connections. */
  async restart(): Promise<void> {
    const port = this.#tls ? ["--port", "0", "--tls-port", String(this.port)] : ["--port", String(this.port)];
    const args = [...port, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", ...this.#args];
    const child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    let failed: Error | undefined;
    child.once("error", (error) => failed = error);
    child.once("exit", () => {
      if (this.#child === child) this.#child = undefined;
    });
    this.#child = child;
    const deadline = Date.now() + 10_000;
    while (!await accepts(this.port)) {
      if (failed || this.#child !== child) throw new Error(`redis-server did not start: ${failed?.message ?? "it exited"}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.port} within 10 s`);
      await sleep(20);
    }
  }

  /** Kills the process (SIGKILL: a crash, not a clean shutdown) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    this.#child = undefined;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A CA and a server certificate for `localhost`/127.0.0.1, made with openssl in a temp directory. */
export async function makeCertificates(): Promise<{ dir: string; ca: string; cert: string; key: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "streamcast-tls-"));
  const path = (name: string) => join(dir, name);
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "1", "-subj", "/CN=streamcast test CA"]);
  await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost"]);
  await writeFile(path("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await run("openssl", ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("server.pem"), "-days", "1", "-extfile", path("ext.cnf")]);
  return { dir, ca: path("ca.pem"), cert: path("server.pem"), key: path("server.key"), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A plain node-redis connection for inspecting and breaking things. */
export async function admin(port = 6379, password?: string): Promise<Admin> {
  const client = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false }, password, RESP: 2 });
  client.on("error", () => {});
  await client.connect();
  const send = <T>(args: string[]) => client.sendCommand(args) as Promise<T>;
  return {
    send,
    async numsub(channel) {
      const reply = await send<[string, number]>(["PUBSUB", "NUMSUB", channel]);
      return Number(reply[1]);
    },
    async kill(namePrefix) {
      const list = await send<string>(["CLIENT", "LIST"]);
      const ids = list.split("\n").flatMap((line) => {
        const id = /\bid=(\d+)/.exec(line)?.[1];
        const name = /\bname=(\S*)/.exec(line)?.[1] ?? "";
        return id && name.startsWith(namePrefix) ? [id] : [];
      });
      await Promise.all(ids.map((id) => send(["CLIENT", "KILL", "ID", id])));
      return ids.length;
    },
    close: async () => void client.destroy(),
  };
}

export interface Admin {
  send<T>(args: string[]): Promise<T>;
  /** Subscribers of `channel` on the server (PUBSUB NUMSUB). */
  numsub(channel: string): Promise<number>;
  /** CLIENT KILLs every connection whose name starts with `namePrefix`; returns how many. */
  kill(namePrefix: string): Promise<number>;
  close(): Promise<void>;
}

/** Runs `redis-cli` with `args` against 127.0.0.1:`port` and returns its output. */
export async function redisCli(args: string[], port = 6379): Promise<string> {
  const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args]);
  return stdout;
}

/** `redis-cli SUBSCRIBE channel` as a child process; resolves once Redis acknowledged it. */
export async function redisCliSubscriber(channel: string, port = 6379): Promise<{ next(): Promise<string>; stop(): void }> {
  const child = spawn("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "SUBSCRIBE", channel], { stdio: ["ignore", "pipe", "ignore"] });
  const lines = lineReader(child);
  // The acknowledgement: "subscribe", the channel, the count.
  for (let i = 0; i < 3; i++) await lines.next();
  return {
    // A message is three lines: "message", the channel, the payload.
    async next() {
      const kind = await lines.next();
      const from = await lines.next();
      const payload = await lines.next();
      if (kind !== "message" || from !== channel) throw new Error(`Unexpected redis-cli output: ${kind} ${from}`);
      return payload;
    },
    stop: () => void child.kill(),
  };
}

/** Reads a child's stdout line by line. */
export function lineReader(child: ChildProcess): { next(): Promise<string> } {
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let rest = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const line of parts) {
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  return {
    next: () => lines.length > 0 ? Promise.resolve(lines.shift()!) : new Promise((resolve) => waiting.push(resolve)),
  };
}
