/**
 * The processes of `bench/serve.ts`: the servers under test and the load
 * processes, each started in a process group of its own so that it and
 * everything it forked (cluster workers, tsx's helpers) are killed together
 * on every way out: the end, an error, Ctrl-C. Also what `/proc` tells of a
 * process: its RSS, its CPU time, its children.
 */
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { deferred } from "../../lib/util/deferred.ts";
import { freePort } from "../../scripts/dev/net.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));

const groups = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch { /* already gone */ }
}

/** Kills every process group this bench started; also run on exit, Ctrl-C and SIGTERM. */
export function killAll(): void {
  for (const child of groups) killGroup(child, "SIGKILL");
  groups.clear();
}
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping every process the bench started\n`);
    killAll();
    process.exit(130);
  });
}

function track(child: ChildProcess): ChildProcess {
  groups.add(child);
  child.once("exit", () => {
    // The leader is gone, but its workers may not be: kill the rest of the group.
    killGroup(child, "SIGKILL");
    groups.delete(child);
  });
  return child;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resident memory of `pid` in bytes (VmRSS). */
export function rss(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb ?? 0) * 1024;
}

/** CPU time of `pid` so far in ms, user and system. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime: fields 14 and 15
}

/** The Node processes `pid` forked (cluster workers), leaving out esbuild and other helpers. */
export function nodeChildren(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const listed = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    for (const child of listed === "" ? [] : listed.split(" ").map(Number)) {
      if (readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0")[0].endsWith("node")) pids.push(child);
    }
  }
  return pids;
}

export const sum = (pids: number[], measure: (pid: number) => number) => pids.reduce((total, pid) => total + measure(pid), 0);

/** A server under test, up and answering on every worker. */
export interface Server {
  port: number;
  /** Its worker pids. */
  workers: number[];
  log: string[];
  stop(): Promise<void>;
}

export interface ServerOptions {
  system: "streamcast" | "socketio";
  workers: number;
  uri: string;
  /** socket.io's Redis key prefix (its adapter's channels). */
  key: string;
  /** Write V8 CPU profiles of the primary and the workers here. */
  profileDir?: string;
}

/** Starts a server; throws with its log when it does not answer on all workers within `ms`. */
export async function startServer(options: ServerOptions, ms = 30_000): Promise<Server> {
  const port = await freePort();
  const { system, workers, uri } = options;
  const command = system === "streamcast"
    ? ["cli/main.ts", "serve", "--port", `${port}`, "--workers", `${workers}`, "--uri", uri]
    : ["bench/serve/socketio_server.ts", "--port", `${port}`, "--workers", `${workers}`, "--uri", uri, "--key", options.key];
  const profile = options.profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", options.profileDir];
  // serve reads its backbone from OPAL_* and UVICORN_* when no flag is given: none leak in from this shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^OPAL_|^UVICORN_/.test(key)));
  const child = track(spawn(process.execPath, [...profile, "--import", "tsx", ...command], { cwd: ROOT, env, detached: true, stdio: ["ignore", "ignore", "pipe"] }));
  const log: string[] = [];
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => log.push(...chunk.trimEnd().split("\n")));
  const exited = deferred<void>();
  child.once("exit", (code, signal) => exited.resolve());
  const stop = async () => {
    killGroup(child, "SIGTERM");
    const gone = await Promise.race([exited.promise.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) log.push("bench: the server did not stop within 10 s after SIGTERM: killed");
    killGroup(child, "SIGKILL");
  };
  const up = new Set<number>();
  const deadline = performance.now() + ms;
  while (up.size < workers) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${system} exited (${child.exitCode ?? child.signalCode}) before it answered; its log:\n${tail(log)}`);
    }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${system} did not answer /healthz on ${workers} workers within ${ms} ms (${up.size} did); its log:\n${tail(log)}`);
    }
    const health = await healthz(port);
    if (health !== undefined && (health.state === undefined || health.state === "up")) up.add(health.worker);
    else await sleep(100);
  }
  return { port, workers: nodeChildren(child.pid!), log, stop };
}

const tail = (log: string[]) => (log.length > 30 ? ["…", ...log.slice(-30)] : log).join("\n");

/** One `/healthz` on a new connection (so the cluster hands it to the next worker); undefined while none answers. */
function healthz(port: number): Promise<{ worker: number; state?: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 2_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk) => body += chunk).on("end", () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(body) : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on("error", () => resolve(undefined)).on("timeout", () => req.destroy());
  });
}

/** A load process (`load.ts`), forked with an IPC channel in a process group of its own. */
export function forkLoad(): ChildProcess {
  return track(fork(fileURLToPath(new URL("./load.ts", import.meta.url)), [], {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    detached: true,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  }));
}
