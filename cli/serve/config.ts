/**
 * Reads `streamcast serve`'s flags and environment into one validated
 * configuration, or one-line errors: flags with the subcommands' shared
 * parser (`../args.ts`: the same grammar and messages as `pub` and `sub`), the
 * backbone with `configFromEnv` (the OPAL_BROADCAST_* variables) and the Broadcast's own
 * validation. Private to the serve command.
 */
import * as v from "valibot";
import { Broadcast, type BroadcastOptions, ConfigError, configFromEnv, maskUri } from "../../mod.ts";
import { type CommandSpec, describeInteger, integer, invalid, type OptionSpec, parseCommand, UsageError } from "../args.ts";
import { resolveSecurity, type SecurityConfig, type SecurityFlags } from "./security_config.ts";

export { UsageError };

/** Everything a worker needs; the primary sends it to each worker over the IPC channel (`ipc.ts`). */
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
  /** A client that takes no write for this long is closed. */
  writeTimeout: number;
  maxBody: number;
  /** Tokens, allowed origins and hosts (the token included: never print it). */
  security: SecurityConfig;
}

const HOUR = 3_600_000;
const whole = (min: number, max: number | undefined, what?: string): OptionSpec => ({
  type: "string",
  schema: integer(min, max),
  expected: what === undefined ? describeInteger(min, max) : `${what} from ${min} to ${max}`,
});
const ms = (min = 0) => whole(min, HOUR, "a number of milliseconds");
const words = (expected: string, multiple = false): OptionSpec => ({
  type: "string",
  schema: v.pipe(v.string(), v.trim(), v.minLength(1)),
  expected,
  multiple,
});

const SPEC = {
  port: whole(0, 65_535),
  host: words("a host name or address"),
  workers: whole(1, 256),
  uri: words("a backbone URI"),
  "max-retries": whole(0, undefined),
  "backoff-min": ms(),
  "backoff-max": ms(),
  "resync-settle": ms(),
  "resync-spread": ms(),
  retry: ms(),
  keepalive: ms(1_000),
  "write-timeout": ms(1_000),
  "max-body": whole(1, 64 * 1024 * 1024, "a number of bytes"),
  "token-file": words("a file path"),
  "jwt-public-key": words("a file path"),
  "jwks-url": words("a URL"),
  "jwt-audience": words("an audience"),
  "jwt-issuer": words("an issuer"),
  "auth-subscribe": { type: "boolean" },
  "allow-origin": words("an origin such as https://app.example.com", true),
  "allow-host": words("a host name", true),
  insecure: { type: "boolean" },
} satisfies CommandSpec;

/** The flags as given: each absent when not on the command line. */
export interface Flags extends SecurityFlags {
  help: boolean;
  port?: number;
  workers?: number;
  uri?: string;
  "max-retries"?: number;
  "backoff-min"?: number;
  "backoff-max"?: number;
  "resync-settle"?: number;
  "resync-spread"?: number;
  retry?: number;
  keepalive?: number;
  "write-timeout"?: number;
  "max-body"?: number;
}

// The short forms are spelled out before parsing: the shared parser glues
// `--port -1` into `--port=-1` (so -1 reaches the schema) and names the long
// form in its messages, but does neither for a short one.
const SHORT: Record<string, string> = { p: "--port", w: "--workers", u: "--uri" };
function spellOut(args: string[]): string[] {
  return args.map((arg, i) => {
    const [, letter, value] = /^-([pwu])(.*)$/.exec(arg) ?? [];
    const previous = args[i - 1] ?? "";
    const isValue = previous.startsWith("--") && !previous.includes("=") && SPEC[previous.slice(2) as keyof typeof SPEC]?.type === "string";
    if (letter === undefined || isValue) return arg;
    return value === "" ? SHORT[letter] : `${SHORT[letter]}=${value}`;
  });
}

/** Parses the flags; throws `UsageError` naming the first bad one. */
export function parseFlags(args: string[]): Flags {
  let parsed;
  try {
    parsed = parseCommand(spellOut(args), SPEC);
  } catch (error) {
    throw error instanceof UsageError ? new UsageError(maskUri(error.message)) : error;
  }
  if (parsed.positionals.length > 0) {
    throw invalid("argument", "only --flags", JSON.stringify(maskUri(parsed.positionals[0])));
  }
  return { ...parsed.values, help: parsed.values.help === true } as Flags;
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
  const host = flags.host ?? "127.0.0.1";
  return {
    host,
    port: flags.port ?? 8080,
    workers: fromEnv.workers,
    uri: fromEnv.uri,
    options,
    resyncSpread: flags["resync-spread"] ?? 1_000,
    retry: flags.retry ?? 1_000,
    keepAlive: flags.keepalive ?? 15_000,
    writeTimeout: flags["write-timeout"] ?? 15_000,
    maxBody: flags["max-body"] ?? 1024 * 1024,
    security: resolveSecurity(flags, environment, host),
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
