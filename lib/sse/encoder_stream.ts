/**
 * Server-Sent Events encoding of frames: `event: message` with the channel
 * and message as JSON data (so a message with newlines is still one `data:`
 * line), `event: resync` with the channel and reason. `SseEncoderStream` puts
 * it behind a subscriber stream for a router of your own; the SSE handler
 * (`handler.ts`) encodes each event once and writes the same bytes to
 * every client.
 *
 * @module
 */
import type { Frame } from "../contract/frame.ts";

const utf8 = new TextEncoder();

/** Turns a frame into the bytes of one SSE event. */
export type SseEncode = (frame: Frame) => Uint8Array;

/** One SSE event named `name` with `data` as its JSON line. */
export function encodeSseEvent(name: string, data: unknown): Uint8Array {
  return utf8.encode(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * The SSE event of a frame: `event: message` and `{ channel, message }`, or
 * `event: resync` and `{ channel, reason }`.
 *
 * @example An event frame
 * ```ts
 * import { encodeFrame } from "./encoder_stream.ts";
 * const text = new TextDecoder().decode(encodeFrame({ type: "event", channel: "policy", message: "v2" }));
 * if (text !== 'event: message\ndata: {"channel":"policy","message":"v2"}\n\n') throw new Error(text);
 * ```
 */
export function encodeFrame(frame: Frame): Uint8Array {
  return frame.type === "event"
    ? encodeSseEvent("message", { channel: frame.channel, message: frame.message })
    : encodeSseEvent("resync", { reason: frame.reason, channel: frame.channel });
}

/** An SSE comment line, which clients ignore: keeps proxies and NATs from closing an idle stream. */
export const KEEP_ALIVE: Uint8Array = utf8.encode(": keep-alive\n\n");

/** Options for {@linkcode SseEncoderStream}. */
export interface SseEncoderStreamOptions {
  /**
   * Turns each frame into bytes.
   * @default {encodeFrame}
   */
  encode?: SseEncode;
}

/**
 * Frames in, `text/event-stream` bytes out: put it behind a subscriber stream
 * and hand the result to a `Response`.
 *
 * @example A subscription as an SSE response
 * ```ts
 * import { Broadcast } from "../../mod.ts";
 * import { SseEncoderStream } from "./encoder_stream.ts";
 * const broadcast = await Broadcast.connect("memory://encoder-example");
 * const body = broadcast.subscribe("policy").pipeThrough(new SseEncoderStream());
 * const response = new Response(body, { headers: { "content-type": "text/event-stream" } });
 * await broadcast.ready();
 * await broadcast.publish("policy", "v2");
 * const reader = response.body!.getReader();
 * const text = new TextDecoder().decode((await reader.read()).value);
 * if (!text.includes('"message":"v2"')) throw new Error(text);
 * await reader.cancel();
 * await broadcast.disconnect();
 * ```
 */
export class SseEncoderStream extends TransformStream<Frame, Uint8Array> {
  /** A stream that encodes with `options.encode`. */
  constructor(options: SseEncoderStreamOptions = {}) {
    const encode = options.encode ?? encodeFrame;
    super({ transform: (frame, controller) => controller.enqueue(encode(frame)) });
  }
}
