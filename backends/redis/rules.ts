/**
 * The `redis://` backbone's rules: node-redis (the `redis` package); Redis
 * takes any channel and any message a string can hold. The URI is
 * `redis[s]://[user:password@][host][:port][/db][?ca=/path/to/ca.pem]`; no
 * host means localhost, as for `redis-cli`.
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
