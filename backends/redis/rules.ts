/**
 * The `redis://` backbone's rules: node-redis (the `redis` package); Redis
 * takes any channel and any message a string can hold. The URI is
 * `redis[s]://[user:password@][host][:port][/db][?ca=/path/to/ca.pem]`; no
 * host means localhost, as for `redis-cli`. A Redis Cluster is
 * `redis+cluster://[user:password@]host[:port][,host[:port]…][?ca=…]`: its
 * seed nodes, whose list the scheme table keeps in the parameter `nodes`.
 *
 * @module
 */
import * as v from "valibot";
import { type BackboneRules, settingsIssues, unknownParameters, type UriProblem } from "../../lib/contract/backbone_rules.ts";

/** The highest database number a Redis server can be configured with. */
const MAX_DATABASE = 2 ** 31 - 1;

/** What `BroadcastOptions.backendOptions` may hold for `redis://` and `rediss://`; see `RedisSettings`. */
export const RedisSettingsSchema = v.strictObject({
  clientName: v.optional(v.pipe(v.string(), v.regex(/^[!-~]+$/, "Expected a name without spaces")), "streamcast"),
  resp: v.optional(v.picklist([2, 3]), 3),
  tls: v.optional(v.record(v.string(), v.unknown()), {}),
});

/** The database number the URI's path names, or problems with it. */
export function redisDatabase(url: URL): { database?: number; problems: UriProblem[] } {
  const text = url.pathname.slice(1);
  if (text === "") return { problems: [] };
  const database = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (database <= MAX_DATABASE) return { database, problems: [] };
  return { problems: [{ part: "database", expected: `a database number from 0 to ${MAX_DATABASE}`, received: JSON.stringify(text) }] };
}

/** No driver-side channel or size rule; the settings and the URI's database and parameters are checked. */
export const redisRules: BackboneRules = {
  driver: "redis",
  uri: (url) => [...redisDatabase(url).problems, ...unknownParameters(url, ["ca"])],
  settings: (settings) => settingsIssues(RedisSettingsSchema, settings),
};

/** What `BroadcastOptions.backendOptions` may hold for `redis+cluster://`; see `RedisClusterSettings`. */
export const RedisClusterSettingsSchema = v.strictObject({
  ...RedisSettingsSchema.entries,
  failoverTimeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2 ** 31 - 1)), 30_000),
  waitForReplicas: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100)), 0),
  waitTimeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2 ** 31 - 1)), 1_000),
  nodeAddressMap: v.optional(v.record(v.pipe(v.string(), v.regex(/^[^\s,]+:\d{1,5}$/, "Expected host:port")), v.pipe(v.string(), v.regex(/^[^\s,]+:\d{1,5}$/, "Expected host:port"))), {}),
});

/** A seed node: `host:port`, `host` (port 6379) or `[v6]:port`. */
const NODE = /^(\[[0-9a-f:.]+\]|[^\s:/?#@\[\],]+)(:(\d{1,5}))?$/i;

/** The problems of the seed list a cluster URI holds in its parameter `nodes`. */
function seedProblems(url: URL): UriProblem[] {
  const nodes = url.searchParams.get("nodes");
  if (nodes === null) return [];
  return nodes.split(",").filter((node) => {
    const match = NODE.exec(node);
    return match === null || (match[3] !== undefined && (Number(match[3]) < 1 || Number(match[3]) > 65535));
  }).map((node) => ({ part: "node", expected: "host:port with a port from 1 to 65535", received: JSON.stringify(node) }));
}

/** A cluster has database 0 alone; the seeds must be addresses; the settings add `failoverTimeout`. */
export const redisClusterRules: BackboneRules = {
  driver: "redis",
  uri: (url) => [
    ...(/^\/?0?$/.test(url.pathname) ? [] : [{ part: "database", expected: "none: a Redis Cluster has database 0 only", received: JSON.stringify(url.pathname.slice(1)) }]),
    ...seedProblems(url),
    ...unknownParameters(url, ["ca", "nodes"]),
  ],
  settings: (settings) => settingsIssues(RedisClusterSettingsSchema, settings),
};
