import { ChannelError, ConfigError, UnsupportedBackendError } from "./errors.ts";
import type { Backend } from "./link.ts";
import { maskUri } from "./mask_uri.ts";

/** What the core knows of a scheme without loading its driver. */
interface Scheme {
  /** The file in `backends/` that implements it. */
  readonly module: "memory" | "redis" | "postgres" | "kafka";
  /** The npm package the backend needs, for the error when it is missing. */
  readonly driver?: string;
  /** Which channel names the backbone accepts. */
  readonly channel?: { readonly test: (channel: string) => boolean; readonly rule: string };
}

const kafkaTopic = /^[A-Za-z0-9._-]{1,249}$/;

const SCHEMES: Readonly<Record<string, Scheme>> = {
  "memory:": { module: "memory" },
  "redis:": { module: "redis", driver: "redis" },
  "rediss:": { module: "redis", driver: "redis" },
  "postgres:": { module: "postgres", driver: "postgres" },
  "postgresql:": { module: "postgres", driver: "postgres" },
  "kafka:": {
    module: "kafka",
    driver: "kafkajs",
    channel: {
      test: (channel) => kafkaTopic.test(channel) && channel !== "." && channel !== "..",
      rule: "a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ - (not . or ..)",
    },
  },
};

/** The schemes streamcast knows, e.g. for an error message. */
export const KNOWN_SCHEMES: readonly string[] = Object.keys(SCHEMES).map((scheme) => `${scheme}//`);

/**
 * Parses a backbone URI; throws `ConfigError` (password masked) when it does
 * not parse or names an unknown scheme.
 */
export function parseUri(uri: string | URL, name = "URI"): URL {
  let url: URL;
  try {
    url = new URL(brokerList(String(uri)));
  } catch (cause) {
    const received = JSON.stringify(maskUri(String(uri)));
    throw new ConfigError([{
      path: name,
      expected: "a URI such as redis://localhost:6379",
      received,
      message: `Invalid ${name}: Expected a URI such as redis://localhost:6379 but received ${received}`,
    }], { cause });
  }
  if (!(url.protocol in SCHEMES)) {
    const expected = `one of ${KNOWN_SCHEMES.join(" ")}`;
    const received = JSON.stringify(maskUri(url));
    throw new ConfigError([{
      path: name,
      expected,
      received,
      message: `Invalid ${name}: Expected a scheme ${expected} but received ${received}`,
    }]);
  }
  return url;
}

/**
 * `kafka://a:9092,b:9092` is not a WHATWG URL (a port cannot hold a comma):
 * such a list is kept in a `brokers` query parameter, the first broker as host.
 */
function brokerList(uri: string): string {
  const match = /^(kafka:\/\/)([^@/?#]*@)?([^/?#]*,[^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(uri);
  if (match === null) return uri;
  const [, scheme, userinfo = "", hosts, path, query = "", hash = ""] = match;
  const brokers = hosts.split(",").map((host) => host.trim()).filter(Boolean);
  const params = new URLSearchParams(query.slice(1));
  params.set("brokers", brokers.join(","));
  return `${scheme}${userinfo}${brokers[0]}${path}?${params}${hash}`;
}

/** Checks a channel name for one backbone; throws `ChannelError` naming the rule. */
export type ChannelCheck = (channel: unknown) => asserts channel is string;

/**
 * The channel check for the URI's backbone, looked up once: it runs on every
 * publish, and reading `url.protocol` costs more than the check itself.
 */
export function channelCheck(url: URL): ChannelCheck {
  const rule = SCHEMES[url.protocol]?.channel;
  return (channel) => {
    if (typeof channel !== "string" || channel.length === 0) {
      throw new ChannelError(String(channel), "a non-empty string");
    }
    if (rule && !rule.test(channel)) throw new ChannelError(channel, rule.rule);
  };
}

/**
 * Loads the backend for the URI's scheme, lazily, so that a user of one
 * backbone never loads another's driver.
 */
export async function loadBackend(url: URL): Promise<Backend> {
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) throw parseUri(url) as never;
  // Sources run as .ts (Deno, tsx); the published build as .js.
  const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const specifier = new URL(`../backends/${scheme.module}${extension}`, import.meta.url).href;
  try {
    const module = await import(specifier);
    return module.default as Backend;
  } catch (cause) {
    const needs = scheme.driver ? ` (it needs the "${scheme.driver}" package installed)` : "";
    throw new UnsupportedBackendError(
      url.protocol,
      `Could not load the ${url.protocol}// backend${needs}: ${(cause as Error)?.message ?? cause}`,
      { cause },
    );
  }
}
