/**
 * Reads `streamcast serve`'s flags and environment into one validated
 * configuration, or one-line errors: flags with `node:util` parseArgs, values
 * with valibot, the backbone with `configFromEnv` (the seed's variables) and
 * the Broadcast's own validation. Private to the serve command.
 */
import { parseArgs } from "node:util";
import * as v from "valibot";
import { Broadcast, type BroadcastOptions, ConfigError, configFromEnv, maskUri } from "../mod.ts";
import { UsageError } from "./_args.ts";

export { UsageError };

/** Everything a worker needs; sent from the primary to each worker as JSON. */
export interface ServeConfig {
  host: string;
  port: number;
  workers: number;
  /** The backbone URI as given (password included: never print it, print `maskUri(uri)`). */
  uri: string;
  options: BroadcastOptions;
  resyncSpread: number;
  retry: number;
  keepAlive: number;
  maxBody: number;
}

const FLAGS = {
  help: { type: "boolean", short: "h" },
  port: { type: "string", short: "p" },
  host: { type: "string" },
  workers: { type: "string", short: "w" },
  uri: { type: "string", short: "u" },
  "max-retries": { type: "string" },
  "backoff-min": { type: "string" },
  "backoff-max": { type: "string" },
  "resync-settle": { type: "string" },
  "resync-spread": { type: "string" },
  retry: { type: "string" },
  keepalive: { type: "string" },
  "max-body": { type: "string" },
} as const;

const integer = (min: number, max: number, what = "an integer") => {
  const expected = max === Infinity ? `${what} >= ${min}` : `${what} from ${min} to ${max}`;
  return v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, (issue) => `Expected ${expected} but received ${issue.received}`),
    v.transform(Number),
    v.check((n) => n >= min && n <= max, (issue) => `Expected ${expected} but received ${issue.input}`),
  );
};
const ms = integer(0, 3_600_000, "a number of milliseconds");

const FlagsSchema = v.object({
  help: v.optional(v.boolean(), false),
  port: v.optional(integer(0, 65_535)),
  host: v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty("Expected a host name or address but received \"\""))),
  workers: v.optional(integer(1, 256)),
  uri: v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty("Expected a backbone URI but received \"\""))),
  "max-retries": v.optional(integer(0, Number.MAX_SAFE_INTEGER)),
  "backoff-min": v.optional(ms),
  "backoff-max": v.optional(ms),
  "resync-settle": v.optional(ms),
  "resync-spread": v.optional(ms),
  retry: v.optional(ms),
  keepalive: v.optional(integer(1_000, 3_600_000, "a number of milliseconds")),
  "max-body": v.optional(integer(1, 64 * 1024 * 1024, "a number of bytes")),
});

type Flags = v.InferOutput<typeof FlagsSchema>;

/** Parses the flags; throws `UsageError` naming the first bad one. */
export function parseFlags(args: string[]): Flags {
  let values: Record<string, unknown>;
  try {
    const parsed = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: true });
    if (parsed.positionals.length > 0) {
      throw new UsageError(`Invalid argument: Expected only --flags but received ${JSON.stringify(parsed.positionals[0])}`);
    }
    values = parsed.values;
  } catch (error) {
    throw error instanceof UsageError ? error : fromParseArgs(error as Error & { code?: string });
  }
  const result = v.safeParse(FlagsSchema, values);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const flag = `--${v.getDotPath(issue) ?? "?"}`;
  const detail = issue.message.startsWith("Expected ") ? issue.message : `Expected ${issue.expected} but received ${issue.received}`;
  throw new UsageError(`Invalid ${flag}: ${maskUri(detail)}`);
}

function fromParseArgs(error: Error & { code?: string }): UsageError {
  const named = /'(?:-\w, )?(--?[\w-]+)/.exec(error.message)?.[1] ?? "?";
  if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const known = Object.keys(FLAGS).map((flag) => `--${flag}`).join(" ");
    return new UsageError(`Invalid option ${named}: Expected one of ${known} but received ${named}`);
  }
  if (error.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return new UsageError(`Invalid ${named}: ${/argument missing/.test(error.message) ? "Expected a value but received nothing" : "Expected no value"}`);
  }
  return new UsageError(`Invalid arguments: ${error.message.split("\n")[0]}`);
}

