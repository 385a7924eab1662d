/**
 * The body of a publish request, read with a limit. Part of the SSE handler
 * (`handler.ts`).
 *
 * @module
 */

/** A request body that cannot be published; `status` is 400 or 413. */
export class BodyError extends Error {
  /** Always `"BodyError"`. */
  override name = "BodyError" as const;
  /** Always `"INVALID_BODY"`. */
  readonly code = "INVALID_BODY" as const;
  /** The HTTP status to answer with: 413 for a body over the limit, 400 for one that is not UTF-8. */
  readonly status: 400 | 413;
  /** An error answered with `status`. */
  constructor(status: 400 | 413, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/**
 * Reads a UTF-8 body of at most `limit` bytes, byte for byte: a leading byte
 * order mark is part of the message. Throws `BodyError` (413 or 400); stops
 * reading as soon as the body is over the limit.
 */
export async function readBody(request: Request, limit: number): Promise<string> {
  const tooLarge = (size: string) => new BodyError(413, `Invalid body: Expected at most ${limit} bytes but received ${size}`);
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw tooLarge(`${declared}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body !== null) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        void reader.cancel().catch(() => {});
        throw tooLarge("more");
      }
      chunks.push(value);
    }
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body);
  } catch (error) {
    throw new BodyError(400, "Invalid body: Expected UTF-8 text but received bytes that are not UTF-8", { cause: error });
  }
}
