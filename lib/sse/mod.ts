/**
 * A Broadcast's channels served over Server-Sent Events, as a web-standard
 * `Request → Response` handler (`sseHandler`), for `Deno.serve`, `Bun.serve`,
 * Hono, workers, and Node through `nodeListener`; and `SseEncoderStream`, to
 * put behind a router of your own.
 *
 * @example With Deno.serve or Bun.serve
 * ```ts ignore
 * import { Broadcast } from "streamcast";
 * import { sseHandler } from "streamcast/sse";
 * const broadcast = await Broadcast.connect("redis://127.0.0.1:6379");
 * const sse = sseHandler(broadcast, { base: "/events" });
 * Deno.serve(sse.fetch); // or Bun.serve({ fetch: sse.fetch })
 * // In a page: new EventSource("/events/subscribe?channel=policy")
 * ```
 *
 * @module
 */
export { type SseHandler, sseHandler, type SseHandlerOptions } from "./handler.ts";
export type { SseBroadcast } from "./hub.ts";
export { encodeFrame, encodeSseEvent, type SseEncode, SseEncoderStream, type SseEncoderStreamOptions } from "./encoder_stream.ts";
export { type NodeIncomingMessage, nodeListener, type NodeListenerOptions, type NodeServerResponse } from "./node.ts";
export type { AuthSettings, JwtSettings } from "./auth.ts";
export { BodyError } from "./body.ts";
export type { EventFrame, Frame, Recovery, ResyncFrame } from "../contract/frame.ts";
