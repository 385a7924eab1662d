/**
 * The `Origin` check and CORS of the SSE handler (`sse_handler.ts`) and so of `streamcast serve`. A browser names the page
 * behind every cross-origin request (and every same-origin one that is not a
 * GET) in `Origin`; a request from a page that is neither the server's own nor
 * one listed with `--allow-origin` is refused with 403, whatever its method
 * and content type: a "simple" `text/plain` POST needs no preflight, so CORS
 * alone would let it publish. The allowed ones get `Access-Control-Allow-Origin`,
 * and their preflight is answered.
 */
import { hostName } from "./host.ts";
import { type Refusal, refusal, type RequestLike } from "./refusal.ts";

/** Which pages may call the server. */
export interface OriginPolicy {
  /** Origins allowed besides the server's own (`--allow-origin`), as `URL.origin` spells them. */
  allowOrigins: readonly string[];
}

/** How long a browser may keep a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE = 600;

/**
 * An origin as `URL.origin` spells it (`https://app.example.com:8443`), or
 * `undefined` when `text` is not exactly one: scheme http or https, host and
 * port only.
 */
export function parseOrigin(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.origin === text.toLowerCase().replace(/\/$/, "") ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks `request`'s `Origin`: the headers to answer it with (CORS for an
 * allowed page; `Vary: Origin` always, since the answer depends on it), or a
 * 403 for a foreign page. A request without `Origin` comes from no page
 * (curl, a server, a navigation) and passes.
 */
export function checkOrigin(request: RequestLike, policy: OriginPolicy): Record<string, string> | Refusal {
  const origin = request.headers.get("origin");
  const vary = { vary: "Origin" };
  if (origin === null) return vary;
  if (isOwnOrigin(origin, request.headers.get("host")) || policy.allowOrigins.includes(origin)) {
    return { ...vary, "access-control-allow-origin": origin };
  }
  return refusal(
    403,
    `Invalid Origin: Expected this server's own origin or one given with --allow-origin but received ${JSON.stringify(origin.slice(0, 200))}`,
    vary,
  );
}

/**
 * The headers of a preflight (`OPTIONS`) answer for a request `checkOrigin`
 * let in: the methods and headers a page may use, and how long to remember it.
 */
export function preflightHeaders(request: RequestLike, allowed: Record<string, string>): Record<string, string> {
  if (allowed["access-control-allow-origin"] === undefined) return { ...allowed, allow: "GET, HEAD, POST, OPTIONS" };
  const headers: Record<string, string> = {
    ...allowed,
    "access-control-allow-methods": "GET, POST",
    "access-control-allow-headers": "Authorization, Content-Type",
    "access-control-max-age": String(PREFLIGHT_MAX_AGE),
  };
  // Chromium asks before a public page may call a private address; an allowed page may.
  if (request.headers.get("access-control-request-private-network") === "true") headers["access-control-allow-private-network"] = "true";
  return headers;
}

// Same origin: the page's host and port are the ones the request was sent to,
// the port read for the page's scheme (`Host: example.com` is port 443 to an
// https page). The scheme itself is not compared: behind a TLS proxy the page
// is https and serve is http.
function isOwnOrigin(origin: string, host: string | null): boolean {
  const own = parseOrigin(origin);
  if (host === null || own === undefined || hostName(host) === undefined) return false;
  const page = new URL(own);
  return new URL(`${page.protocol}//${host}`).host === page.host;
}
