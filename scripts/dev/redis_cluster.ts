/**
 * The shared Redis Cluster of tests and benchmarks (3 masters, 3 replicas on
 * 127.0.0.1:17000..17005, or from `STREAMCAST_REDIS_CLUSTER_PORT`), run
 * through `scripts/redis-cluster.sh`: started when it is not running, left
 * running for the next test, stopped by whoever needs the machine back (a
 * benchmark that started it; the test matrix for the runs). A test that breaks
 * it (kills, stalls, failovers, slot moves) leaves it healthy again
 * (`waitHealthy()` of `tests/fixtures/redis_cluster.ts`). A cluster that
 * cannot be started fails loudly.
 */
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../redis-cluster.sh", import.meta.url));

/** The shared cluster's first port; its nodes are this port and the next five. */
export const SHARED_CLUSTER_PORT = Number(process.env.STREAMCAST_REDIS_CLUSTER_PORT ?? 17000);

/** How many nodes the script starts: 3 masters and 3 replicas. */
export const CLUSTER_NODES = 6;

/** Runs `scripts/redis-cluster.sh` with `args`; rejects with its output when it fails. */
export function clusterScript(args: string[], timeout = 180_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [SCRIPT, ...args], { timeout }, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/redis-cluster.sh ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The shared cluster's seed addresses (`host:port`, every node), and whether this call started it. */
export interface SharedCluster {
  readonly seeds: readonly string[];
  readonly started: boolean;
}

/**
 * Starts the shared cluster unless it runs (nodes of it a test left killed
 * are started again), and waits until it is healthy. A port taken by anything
 * else fails, naming `STREAMCAST_REDIS_CLUSTER_PORT`.
 */
export async function startSharedCluster(): Promise<SharedCluster> {
  let output: string;
  try {
    output = await clusterScript(["start", "--port", String(SHARED_CLUSTER_PORT)]);
  } catch (error) {
    if (!/is taken by another process/.test(String(error))) throw error;
    throw new Error(`A port of the shared Redis Cluster (${SHARED_CLUSTER_PORT}..${SHARED_CLUSTER_PORT + CLUSTER_NODES - 1}, and +10000) is taken; set STREAMCAST_REDIS_CLUSTER_PORT`, { cause: error });
  }
  // The script says "already running" when it found the cluster up: then someone else owns its stop.
  const started = !output.includes("already running");
  const seeds = Array.from({ length: CLUSTER_NODES }, (_, i) => `127.0.0.1:${SHARED_CLUSTER_PORT + i}`);
  return { seeds, started };
}

/** Starts the shared cluster unless it runs; resolves with its seed addresses. */
export async function sharedCluster(): Promise<readonly string[]> {
  return (await startSharedCluster()).seeds;
}

/** Stops the shared cluster and removes its state (at once if it is not running). */
export function stopSharedCluster(): Promise<string> {
  return clusterScript(["stop", "--port", String(SHARED_CLUSTER_PORT)]);
}
