/**
 * Configuration from environment variables, as OPAL server's broadcaster is
 * configured: `OPAL_BROADCAST_URI` names the backbone,
 * `OPAL_BROADCAST_RECONNECT_*`, `OPAL_BROADCAST_REPLAY_BUFFER_SIZE` and
 * `OPAL_BROADCAST_RESYNC_*` set the options (times in seconds), and
 * `UVICORN_NUM_WORKERS` the number of worker processes. Every variable is
 * validated; a bad one is a `ConfigError` that names it, never printing a
 * password. `Broadcast.fromEnv()` reads the runtime's environment through
 * this module (under Deno it needs `--allow-env`).
 *
 * @example A URI and a replay buffer size from the environment
 * ```ts
 * import { configFromEnv } from "./env.ts";
 * const config = configFromEnv({
 *   OPAL_BROADCAST_URI: "redis://cache:6379",
 *   OPAL_BROADCAST_REPLAY_BUFFER_SIZE: "500",
 * });
 * if (config.uri !== "redis://cache:6379" || config.options.replayBufferSize !== 500) throw new Error();
 * if (config.workers !== 1) throw new Error();
 * ```
 *
 * @module
 */
import * as v from "valibot";
import { ConfigError } from "../contract/errors.ts";
import { maskUri } from "../util/mask_uri.ts";
import { MAX_MILLISECONDS, toConfigIssues } from "../contract/config.ts";
import { type BroadcastOptions, parseOptions } from "./options.ts";

/** Options for reading configuration from the environment. */
export interface EnvOptions {
  /** The prefix of every variable but `UVICORN_NUM_WORKERS`. @default {"OPAL_"} */
  prefix?: string;
}

/** What the environment configures: the backbone URI, the options, the worker count. */
export interface EnvConfig {
  /** The backbone URI from `<prefix>BROADCAST_URI`; `memory://` when unset. */
  uri: string;
  /** Options for `new Broadcast(uri, options)`, the variables' seconds turned into milliseconds. */
  options: BroadcastOptions;
  /** Worker processes from `UVICORN_NUM_WORKERS`; 1 when unset. */
  workers: number;
}

const bool = v.pipe(
  v.string(),
  v.trim(),
  v.toLowerCase(),
  v.picklist(["true", "false", "1", "0", "yes", "no", "on", "off"]),
  v.transform((text) => ["true", "1", "yes", "on"].includes(text)),
);
const integer = (min: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, (issue) => `Expected an integer >= ${min} but received ${issue.received}`),
    // Past 2^53 a count is no longer exact, and 400 digits are Infinity
    // (valibot runs this check even when the regex failed: it says nothing then).
    v.check(
      (text) => !/^\d+$/.test(text) || Number.isSafeInteger(Number(text)),
      (issue) => `Expected an integer from ${min} to ${Number.MAX_SAFE_INTEGER} but received ${issue.received}`,
    ),
    v.transform(Number),
    v.minValue(min, (issue) => `Expected an integer >= ${min} but received ${issue.received}`),
  );
/** Worker processes on one machine: `streamcast serve --workers` takes the same. */
export const MAX_WORKERS = 256;
const WORKERS = v.pipe(
  integer(1),
  v.maxValue(MAX_WORKERS, (issue) => `Expected an integer from 1 to ${MAX_WORKERS} but received ${issue.received}`),
);
const MAX_SECONDS = Math.floor(MAX_MILLISECONDS / 1000);
const NUMBER = /^\d+(\.\d+)?$|^\.\d+$/;
/** A number of seconds from `min` to {@linkcode MAX_SECONDS}, turned into whole milliseconds. */
const seconds = (min: number) => {
  const expected = (issue: { received: string }) =>
    `Expected a number of seconds from ${min} to at most ${MAX_SECONDS} (about 24.8 days) but received ${issue.received}`;
  const inRange = (text: string) => !NUMBER.test(text) || (Number(text) <= MAX_SECONDS && Math.round(Number(text) * 1000) >= min * 1000);
  return v.pipe(
    v.string(),
    v.trim(),
    v.regex(NUMBER, expected),
    // valibot runs this check even when the regex failed: it says nothing then.
    v.check(inRange, expected),
    v.transform((text) => Math.round(Number(text) * 1000)),
  );
};

// The variables (after the prefix) → their schemas.
const VARIABLES = {
  BROADCAST_URI: v.pipe(v.string(), v.trim()),
  BROADCAST_RECONNECT_ENABLED: bool,
  BROADCAST_RECONNECT_MAX_RETRIES: integer(0),
  // At least 1 ms, as the options ask: from 0 the backoff never grows.
  BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: seconds(0.001),
  BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: seconds(0.001),
  BROADCAST_REPLAY_BUFFER_SIZE: integer(0),
  BROADCAST_RESYNC_ON_RECONNECT: bool,
  BROADCAST_RESYNC_SETTLE_SECONDS: seconds(0),
} as const;

