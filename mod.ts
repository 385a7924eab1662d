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
 * @module
 */
export { Broadcast } from "./lib/broadcast/broadcast.ts";
export type { BroadcastStats, DisconnectReport } from "./lib/broadcast/broadcast.ts";
export type { EventFrame, Frame, ResyncFrame } from "./lib/contract/frame.ts";
export type { BroadcastOptions } from "./lib/broadcast/options.ts";
export type { EnvConfig, EnvOptions } from "./lib/broadcast/env.ts";
export { configFromEnv } from "./lib/broadcast/env.ts";
export type { BroadcastEventListener, BroadcastEventMap } from "./lib/broadcast/events.ts";
export type { State } from "./lib/connection/supervisor.ts";
export type { Backend, Connector, ConnectorContext, Direction, Link, Start } from "./lib/contract/link.ts";
export type { HistoryOptions } from "./lib/contract/link.ts";
export { comparePositions } from "./lib/contract/position.ts";
export { Origins } from "./lib/history/origins.ts";
export type { CatchUpTarget } from "./lib/history/catch_up.ts";
export { FanOut, type FanOutOptions, type SubscribeOptions } from "./lib/pipeline/fan_out.ts";
export { ReplayBufferStream, type ReplayBufferStreamOptions } from "./lib/pipeline/replay_buffer_stream.ts";
export { ResyncStream } from "./lib/pipeline/resync_stream.ts";
export { LinkSink, type LinkSinkOptions } from "./lib/pipeline/link_sink.ts";
export { type AttachMarker, type OutboundBatch, outboundBatch, type OutboundChunk } from "./lib/pipeline/outbound_batch.ts";
export { TickBatcher, type TickBatcherOptions } from "./lib/util/tick_batcher.ts";
export type { Clock } from "./lib/util/clock.ts";
export { maskUri } from "./lib/util/mask_uri.ts";
export * from "./lib/contract/errors.ts";
