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
export { Broadcast } from "./lib/broadcast.ts";
export type { BroadcastStats, DisconnectReport } from "./lib/broadcast.ts";
export type { EventFrame, Frame, ResyncFrame } from "./lib/frame.ts";
export type { BroadcastOptions } from "./lib/options.ts";
export type { EnvConfig, EnvOptions } from "./lib/env.ts";
export { configFromEnv } from "./lib/env.ts";
export type { BroadcastEventListener, BroadcastEventMap } from "./lib/events.ts";
export type { State } from "./lib/supervisor.ts";
export type { Backend, Connector, ConnectorContext, Direction, Link, Start } from "./lib/link.ts";
export type { HistoryOptions } from "./lib/history.ts";
export { comparePositions } from "./lib/position.ts";
export { Origins } from "./lib/origins.ts";
export { type CatchUpTarget, FanOut, type FanOutOptions, type SubscribeOptions } from "./lib/fan_out.ts";
export { ReplayBufferStream, type ReplayBufferStreamOptions } from "./lib/replay_buffer_stream.ts";
export { ResyncStream } from "./lib/resync_stream.ts";
export { LinkSink, type LinkSinkOptions } from "./lib/link_sink.ts";
export { type AttachMarker, type OutboundBatch, outboundBatch, type OutboundChunk } from "./lib/outbound_batch.ts";
export { TickBatcher, type TickBatcherOptions } from "./lib/tick_batcher.ts";
export type { Clock } from "./lib/clock.ts";
export { maskUri } from "./lib/mask_uri.ts";
export * from "./lib/errors.ts";
