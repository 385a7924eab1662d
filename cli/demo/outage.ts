/**
 * The demo's way to break the backbone on purpose: the memory hub's own
 * controls for memory://, a TCP proxy in front of the server for the others
 * (the workers connect to the proxy, so cutting it is a real network outage).
 */
import { memoryHub } from "../../backends/memory/mod.ts";
import { ConfigError, maskUri } from "../../mod.ts";
import { parseUri } from "../../lib/broadcast/schemes.ts";
import { invalid, UsageError } from "../args.ts";
import { TcpProxy } from "../tcp_proxy.ts";

/** Breaks and mends the path between the workers and the backbone. */
export interface Outage {
  /** The URI the workers connect to (the proxy's, for a network backbone). */
  readonly uri: string;
  /** What the path is doing now, for the progress line. */
  state(): string;
  /** Errors every open connection and refuses new ones. */
  cut(): Promise<void>;
  /** Open connections stop answering without closing; new ones hang. */
  stall(): Promise<void>;
  /** Accepts again; stalled connections are dropped. */
  restore(): Promise<void>;
  /** Releases what the outage holds (the proxy's port). */
  close(): Promise<void>;
}

const DEFAULT_PORTS: Record<string, number> = {
  "redis:": 6379,
  "rediss:": 6379,
  "postgres:": 5432,
  "postgresql:": 5432,
  "kafka:": 9092,
};

/**
 * An outage for `uri`: the hub for memory://, a proxy on a free local port
 * otherwise. Throws `UsageError` for a URI the demo cannot put a proxy in front of.
 */
export async function outageFor(uri: string): Promise<Outage> {
  const url = parse(uri);
  if (url.protocol === "memory:") return hubOutage(uri, url.hostname);
  const proxy = new TcpProxy(proxyTarget(url, JSON.stringify(maskUri(uri))));
  url.hostname = "127.0.0.1";
  url.port = String(await proxy.start());
  return {
    uri: url.href,
    state: () => (proxy.mode === "open" ? "up" : proxy.mode),
    cut: () => proxy.cut(),
    stall: () => proxy.stall(),
    restore: () => proxy.restore(),
    close: () => proxy.stop(),
  };
}

function parse(uri: string): URL {
  try {
    return parseUri(uri);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

/** Where the proxy forwards to: the URI's one host and port. */
function proxyTarget(url: URL, shown: string): { host: string; port: number } {
  const port = DEFAULT_PORTS[url.protocol];
  if (port === undefined) throw invalid("URI", "a memory, redis, postgres or kafka URI", JSON.stringify(url.protocol));
  if (url.host.includes(",") || url.searchParams.has("brokers")) {
    throw invalid("URI", "a single host (the demo puts one proxy in front of it)", shown);
  }
  // The workers reach the proxy at 127.0.0.1, which would fail a certificate's host check.
  const tls = url.protocol === "rediss:" || /^(true|1)$/.test(url.searchParams.get("tls") ?? url.searchParams.get("ssl") ?? "") ||
    url.searchParams.get("sslmode") === "verify-full";
  if (tls) throw invalid("URI", "a URI without TLS (the demo's proxy would fail the certificate's host check)", shown);
  // An IPv6 literal keeps its brackets in a URL ("[::1]"); net.connect wants it bare.
  return { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port || port) };
}

function hubOutage(uri: string, name: string): Outage {
  const hub = memoryHub(name);
  return {
    uri,
    state: () => hub.state,
    cut: async () => hub.cut("the demo cut the backbone"),
    stall: async () => hub.stall(),
    restore: async () => hub.restore(),
    close: async () => {},
  };
}
