/**
 * The `Host` check of the SSE handler (`sse_handler.ts`) and so of `streamcast serve`, against DNS rebinding: a web page
 * whose own name an attacker re-points at 127.0.0.1 reaches a server on
 * loopback as "same origin", but its requests still carry the attacker's name
 * in `Host`. So while serve listens on loopback it answers only requests
 * naming this machine (or a name given with `--allow-host`, such as the one a
 * reverse proxy on this machine passes on).
 */
import { type Refusal, refusal, type RequestLike } from "./refusal.ts";

/** Which `Host` headers a server accepts. */
export interface HostPolicy {
  /** The address the server listens on (`--host`). */
  listen: string;
  /** Further host names accepted (`--allow-host`), lowercase, without port. */
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
 * beyond loopback without `--allow-host` takes any name.
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
