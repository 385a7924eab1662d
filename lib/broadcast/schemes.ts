import { takeHistory } from "../history/option.ts";
import { errorMessage } from "../util/error_message.ts";
import { utf8Length } from "../util/utf8_length.ts";
import { kafkaRules } from "../../backends/kafka/rules.ts";
import { memoryRules } from "../../backends/memory/rules.ts";
import { postgresRules } from "../../backends/postgres/rules.ts";
import { redisClusterRules, redisRules } from "../../backends/redis/rules.ts";
import { type BackboneRules, decodes, type UriProblem } from "../contract/backbone_rules.ts";
import { ChannelError, ConfigError, configIssue, isPermissionError, MessageError, PayloadTooLargeError, UnsupportedBackendError } from "../contract/errors.ts";
import type { Backend } from "../contract/link.ts";
import { maskUri } from "../util/mask_uri.ts";
import { printable } from "../util/printable.ts";

/** A scheme: its backbone's rules, known without loading a driver, and how to load its backend. */
interface Scheme {
  readonly rules: BackboneRules;
  /** A literal import, so that bundlers and JSR can follow it; only called when the scheme is used. */
  readonly load: () => Promise<{ readonly default: Backend }>;
}

const memory: Scheme = { rules: memoryRules, load: () => import("../../backends/memory/mod.ts") };
const redis: Scheme = { rules: redisRules, load: () => import("../../backends/redis/mod.ts") };
const redisCluster: Scheme = { rules: redisClusterRules, load: () => import("../../backends/redis/cluster/mod.ts") };
const postgres: Scheme = { rules: postgresRules, load: () => import("../../backends/postgres/mod.ts") };
const kafka: Scheme = { rules: kafkaRules, load: () => import("../../backends/kafka/mod.ts") };

const SCHEMES: Readonly<Record<string, Scheme>> = {
  "memory:": memory,
  "redis:": redis,
  "rediss:": redis,
  "redis+cluster:": redisCluster,
  "rediss+cluster:": redisCluster,
  "postgres:": postgres,
  "postgresql:": postgres,
  "kafka:": kafka,
};

/** The schemes streamcast knows, e.g. for an error message. */
export const KNOWN_SCHEMES: readonly string[] = Object.keys(SCHEMES).map((scheme) => `${scheme}//`);

/**
 * Parses a backbone URI; throws `ConfigError` (password masked) when it does
 * not parse, names an unknown scheme, or breaks its backbone's URI rules
 * (say, a Postgres query parameter the backend does not take).
 */
export function parseUri(uri: string | URL, name = "URI"): URL {
  const text = printable(uri);
  let url: URL;
  try {
    url = new URL(hostList(text));
  } catch {
    // No cause: the runtime's TypeError keeps the raw text, password included.
    const received = JSON.stringify(maskUri(text));
    throw new ConfigError([{
      path: name,
      expected: "a URI such as redis://localhost:6379",
      received,
      message: `Invalid ${name}: Expected a URI such as redis://localhost:6379 but received ${received}`,
    }]);
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
  // `redis:/user:pw@host` parses, as a path: a typo that would connect elsewhere, and print the password as a path.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new ConfigError([configIssue(name, `a URI with "//" after its scheme, such as ${url.protocol}//host`, JSON.stringify(maskUri(text)))]);
  }
  // The backbone's rules only read a URI whose password is where it belongs.
  const misplaced = userinfoProblems(url);
  const problems = misplaced.length > 0 ? misplaced : SCHEMES[url.protocol].rules.uri(takeHistory(url, {}).url);
  if (problems.length > 0) {
    // A part can hold a password too (`redis:/user:pw@host` has it in the path): mask what is printed.
    throw new ConfigError(problems.map(({ part, expected, received }) => configIssue(part ? `${name} ${part}` : name, expected, maskUri(received))));
  }
  return url;
}

/**
 * What no backbone URI may hold: a fragment, an "@" past the host (a password's
 * "@", "#", "/" or "?" not percent-encoded moves the rest of it there), or a
 * user name or password that does not percent-decode.
 */
function userinfoProblems(url: URL): UriProblem[] {
  const problems: UriProblem[] = [];
  const masked = JSON.stringify(maskUri(url));
  if (url.hash || /@/.test(url.pathname + url.search)) {
    const expected = `"@", "#", "/" and "?" in a user name or password percent-encoded (%40, %23, %2F, %3F), and no fragment`;
    problems.push({ part: "", expected, received: masked });
  }
  for (const [part, text] of [["user", url.username], ["password", url.password]]) {
    if (!decodes(text)) problems.push({ part, expected: "percent-encoded UTF-8", received: part === "password" ? "***" : JSON.stringify(text) });
  }
  return problems;
}

