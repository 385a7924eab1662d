/**
 * The cluster primary of `streamcast serve`: it forks the workers (which share
 * the listening port), starts a new one when a worker exits on its own (the
 * backbone was given up, or it crashed), with a growing delay if they keep
 * dying young, and on SIGTERM/SIGINT asks every worker to stop and exits 0.
 * Private to the serve command.
 */
import cluster, { type Worker } from "node:cluster";
import { extname } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { maskUri } from "../../mod.ts";
import type { ServeConfig } from "./config.ts";
import { isLoopback } from "../../lib/sse/checks.ts";
import { answerConfig, workerEnv } from "./ipc.ts";

/** A worker that lived less than this is "young": its replacement waits longer. */
const YOUNG = 10_000;
const FIRST_RESTART_DELAY = 500;
const MAX_RESTART_DELAY = 10_000;
/** How long stopping workers get before they are killed. */
const STOP_TIMEOUT = 10_000;
/** What a worker exits with when retrying cannot help (see `EXIT` in worker.ts). */
const FATAL_EXIT = 3;

const log = (line: string) => process.stderr.write(`streamcast serve[primary ${process.pid}]: ${maskUri(line)}\n`);

/** Runs the primary until it is stopped; resolves with the exit code. */
export function runPrimary(config: ServeConfig): Promise<number> {
  // The worker module sits beside this one: .ts from the sources, .js once built.
  const exec = fileURLToPath(new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  cluster.setupPrimary({ exec, args: [] });
  const env = workerEnv(process.env);
  const started = new Map<number, number>(); // worker id → start time
  const why = new Map<number, string>(); // worker id → what it told us before exiting
  let restartDelay = FIRST_RESTART_DELAY;
  let stopping = false;
  let exitCode = 0;
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => done = resolve);

  const fork = () => {
    const worker = cluster.fork(env);
    answerConfig(worker, config);
    started.set(worker.id, Date.now());
    worker.on("message", (message: { type?: string; reason?: string }) => {
      if (message?.type === "giveup" || message?.type === "fatal") why.set(worker.id, `${message.type}: ${message.reason}`);
    });
  };
  const stopAll = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log(`stopping ${Object.keys(cluster.workers ?? {}).length} workers (${reason})`);
    for (const worker of liveWorkers()) {
      if (worker.isConnected()) worker.send({ type: "shutdown" });
      else worker.process.kill("SIGTERM");
    }
    setTimeout(() => {
      for (const worker of liveWorkers()) worker.process.kill("SIGKILL");
    }, STOP_TIMEOUT).unref();
    if (liveWorkers().length === 0) done(exitCode);
  };

  cluster.on("listening", (worker, address) => {
    log(`worker ${worker.process.pid} listening on http://${hostPort(address.address ?? config.host, address.port)}`);
  });
  cluster.on("exit", (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker.id) ?? 0);
    const reason = why.get(worker.id) ?? (signal ? `signal ${signal}` : `code ${code}`);
    started.delete(worker.id);
    if (stopping) {
      if (liveWorkers().length === 0) done(exitCode);
      return;
    }
    if (reason.startsWith("fatal") || code === FATAL_EXIT) {
      log(`worker ${worker.process.pid} exited with code ${code} (${reason}): retrying cannot help`);
      return stopAll("a worker hit a fatal error", 1);
    }
    // Restart at once after a long life; back off while workers keep dying young.
    const delay = lived < YOUNG ? restartDelay : 0;
    restartDelay = lived < YOUNG ? Math.min(restartDelay * 2, MAX_RESTART_DELAY) : FIRST_RESTART_DELAY;
    log(`worker ${worker.process.pid} exited with code ${code} (${reason}); starting a new worker in ${delay} ms`);
    setTimeout(() => stopping || fork(), delay);
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log(`${signal} again: killing the workers`);
      for (const worker of liveWorkers()) worker.process.kill("SIGKILL");
      return done(130);
    }
    stopAll(signal, 0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const plural = config.workers === 1 ? "worker" : "workers";
  log(`starting ${config.workers} ${plural} on http://${hostPort(config.host, config.port)}, backbone ${maskUri(config.uri)}`);
  const { auth } = config.security;
  if (!isLoopback(config.host) && auth.token === undefined && auth.jwt === undefined) {
    log(`--insecure: no token is required, so anyone who reaches ${config.host} can publish`);
  }
  for (let i = 0; i < config.workers; i++) fork();
  return finished.finally(() => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    log(`stopped`);
  });
}

function liveWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && !worker.isDead());
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
