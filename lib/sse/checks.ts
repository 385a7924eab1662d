/**
 * The request checks of the SSE handler (`handler.ts`), and so of `streamcast
 * serve`, that turn a request away before it reaches the broadcast: `Host`
 * and `Origin` here, credentials in `auth.ts`. They read only web-standard
 * request data (`Headers`, a method), so a `Request → Response` handler uses
 * them as the node:http one does, and each answers with a {@linkcode Refusal}.
 *
 * - **Host**, against DNS rebinding: a web page whose own name an attacker
 *   re-points at 127.0.0.1 reaches a server on loopback as "same origin", but
 *   its requests still carry the attacker's name in `Host`. So while the
 *   server listens on loopback it answers only requests naming this machine
 *   (or a name in `allowHosts`, serve's `--allow-host`, such as the one a
 *   reverse proxy on this machine passes on).
 * - **Origin** and CORS: a browser names the page behind every cross-origin
 *   request (and every same-origin one that is not a GET) in `Origin`; a
 *   request from a page that is neither the server's own nor one listed in
 *   `allowOrigins` (serve's `--allow-origin`) is refused with 403, whatever its method and content
 *   type: a "simple" `text/plain` POST needs no preflight, so CORS alone would
 *   let it publish. The allowed ones get `Access-Control-Allow-Origin`, and
 *   their preflight is answered.
 *
 * @module
 */

// --- Refusals

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

// --- Host

/** Which `Host` headers a server accepts. */
export interface HostPolicy {
  /** The address the server listens on (serve's `--host`). */
  listen: string;
  /** Further host names accepted (serve's `--allow-host`), lowercase, without port. */
  allowHosts: readonly string[];
}

/**
 * Whether `host` (a name or an address, without port; an IPv6 address with or
 * without brackets) reaches this machine only: `localhost` and its
 * subdomains, 127.0.0.0/8, `::1`.
 */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || name === "::1";
}

/** The host name of a `Host` header (lowercase, IPv6 in brackets, without port), or `undefined` when it is none. */
export function hostName(header: string): string | undefined {
  try {
    const url = new URL(`http://${header}`);
    return url.username === "" && url.pathname === "/" && url.search === "" && url.hash === "" ? url.hostname : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks `request`'s `Host` header: `undefined` when it may be served, else a
 * 421 (Misdirected Request) naming what was expected. A server listening
 * beyond loopback with no `allowHosts` takes any name.
 */
export function checkHost(request: RequestLike, policy: HostPolicy): Refusal | undefined {
  const onLoopback = isLoopback(policy.listen);
  if (!onLoopback && policy.allowHosts.length === 0) return undefined;
  const header = request.headers.get("host");
  const name = header === null ? undefined : hostName(header);
  if (name !== undefined && (isLoopback(name) || policy.allowHosts.includes(name.replace(/\.$/, "")))) return undefined;
  const names = ["a loopback name (localhost, 127.0.0.1, [::1])", ...policy.allowHosts.map((host) => JSON.stringify(host))];
  const expected = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
  const received = header === null ? "none" : JSON.stringify(header.slice(0, 200));
  return refusal(421, `Invalid Host: Expected ${expected} but received ${received}`);
}

// --- Origin

/** Which pages may call the server. */
export interface OriginPolicy {
  /** Origins allowed besides the server's own, as `URL.origin` spells them. */
  allowOrigins: readonly string[];
  /**
   * How a refusal names where `allowOrigins` is set, for whoever configures
   * the server: serve names its flag.
   * @default {"the allowOrigins option"}
   */
  allowOriginsSetting?: string;
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
    `Invalid Origin: Expected this server's own origin or one given with ${policy.allowOriginsSetting ?? "the allowOrigins option"} but received ${JSON.stringify(origin.slice(0, 200))}`,
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
