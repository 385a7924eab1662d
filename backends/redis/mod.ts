/**
 * The `redis://` and `rediss://` backbone: Redis pub/sub through node-redis
 * (the `redis` package, v6).
 *
 * A link is two connections: a dedicated subscriber and a publisher. The
 * client's own reconnect is switched off (`reconnectStrategy: false`) and a
 * `reconnecting` event is treated as a loss, so node-redis never re-subscribes
 * behind the core's back: every loss errors the link's readable and rejects
 * its writes, and the core re-subscribes from its own registry.
 *
 * URI: `redis[s]://[user:password@]host[:port][/db][?ca=/path/to/ca.pem]`.
 * TLS (`rediss://`) verifies the server against the system's CAs, or against
 * the PEM file named by the `ca` query parameter. `BroadcastOptions.backendOptions`
 * takes {@linkcode RedisSettings}: `tls` ({@linkcode TlsOptions}), `clientName`, `resp`.
 *
 * The connector holds nothing between links. A broadcast Redis refuses for
 * good (an error reply to PUBLISH, such as `NOPERM`) is reported to the core
 * through `ConnectorContext.dropped` and its write resolves.
 *
 * In history mode (`ConnectorContext.history` set) a link uses Redis streams
 * instead (Redis 7 or later): one stream per channel, keyed by the channel's
 * name, with the payload in the field `message`; a publish is
 * `XADD <channel> MAXLEN ~ <messages> * message <payload> origin <origin>`
 * (the origin lets the core drop a publish sent twice), so that
 * `redis-cli XADD news '*' message hi` publishes and `XRANGE news - +` reads.
 * An event's `id` is its stream ID. The link's two connections are a reader
 * blocked in `XREAD` and a writer; see `streams_link.ts`. Both modes share
 * one link life (`link_life.ts`); pub/sub mode is `pubsub_link.ts`.
 *
 * @module
 */
import type { Backend, Connector, ConnectorContext, Link } from "../../lib/contract/link.ts";
import { openPubSubLink } from "./pubsub_link.ts";
import { openStreamsLink } from "./streams_link.ts";

export type { RedisSettings } from "./config.ts";
export { redisCluster, type RedisClusterSettings } from "./cluster/mod.ts";
export type { Pem, TlsOptions } from "../tls/options.ts";

/**
 * Builds a connector whose links are a subscriber and a publisher connection,
 * or in history mode a stream reader and a writer.
 */
export const redis: Backend = (uri, context): Connector => ({ open: (signal) => openLink(uri, context, signal) });

export default redis;

/** Opens one link in the mode the context asks for. */
function openLink(uri: URL, context: ConnectorContext, signal: AbortSignal): Promise<Link> {
  const { history } = context;
  return history ? openStreamsLink(uri, context, history, signal) : openPubSubLink(uri, context, signal);
}
