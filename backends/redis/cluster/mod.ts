/**
 * The `redis+cluster://` and `rediss+cluster://` backbone: a Redis (or
 * Valkey) Cluster through node-redis's single-node client, one pair of
 * connections per master the link needs.
 *
 * node-redis's cluster client is not used: it re-subscribes sharded channels
 * by itself after a topology change (behind the core's back, and without
 * telling which channels missed messages meanwhile), and each of its node
 * clients reconnects on its own. Here every shard is watched as the
 * single-node links are, and a lost shard is mended by the link itself, with
 * one resync frame for each of its channels and none for the others'.
 *
 * URI: `redis+cluster://[user:password@]host[:port][,host[:port]…][?ca=/path/to/ca.pem]`
 * names seed nodes; the topology is read from them and followed. Settings
 * are those of `redis://` ({@linkcode RedisClusterSettings}), `failoverTimeout`
 * and `nodeAddressMap`.
 *
 * Pub/sub mode is sharded pub/sub (`pubsub_link.ts`); history mode keeps a
 * stream per channel on its slot's master (`streams_link.ts`), as
 * `redis://` does on one server.
 *
 * @module
 */
import type { Backend, Connector, ConnectorContext, Link } from "../../../lib/contract/link.ts";
import { ConfigError } from "../../../lib/contract/errors.ts";
import { abortable } from "../../../lib/util/abortable.ts";
import { connectError } from "../config.ts";
import { clusterConfig } from "./config.ts";
import { openClusterPubSubLink } from "./pubsub_link.ts";
import { openClusterStreamsLink } from "./streams_link.ts";

export type { RedisClusterSettings } from "./config.ts";

/** Builds a connector whose links follow the cluster's topology, one shard at a time. */
export const redisCluster: Backend = (uri, context): Connector => ({ open: (signal) => openLink(uri, context, signal) });

export default redisCluster;

async function openLink(uri: URL, context: ConnectorContext, signal: AbortSignal): Promise<Link> {
  const config = await clusterConfig(uri, context.settings);
  const { history } = context;
  const opening: Promise<Link> = history ? openClusterStreamsLink(config, context, history) : openClusterPubSubLink(config, context);
  try {
    return await abortable(opening, signal);
  } catch (error) {
    opening.then((link) => link.close(), () => {});
    if (signal.aborted) throw signal.reason;
    // A seed that is no cluster node is said as it is: retrying cannot change it.
    if (error instanceof ConfigError) throw error;
    throw connectError(config.where, error);
  }
}