type Parsed = { [K in keyof typeof VARIABLES]?: v.InferOutput<(typeof VARIABLES)[K]> };

/**
 * Reads the variables (`OPAL_BROADCAST_URI`, `OPAL_BROADCAST_RECONNECT_*`,
 * `OPAL_BROADCAST_REPLAY_BUFFER_SIZE`, `OPAL_BROADCAST_RESYNC_*` and
 * `UVICORN_NUM_WORKERS`), validates every one, and returns the URI and options.
 * Unset or empty variables take their defaults; an unset URI means `memory://`,
 * which is refused for more than one worker.
 *
 * @example Seconds in the environment become milliseconds in the options
 * ```ts
 * import { configFromEnv } from "./env.ts";
 * const { options } = configFromEnv({ OPAL_BROADCAST_RESYNC_SETTLE_SECONDS: "0.5" });
 * if (options.resyncSettle !== 500) throw new Error();
 * ```
 */
export function configFromEnv(env: Record<string, string | undefined>, { prefix = "OPAL_" }: EnvOptions = {}): EnvConfig {
  const parsed: Parsed = {};
  const issues = [];
  for (const [key, schema] of Object.entries(VARIABLES)) {
    const raw = env[prefix + key];
    // Set but empty, as container files often leave them; a value that is no string is refused by the schema.
    if (raw === undefined || (typeof raw === "string" && raw.trim() === "")) continue;
    const result = v.safeParse(schema as v.GenericSchema<string, unknown>, raw);
    if (result.success) (parsed as Record<string, unknown>)[key] = result.output;
    else issues.push(...toConfigIssues(result.issues, () => prefix + key).map((issue) => maskIssue(issue, key)));
  }
  let workers = 1;
  const rawWorkers = env.UVICORN_NUM_WORKERS;
  if (rawWorkers !== undefined && (typeof rawWorkers !== "string" || rawWorkers.trim() !== "")) {
    const result = v.safeParse(WORKERS, rawWorkers);
    if (result.success) workers = result.output;
    else issues.push(...toConfigIssues(result.issues, () => "UVICORN_NUM_WORKERS"));
  }
  if (issues.length > 0) throw new ConfigError(issues);
  if (parsed.BROADCAST_URI === undefined && workers > 1) {
    const path = `${prefix}BROADCAST_URI`;
    const message = `Invalid ${path}: Expected a backbone URI when UVICORN_NUM_WORKERS is ${workers} ` +
      `(several workers must share a broadcast backbone) but received nothing`;
    throw new ConfigError([{ path, expected: "a backbone URI", received: "undefined", message }]);
  }
  if (/^memory:/i.test(parsed.BROADCAST_URI ?? "") && workers > 1) {
    const path = `${prefix}BROADCAST_URI`;
    const expected = "a backbone shared between processes (redis://, postgres://, kafka://)";
    const received = JSON.stringify(maskUri(parsed.BROADCAST_URI!));
    const message = `Invalid ${path}: Expected ${expected} when UVICORN_NUM_WORKERS is ${workers} but received ${received}` +
      ` (memory:// lives inside one process)`;
    throw new ConfigError([{ path, expected, received, message }]);
  }
  const reconnect = {
    enabled: parsed.BROADCAST_RECONNECT_ENABLED,
    maxRetries: parsed.BROADCAST_RECONNECT_MAX_RETRIES,
    minDelay: parsed.BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS,
    maxDelay: parsed.BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS,
  };
  const options: BroadcastOptions = {
    reconnect: dropUndefined(reconnect),
    ...dropUndefined({
      replayBufferSize: parsed.BROADCAST_REPLAY_BUFFER_SIZE,
      resyncOnReconnect: parsed.BROADCAST_RESYNC_ON_RECONNECT,
      resyncSettle: parsed.BROADCAST_RESYNC_SETTLE_SECONDS,
    }),
  };
  try {
    parseOptions(options);
  } catch (error) {
    throw renameIssues(error, prefix);
  }
  return { uri: parsed.BROADCAST_URI ?? "memory://", options, workers };
}

function dropUndefined<T extends Record<string, unknown>>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function maskIssue<T extends { received: string; message: string }>(issue: T, key: string): T {
  if (key !== "BROADCAST_URI") return issue;
  return { ...issue, received: maskUri(issue.received), message: maskUri(issue.message) };
}

// Cross-variable checks run on the options; report them under the variables' names.
function renameIssues(error: unknown, prefix: string): unknown {
  if (!(error instanceof ConfigError)) return error;
  const names: Record<string, string> = {
    "option reconnect.maxDelay": `${prefix}BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS`,
  };
  return new ConfigError(error.issues.map((issue) => {
    const name = names[issue.path] ?? issue.path;
    const message = issue.message.replace(issue.path, name)
      .replace("a value >= reconnect.minDelay", `a value >= ${prefix}BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS`)
      .replace(/received (\d+)$/, (_, ms) => `received ${Number(ms) / 1000}`);
    return { ...issue, path: name, message };
  }));
}
