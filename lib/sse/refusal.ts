/**
 * What the request checks of the SSE handler (`sse_host.ts`,
 * `sse_origin.ts`, `sse_auth.ts`) answer with when they turn a request
 * away. They read only web-standard request data (`Headers`, a method), so a
 * `Request → Response` handler can use them as the node:http one does.
 */

/** The part of a `Request` the checks read; a `Request` is one. */
export interface RequestLike {
  readonly method: string;
  readonly headers: Headers;
}

/** A request turned away: the status, a one-line error (never a secret), and headers to answer with. */
export interface Refusal {
  readonly status: 400 | 401 | 403 | 421 | 503;
  readonly error: string;
  readonly headers: Record<string, string>;
}

/** A `Refusal`. */
export function refusal(status: Refusal["status"], error: string, headers: Record<string, string> = {}): Refusal {
  return { status, error, headers };
}

/** Whether `value` is a `Refusal` (rather than what a check resolves with when it lets a request in). */
export function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && "status" in value && "error" in value;
}
