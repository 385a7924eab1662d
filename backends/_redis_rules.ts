/**
 * The `redis://` backbone's rules: node-redis (the `redis` package); Redis
 * takes any channel and any message a string can hold. The URI is
 * `redis[s]://[user:password@][host][:port][/db][?ca=/path/to/ca.pem]`; no
 * host means localhost, as for `redis-cli`.
 *
 * @module
 */
import * as v from "valibot";
import { type BackboneRules, unknownParameters } from "../lib/backbone_rules.ts";
import { configIssue, type ConfigIssue } from "../lib/errors.ts";
import { toConfigIssues } from "../lib/options.ts";

/** The highest database number a Redis server can be configured with. */
const MAX_DATABASE = 2 ** 31 - 1;

/** What `BroadcastOptions.backendOptions` may hold for `redis://` and `rediss://`; see `RedisSettings`. */
export const RedisSettingsSchema = v.strictObject({
  clientName: v.optional(v.pipe(v.string(), v.regex(/^[!-~]+$/, "Expected a name without spaces")), "streamcast"),
  resp: v.optional(v.picklist([2, 3]), 3),
  tls: v.optional(v.record(v.string(), v.unknown()), {}),
});

/** The database number the URI's path names, or problems with it. */
export function redisDatabase(url: URL): { database?: number; issues: ConfigIssue[] } {
  const text = decodeURIComponent(url.pathname.slice(1));
  if (text === "") return { issues: [] };
  const database = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (database <= MAX_DATABASE) return { database, issues: [] };
  return { issues: [configIssue("URI database", `a database number from 0 to ${MAX_DATABASE}`, JSON.stringify(text))] };
}

/** No driver-side channel or size rule; the settings and the URI's database and parameters are checked. */
export const redisRules: BackboneRules = {
  driver: "redis",
  validate(url, settings) {
    const parsed = v.safeParse(RedisSettingsSchema, settings);
    return [
      ...(parsed.success ? [] : toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`)),
      ...redisDatabase(url).issues,
      ...unknownParameters(url, ["ca"]),
    ];
  },
};
