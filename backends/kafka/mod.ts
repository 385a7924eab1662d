/**
 * The `kafka://` backbone: Kafka through kafkajs (v2). A channel is a topic,
 * created on first use; a message is the record's value as UTF-8, with no key
 * and no envelope, so kcat and encode/broadcaster see plain messages.
 *
 * A link (`link.ts`) is an admin client, a producer and a consumer.
 * Broadcast, not work sharing: each link consumes in a consumer group of its
 * own (`groupIdPrefix` plus a random UUID), deleted when the link closes, so
 * every instance receives every message. Nothing is committed to Kafka: the
 * connector, one per Broadcast, keeps where its links stand in each topic,
 * and the next link resumes there — messages published while the backbone
 * was down are delivered after the gap (the resync frame still comes, except
 * in history mode). A topic subscribed for the first time starts at its end. A publish goes to
 * partition 0, so one instance's order is kept on a topic of several
 * partitions too. A record the broker refuses (too large) is reported to the
 * core through `ConnectorContext.dropped` and its write resolves.
 *
 * History mode (`?history=…`): a channel keeps what Kafka keeps of its
 * topic, by the topic's retention (`retention.ms`, `retention.bytes`); the
 * option's `messages` and `maxAge` do not change it. An event of partition 0,
 * where streamcast publishes, has its offset as `id`, and its publisher's
 * origin from a header. A reconnecting link resumes right after the last
 * event the core had, so the gap of an outage is filled, with no resync
 * frame; a subscriber that starts at a position, or that fell too far
 * behind, is filled by the link's `read`, which pages through partition 0
 * with a consumer of its own (`reader.ts`). A resync frame with
 * reason `gap` comes only when Kafka deleted the position to go on from:
 * the stream then goes on from the log start offset. A topic that never had
 * an event has no position before its first offset, 0: its subscription
 * resolves with none.
 *
 * kafkajs's retries are kept small and its consumer never restarts itself:
 * a crash, a disconnect or a failed request errors the link, and the core
 * reconnects. `ping()` asks the broker for the cluster's metadata, on a
 * connection of its own. Importing this module changes nothing in kafkajs:
 * the first connector applies the idle-loop fix of `kafkajs_idle_loop.ts`
 * to kafkajs 2.2.4 only, and {@linkcode kafkajsIdleLoopFixed} tells whether
 * it is in force.
 *
 * URI: `kafka://[user:password@]host:port[,host:port…]` with
 * `?sasl=plain|scram-sha-256|scram-sha-512&user=…&password=…&tls=true&ca=/path/ca.pem`;
 * `BroadcastOptions.backendOptions` as `config.ts` lists them (group
 * prefix, fetch wait, timeouts, retries, topic defaults, TLS options, message
 * size limit, kafkajs's log level).
 *
 * @module
 */
import { abortable } from "../../lib/util/abortable.ts";
import kafkajs from "kafkajs";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { Backend, Connector, Link } from "../../lib/contract/link.ts";
import { maskUri } from "../../lib/util/mask_uri.ts";
import { kafkaOptions } from "./config.ts";
import { connectorState } from "./groups.ts";
import { connectError, KafkaLink, type LinkParts } from "./link.ts";
import { LinkSockets } from "./sockets.ts";
import { fixKafkajsIdleLoop } from "./kafkajs_idle_loop.ts";

export { kafkajsIdleLoopFixed } from "./kafkajs_idle_loop.ts";

/**
 * Builds a connector for the Kafka cluster named by `uri`: it checks the URI
 * and settings (`ConfigError`), applies kafkajs's idle-loop fix where it
 * holds, and keeps the consumer positions and leftover groups from one link
 * to the next.
 */
export const kafka: Backend = (uri, context): Connector => {
  const { client, settings } = kafkaOptions(uri, context.settings);
  fixKafkajsIdleLoop();
  const state = connectorState();
  const where = maskUri(uri);
  const dropped = (frame: EventFrame, reason: unknown) => context.dropped(frame, reason, "outbound");
  return {
    open: (signal) => {
      const sockets = new LinkSockets();
      const driver = new kafkajs.Kafka({
        ...client,
        logLevel: LEVELS[settings.logLevel],
        socketFactory: sockets.factory,
        enforceRequestTimeout: false, // the sockets are destroyed instead: see sockets.ts
      });
      return openLink({ where, driver, sockets, settings, state, dropped, history: context.history !== undefined }, signal);
    },
    // Each link deletes its own group as it closes; what a lost link left behind is forgotten.
    close: () => {
      state.positions.clear();
      state.orphans.clear();
      return Promise.resolve();
    },
  };
};

export default kafka;

const LEVELS = { nothing: 0, error: 1, warn: 2, info: 4, debug: 5 } as const;

/** Opens one link: an admin client and a producer connected, a consumer once a channel is subscribed. */
async function openLink(parts: LinkParts, signal: AbortSignal): Promise<Link> {
  const link = new KafkaLink(parts);
  const abandon = () => void link.close();
  signal.addEventListener("abort", abandon, { once: true });
  try {
    await abortable(link.connect(), signal);
  } catch (error) {
    void link.close();
    if (signal.aborted) throw signal.reason;
    throw connectError(parts.where, parts.sockets.refused ?? error);
  } finally {
    signal.removeEventListener("abort", abandon);
  }
  return link;
}