/**
 * Resolves the flags and the environment (flags win) into a `ServeConfig`;
 * throws `UsageError` or `ConfigError` with a one-line message.
 */
export function resolveConfig(flags: Flags, environment: Record<string, string | undefined>): ServeConfig {
  const env = { ...environment };
  if (flags.uri !== undefined) env.OPAL_BROADCAST_URI = flags.uri;
  if (flags.workers !== undefined) env.UVICORN_NUM_WORKERS = String(flags.workers);
  refuseLonelyWorkers(flags, env);
  const fromEnv = configFromEnv(env);
  const options = withFlags(fromEnv.options, flags);
  try {
    new Broadcast(fromEnv.uri, options); // validates the URI and options; does not connect
  } catch (error) {
    throw renameUriIssue(error, flags.uri !== undefined ? "--uri" : "OPAL_BROADCAST_URI");
  }
  return {
    host: flags.host ?? "127.0.0.1",
    port: flags.port ?? 8080,
    workers: fromEnv.workers,
    uri: fromEnv.uri,
    options,
    resyncSpread: flags["resync-spread"] ?? 1_000,
    retry: flags.retry ?? 1_000,
    keepAlive: flags.keepalive ?? 15_000,
    maxBody: flags["max-body"] ?? 1024 * 1024,
  };
}

// Workers are separate processes: only a real backbone carries events between them.
function refuseLonelyWorkers(flags: Flags, env: Record<string, string | undefined>): void {
  const raw = env.UVICORN_NUM_WORKERS?.trim();
  const workers = raw && /^\d+$/.test(raw) ? Number(raw) : 1;
  if (workers <= 1) return;
  const source = flags.workers !== undefined ? "--workers" : "UVICORN_NUM_WORKERS";
  const uri = env.OPAL_BROADCAST_URI?.trim();
  if (!uri) {
    throw new UsageError(
      `Invalid ${source}: ${workers} workers need a backbone URI (--uri or OPAL_BROADCAST_URI) ` +
        `but received none: each worker is its own process, and without a shared backbone ` +
        `a publish would reach only the clients of the worker that received it`,
    );
  }
  if (uri.toLowerCase().startsWith("memory:")) {
    throw new UsageError(
      `Invalid ${flags.uri !== undefined ? "--uri" : "OPAL_BROADCAST_URI"}: ${workers} workers need a backbone ` +
        `shared between processes (redis://, postgres://, kafka://) but received ${JSON.stringify(maskUri(uri))}: ` +
        `memory:// lives inside one process, so workers would not see each other's publishes`,
    );
  }
}

function withFlags(options: BroadcastOptions, flags: Flags): BroadcastOptions {
  const reconnect = { ...options.reconnect };
  if (flags["max-retries"] !== undefined) reconnect.maxRetries = flags["max-retries"];
  if (flags["backoff-min"] !== undefined) reconnect.minDelay = flags["backoff-min"];
  if (flags["backoff-max"] !== undefined) reconnect.maxDelay = flags["backoff-max"];
  const merged: BroadcastOptions = { ...options, reconnect };
  if (flags["resync-settle"] !== undefined) merged.resyncSettle = flags["resync-settle"];
  return merged;
}

function renameUriIssue(error: unknown, name: string): unknown {
  if (!(error instanceof ConfigError)) return error;
  const rename = (text: string) =>
    text.replace(/^Invalid URI:/, `Invalid ${name}:`)
      .replace(/option reconnect\.minDelay/, "--backoff-min")
      .replace(/option reconnect\.maxDelay/, "--backoff-max")
      .replace(/reconnect\.minDelay/, "--backoff-min");
  return new ConfigError(error.issues.map((issue) => ({ ...issue, path: rename(issue.path), message: rename(issue.message) })));
}
