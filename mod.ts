/**
 * streamcast: a broadcast backbone for horizontally scaled servers, as web
 * streams. Instances (workers, containers) publish strings on named channels
 * and read subscriptions as `ReadableStream<Frame>`, over Redis pub/sub,
 * Postgres LISTEN/NOTIFY, Kafka, or `memory://` within one process.
 *
 * Through a backbone outage it reconnects with bounded exponential backoff,
 * buffers outbound broadcasts and replays them after, and hands every
 * subscriber a resync frame so it re-fetches full state.
 *
 * @example Publish and receive on the in-process backbone
 * ```ts
 * import { Broadcast } from "./mod.ts";
 * await using broadcast = await Broadcast.connect("memory://");
 * const updates = broadcast.subscribe("policy").getReader();
 * await broadcast.publish("policy", JSON.stringify({ id: 1 }));
 * const { value } = await updates.read();
 * if (value?.type !== "event" || value.message !== '{"id":1}') throw new Error();
 * ```
 *
 * A `Broadcast` is a pipeline of web streams over a backend's `Link` (two
 * streams of batches, plus `subscribe`, `unsubscribe`, `ping` and `close`); the stages are
 * exported, to compose over a link of your own:
 *
 * - outbound: {@linkcode TickBatcher} gathers a tick's publishes into one
 *   {@linkcode outboundBatch}, {@linkcode ReplayBufferStream} passes batches
 *   to a link or keeps them while there is none, {@linkcode LinkSink} writes
 *   them to the link's writable and gives back what a lost link held;
 * - inbound: {@linkcode ResyncStream} passes the link's batches on and adds a
 *   resync frame per channel after a gap, {@linkcode FanOut} hands them to one
 *   bounded `ReadableStream` per subscriber.
 *
 * @example A pipeline of your own over a link
 * ```ts
 * import { FanOut, LinkSink, type OutboundBatch, outboundBatch, ReplayBufferStream, ResyncStream, TickBatcher } from "./mod.ts";
 * import { memoryHub } from "./backends/memory/mod.ts";
 * const link = await memoryHub("composed").connect();
 * await link.subscribe("news");
 *
 * // Inbound: the link's batches, a resync frame after a gap, one stream per subscriber.
 * const inbound = new ResyncStream();
 * const fanOut = new FanOut();
 * link.readable.pipeThrough(inbound).pipeTo(fanOut.writable).catch(() => {});
 * const news = fanOut.subscribe("news").getReader();
 *
 * // Outbound: a tick's publishes as one batch, kept while no link takes them, written to the link.
 * const outbound = new ReplayBufferStream();
 * const sink = new LinkSink({ giveBack: (batch) => outbound.giveBack(batch), onError: () => outbound.detach() });
 * outbound.readable.pipeTo(sink).catch(() => {});
 * const writer = outbound.writable.getWriter();
 * const batcher = new TickBatcher<OutboundBatch>({ create: () => outboundBatch(), flush: (batch) => void writer.write(batch) });
 * await outbound.attach(link.writable);
 *
 * const batch = batcher.current();
 * batch.frames.push({ type: "event", channel: "news", message: "hello" });
 * await batch.done; // acknowledged by the backbone
 * const { value } = await news.read();
 * if (value?.type !== "event" || value.message !== "hello") throw new Error();
 *
 * // A lost link opens a gap; once the channels are back, each subscriber gets a resync frame.
 * inbound.gap();
 * inbound.resync(fanOut.channels());
 * if ((await news.read()).value?.type !== "resync") throw new Error();
 * fanOut.close();
 * await link.close();
 * ```
 *
 * @module
 */
export { Broadcast } from "./lib/broadcast/broadcast.ts";
export type { BroadcastStats, DisconnectReport } from "./lib/broadcast/broadcast.ts";
export type { EventFrame, Frame, Recovery, ResyncFrame } from "./lib/contract/frame.ts";
export type { BroadcastOptions } from "./lib/broadcast/options.ts";
export type { EnvConfig, EnvOptions } from "./lib/broadcast/env.ts";
export { configFromEnv } from "./lib/broadcast/env.ts";
export type { BroadcastEventListener, BroadcastEventMap } from "./lib/broadcast/events.ts";
export type { State } from "./lib/connection/supervisor.ts";
export type { Backend, Connector, ConnectorContext, Direction, Link, Start } from "./lib/contract/link.ts";
export type { HistoryOptions } from "./lib/contract/link.ts";
export {
  AuthenticationError,
  BackboneUnavailableError,
  ChannelError,
  ClosedError,
  ConfigError,
  type ConfigIssue,
  GiveUpError,
  MessageError,
  PayloadTooLargeError,
  UnsupportedBackendError,
} from "./lib/contract/errors.ts";
export { comparePositions, epochOf, sameLog } from "./lib/contract/position.ts";
export { Origins } from "./lib/history/origins.ts";
export type { CatchUpTarget } from "./lib/history/catch_up.ts";
export { FanOut, type FanOutOptions, type SubscribeOptions, type Subscription } from "./lib/pipeline/fan_out.ts";
export { ReplayBufferStream, type ReplayBufferStreamOptions } from "./lib/pipeline/replay_buffer_stream.ts";
export { ResyncStream } from "./lib/pipeline/resync_stream.ts";
export { LinkSink, type LinkSinkOptions } from "./lib/pipeline/link_sink.ts";
export { type AttachMarker, type OutboundBatch, outboundBatch, type OutboundChunk } from "./lib/pipeline/outbound_batch.ts";
export { TickBatcher, type TickBatcherOptions } from "./lib/util/tick_batcher.ts";
export type { Clock } from "./lib/util/clock.ts";
export { type EventDetail, type TypedEventListener, TypedEventTarget } from "./lib/util/typed_event_target.ts";
export { maskUri } from "./lib/util/mask_uri.ts";
