/**
 * How a link learns a Redis Cluster's topology: it asks the nodes it knows,
 * one after the other, for `CLUSTER SLOTS`, on a short-lived connection, and
 * takes the first answer. The first connection of a link is this question,
 * so it is also where credentials are refused and where a server that is not
 * a cluster node is told apart.
 *
 * @module
 */
import { ConfigError, configIssue } from "../../../lib/contract/errors.ts";
import type { Clock } from "../../../lib/util/clock.ts";
import { redisClient } from "../config.ts";
import type { ClusterConfig } from "./config.ts";
import { within } from "./shard.ts";
import { type Address, hostAndPort, SlotMap } from "./slots.ts";

/** The part of a node-redis client discovery uses. */
interface Client {
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: "error", listener: (error: unknown) => void): unknown;
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * The slot map told by the first of `nodes` that answers within `timeout`
 * ms each; rejects with the last node's failure when none does. A node that
 * answers that it is not in cluster mode is a configuration error.
 */
export async function discover(config: ClusterConfig, nodes: readonly Address[], clock: Clock, timeout: number): Promise<SlotMap> {
  let failure: unknown = new Error("no node to ask");
  for (const address of nodes) {
    try {
      return await ask(config, address, clock, timeout);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      failure = error;
      // Credentials refused by one node are refused by all: no use going round.
      if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(String((error as Error)?.message))) throw error;
    }
  }
  throw failure;
}

async function ask(config: ClusterConfig, address: Address, clock: Clock, timeout: number): Promise<SlotMap> {
  const { host, port } = hostAndPort(address);
  const socket = { ...config.redis.client.socket, host, port, ...("servername" in config.redis.client.socket ? { servername: host } : {}) };
  const client = redisClient({ ...config.redis.client, socket, name: `${config.redis.name}:topology` }) as unknown as Client;
  let lost: (error: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => lost = reject);
  failed.catch(() => {});
  client.on("error", (error) => lost(error));
  try {
    const reply = await within(Promise.race([client.connect().then(() => client.sendCommand(["CLUSTER", "SLOTS"])), failed]), clock, timeout, `CLUSTER SLOTS at ${address}`);
    return SlotMap.parse(reply, host, config.reach);
  } catch (error) {
    if (/cluster support disabled/i.test(String((error as Error)?.message))) {
      throw new ConfigError([configIssue("URI", "the address of a Redis Cluster node (for a single server, use redis://)", `${address}, a server with cluster support disabled`)]);
    }
    throw error;
  } finally {
    client.destroy();
  }
}
