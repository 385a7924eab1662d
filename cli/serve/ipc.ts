/**
 * How a serve worker gets its configuration: it asks the primary over the
 * cluster's IPC channel, and the primary answers it there. The configuration
 * holds the backbone URI and the token, so it never travels in the
 * environment or the command line, which any process of the same user can
 * read (`/proc/<pid>/environ`, `/proc/<pid>/cmdline`); nor do the variables it
 * was read from. Private to the serve command.
 */
import type { Worker } from "node:cluster";
import process from "node:process";
import type { ServeConfig } from "./config.ts";

const ASK = "config?";
const ANSWER = "config";

/**
 * The environment of a worker, as `cluster.fork` takes it: the primary's own,
 * minus the variables that configure serve (an `undefined` value is left out).
 */
export function workerEnv(env: Record<string, string | undefined>): Record<string, undefined> {
  return Object.fromEntries(Object.keys(env).filter((key) => /^(OPAL_|UVICORN_|STREAMCAST_)/.test(key)).map((key) => [key, undefined]));
}

/** Answers `worker`'s request for its configuration with `config`. */
export function answerConfig(worker: Worker, config: ServeConfig): void {
  worker.on("message", (message: { type?: string }) => {
    if (message?.type === ASK && worker.isConnected()) worker.send({ type: ANSWER, config });
  });
}

/**
 * Asks the primary for the configuration; resolves with it, or with `null`
 * when this process is no serve worker or the primary is gone before answering.
 */
export function receiveConfig(): Promise<ServeConfig | null> {
  const send = process.send?.bind(process);
  if (send === undefined || !process.connected) return Promise.resolve(null);
  return new Promise((resolve) => {
    const done = (config: ServeConfig | null) => {
      process.off("message", onMessage).off("disconnect", onDisconnect);
      resolve(config);
    };
    const onMessage = (message: { type?: string; config?: ServeConfig }) => {
      if (message?.type === ANSWER && message.config !== undefined) done(message.config);
    };
    const onDisconnect = () => done(null);
    process.on("message", onMessage).on("disconnect", onDisconnect);
    send({ type: ASK });
  });
}
