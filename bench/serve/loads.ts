/**
 * The load processes of `bench/serve.ts` seen as one: the clients are split
 * evenly between them, their progress and their counts are added up.
 */
import type { ChildProcess } from "node:child_process";
import { deferred, type Deferred } from "../../lib/util/deferred.ts";
import { forkLoad, sleep } from "./procs.ts";
import { addInto, type ClientKind, type FromLoad, histogram, type LoadStats } from "./wire.ts";

type Progress = Extract<FromLoad, { type: "progress" }>;
type Stats = Extract<FromLoad, { type: "stats" }>;

/** What all the load processes counted, added up. */
export interface Totals extends LoadStats {
  closed: number;
  resyncs: number;
}

export interface Loads {
  pids: number[];
  /** Opens `clients` clients in all; resolves once each got its ready event, throws when one failed or `ms` passed. */
  connect(kind: ClientKind, port: number, channel: string, clients: number, ms: number): Promise<void>;
  /** Counts the deliveries of `step` from now on, and only those. */
  measure(step: number): Promise<void>;
  totals(): Promise<Totals>;
  close(): void;
}

export function startLoads(count: number): Loads {
  const children: ChildProcess[] = Array.from({ length: count }, forkLoad);
  const progress = new Map<ChildProcess, Progress>();
  const asked = new Map<ChildProcess, Deferred<Stats>>();
  for (const child of children) {
    child.on("message", (message: FromLoad) => {
      if (message.type === "progress") progress.set(child, message);
      else asked.get(child)?.resolve(message);
    });
  }
  const added = () => {
    const all = [...progress.values()];
    const total = (key: "ready" | "failed") => all.reduce((n, p) => n + p[key], 0);
    return { ready: total("ready"), failed: total("failed"), firstError: all.find((p) => p.firstError)?.firstError };
  };
  const ask = async (message: { type: "stats" } | { type: "measure"; step: number }): Promise<Stats[]> =>
    await Promise.all(children.map((child) => {
      const answer = deferred<Stats>();
      asked.set(child, answer);
      child.send(message);
      return answer.promise;
    }));

  return {
    pids: children.map((child) => child.pid!),
    async connect(kind, port, channel, clients, ms) {
      children.forEach((child, i) => {
        const share = Math.floor(clients / count) + (i < clients % count ? 1 : 0);
        child.send({ type: "connect", kind, port, channel, clients: share });
      });
      const deadline = performance.now() + ms;
      for (let now = added(); now.ready < clients; now = added()) {
        if (now.failed > 0) throw new Error(`${now.failed} of ${clients} ${kind} clients failed (${now.ready} ready); the first: ${now.firstError}`);
        if (performance.now() > deadline) throw new Error(`only ${now.ready} of ${clients} ${kind} clients were ready after ${ms} ms`);
        await sleep(100);
      }
    },
    async measure(step) {
      await ask({ type: "measure", step });
    },
    async totals() {
      const all = await ask({ type: "stats" });
      const latency = histogram();
      for (const one of all) addInto(latency, one.latency);
      const total = (key: "received" | "outOfOrder" | "closed" | "resyncs") => all.reduce((n, s) => n + s[key], 0);
      return {
        step: all[0].step,
        received: total("received"),
        outOfOrder: total("outOfOrder"),
        closed: total("closed"),
        resyncs: total("resyncs"),
        lastAt: Math.max(...all.map((s) => s.lastAt)),
        latency,
      };
    },
    close() {
      for (const child of children) child.kill("SIGKILL");
    },
  };
}