/** The query parameter that keeps a scheme's list of hosts. */
const HOST_LISTS: Readonly<Record<string, string>> = { "kafka://": "brokers", "redis+cluster://": "nodes", "rediss+cluster://": "nodes" };

/**
 * `kafka://a:9092,b:9092` is not a WHATWG URL (a port cannot hold a comma):
 * such a list is kept in a query parameter (`brokers`, `nodes` for a Redis
 * Cluster's seeds), the first host as the URI's host.
 */
function hostList(uri: string): string {
  const match = /^(kafka:\/\/|rediss?\+cluster:\/\/)([^@/?#]*@)?([^/?#]*,[^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(uri);
  if (match === null) return uri;
  const [, scheme, userinfo = "", hosts, path, query = "", hash = ""] = match;
  const list = hosts.split(",").map((host) => host.trim()).filter(Boolean);
  const params = new URLSearchParams(query.slice(1));
  params.set(HOST_LISTS[scheme.toLowerCase()], list.join(","));
  return `${scheme}${userinfo}${list[0]}${path}?${params}${hash}`;
}

/**
 * Checks the backend settings against the scheme's rules, without loading its
 * driver; throws `ConfigError` naming every problem.
 */
export function validateSettings(url: URL, settings: Readonly<Record<string, unknown>>): void {
  const issues = SCHEMES[url.protocol]?.rules.settings(settings) ?? [];
  if (issues.length > 0) throw new ConfigError(issues);
}

/** Checks a channel name for one backbone; throws `ChannelError` naming the rule. */
export type ChannelCheck = (channel: unknown) => asserts channel is string;

/**
 * The channel check for the URI's backbone, looked up once: it runs on every
 * publish, and reading `url.protocol` costs more than the check itself.
 */
export function channelCheck(url: URL): ChannelCheck {
  const rule = SCHEMES[url.protocol]?.rules.channel;
  return (channel) => {
    if (typeof channel !== "string" || channel.length === 0) {
      throw new ChannelError(printable(channel), "a non-empty string");
    }
    // A lone surrogate cannot be written as UTF-8: every network backbone would
    // carry it as U+FFFD, under a name nobody subscribed to.
    if (!channel.isWellFormed()) throw new ChannelError(channel, "a well-formed string (no lone surrogate)");
    if (rule && !rule.test(channel)) throw new ChannelError(channel, rule.rule);
  };
}

/** Checks a message for one backbone; throws `MessageError` or `PayloadTooLargeError`. */
export type MessageCheck = (channel: string, message: unknown) => asserts message is string;

/**
 * The message check for the URI's backbone and backend settings, looked up
 * once: a well-formed string, within the backbone's rule (Postgres text holds
 * no U+0000) and size (only Kafka has a limit; Postgres carries any size
 * through its table).
 */
export function messageCheck(url: URL, settings: Readonly<Record<string, unknown>>): MessageCheck {
  const { message: rule, messageLimit } = SCHEMES[url.protocol]?.rules ?? {};
  const limit = messageLimit?.(settings) ?? Infinity;
  return (channel, message) => {
    if (typeof message !== "string") throw new MessageError(channel, message === null ? "null" : typeof message);
    if (!message.isWellFormed()) throw new MessageError(channel, "a string with a lone surrogate");
    if (rule && !rule.test(message)) throw new MessageError(channel, rule.breach, rule.rule);
    // A UTF-16 unit is at most 3 UTF-8 bytes: most messages need no measuring.
    if (message.length * 3 <= limit) return;
    const size = utf8Length(message);
    if (size > limit) throw new PayloadTooLargeError(`A message on channel ${JSON.stringify(channel)}`, size, limit);
  };
}

/**
 * Loads the backend for the URI's scheme, lazily, so that a user of one
 * backbone never loads another's driver.
 */
export async function loadBackend(url: URL): Promise<Backend> {
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) throw parseUri(url) as never;
  try {
    return (await scheme.load()).default;
  } catch (cause) {
    // A driver is a Node program: in a browser or workerd, installing it is not enough. A
    // permission the runtime refused (Deno) is said as the runtime says it, naming the flag.
    const { driver } = scheme.rules;
    const needs = !driver || isPermissionError(cause) ? "" : ` (it runs on Node, Deno or Bun, with the "${driver}" package installed)`;
    throw new UnsupportedBackendError(
      url.protocol,
      `Could not load the ${url.protocol}// backend${needs}: ${errorMessage(cause)}`,
      { cause },
    );
  }
}
