/**
 * A Redis Cluster link's configuration: the node-redis options every node's
 * connections share (from the URI and settings, as for `redis://`), the seed
 * nodes, and how long a shard may stay unreachable.
 *
 * @module
 */
import * as v from "valibot";
import { toConfigIssues } from "../../../lib/contract/config.ts";
import { ConfigError } from "../../../lib/contract/errors.ts";
import { maskUri } from "../../../lib/util/mask_uri.ts";
import { type RedisConfig, redisConfig, type RedisSettings } from "../config.ts";
import { RedisClusterSettingsSchema } from "../rules.ts";
import type { Address } from "./slots.ts";

/** What `BroadcastOptions.backendOptions` may hold for `redis+cluster://` and `rediss+cluster://`. */
export interface RedisClusterSettings extends RedisSettings {
  /**
   * How long, in milliseconds, a shard may stay unreachable (no node serves
   * its slots, or its master does not answer) before the whole link is
   * given up and the core reconnects, resyncing every channel. Publishes
   * wait meanwhile (all of them: the link's writes are one ordered stream). Above the cluster's `cluster-node-timeout`
   * plus its failover time, so that a failover is mended inside the link.
   * @default {30000}
   */
  failoverTimeout?: number;
  /**
   * History mode: how many replicas must have each batch of appends before
   * its publishes resolve (`WAIT <n> <waitTimeout>` after them). With 1, a
   * master that fails after acknowledging loses nothing its replica did not
   * have; a batch that fewer replicas took within `waitTimeout` is sent
   * again (stored once), and after `failoverTimeout` the link is given up.
   * 0 does not wait: a failover may lose the last acknowledged appends.
   * @default {0}
   */
  waitForReplicas?: number;
  /** How long one `WAIT` may take, in milliseconds. @default {1000} */
  waitTimeout?: number;
  /**
   * Where to reach a node at, by the `host:port` it announces (in
   * `CLUSTER SLOTS` and redirections): for a cluster behind NAT or in
   * containers, whose nodes announce addresses the clients cannot reach.
   * @default {{}}
   */
  nodeAddressMap?: Record<string, string>;
}

/** What every part of a cluster link reads. */
export interface ClusterConfig {
  /** The options of each node's connections (host and port replaced per node). */
  readonly redis: RedisConfig;
  /** The nodes first asked for the topology. */
  readonly seeds: readonly Address[];
  /** The URI, password masked, for messages. */
  readonly where: string;
  readonly failoverTimeout: number;
  /** History mode: replicas each batch waits for, and for how long at most (`WAIT`). */
  readonly wait: { readonly replicas: number; readonly timeout: number };
  /** Where to reach the node that announces `address` (`nodeAddressMap`, else the address itself). */
  reach(address: Address): Address;
}

/** Reads the URI and settings; throws `ConfigError` naming everything that is wrong. */
export async function clusterConfig(uri: URL, settings: Readonly<Record<string, unknown>>): Promise<ClusterConfig> {
  const parsed = v.safeParse(RedisClusterSettingsSchema, settings);
  if (!parsed.success) throw new ConfigError(toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`));
  const { failoverTimeout, nodeAddressMap, waitForReplicas, waitTimeout, ...rest } = parsed.output;
  // One node's URI, as redis:// reads it: the cluster's scheme, path and seed list aside.
  const node = new URL(uri.href.replace(/^(rediss?)\+cluster:/i, "$1:"));
  node.searchParams.delete("nodes");
  node.pathname = "";
  const redis = await redisConfig(node, rest);
  const port = uri.port || "6379";
  const seeds = uri.searchParams.get("nodes")?.split(",").map((seed) => /:\d+$/.test(seed) ? seed : `${seed}:6379`) ??
    [`${uri.hostname || "localhost"}:${port}`];
  const reach = (address: Address) => nodeAddressMap[address] ?? address;
  return { redis, seeds, where: maskUri(uri), failoverTimeout, wait: { replicas: waitForReplicas, timeout: waitTimeout }, reach };
}
