/**
 * The Redis backend's configuration: node-redis options from the URI and
 * `BroadcastOptions.backendOptions`, and what a failed connection attempt means.
 *
 * @module
 */
import { abortable } from "../../lib/util/abortable.ts";
import { readCaFile } from "../tls/ca_file.ts";
import { createClient, ErrorReply } from "redis";
import * as v from "valibot";
import { AuthenticationError, BackboneUnavailableError, ConfigError, configIssue } from "../../lib/contract/errors.ts";
import { redisDatabase, RedisSettingsSchema } from "./rules.ts";
import { errorMessage } from "../../lib/util/error_message.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";
import { toConfigIssues } from "../../lib/contract/config.ts";
import type { TlsOptions } from "../tls/options.ts";

/** What `BroadcastOptions.backendOptions` may hold for `redis://` and `rediss://`. */
export interface RedisSettings {
  /**
   * `CLIENT SETNAME` prefix: the connections are `<prefix>:sub` and `<prefix>:pub`
   * (`<prefix>:read` and `<prefix>:write` in history mode). @default {"streamcast"}
   */
  clientName?: string;
  /** Protocol version: 2 for servers older than Redis 6. @default {3} */
  resp?: 2 | 3;
  /** TLS options for `rediss://` (`ca`, `cert`, `key`, …), merged over the URI's `ca` file. @default {{}} */
  tls?: TlsOptions;
}

/** node-redis client options (without the connection name) and our own settings. */
export interface RedisConfig {
  client: {
    RESP: 2 | 3;
    username?: string;
    password?: string;
    database?: number;
    socket: Record<string, unknown>;
    commandOptions: { timeout: number };
    clientInfoTag: string;
    maintNotifications: "disabled";
  };
  name: string;
}

/** Reads the URI and settings; throws `ConfigError` naming everything that is wrong. */
export async function redisConfig(uri: URL, settings: Readonly<Record<string, unknown>>): Promise<RedisConfig> {
  const parsed = v.safeParse(RedisSettingsSchema, settings);
  // The Broadcast checked both already; a connector made directly is checked here.
  const { database, problems } = redisDatabase(uri);
  const issues = problems.map(({ part, expected, received }) => configIssue(`URI ${part}`, expected, received));
  if (!parsed.success) issues.unshift(...toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`));
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);
  const { clientName, resp, tls } = parsed.output;
  const host = uri.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost";
  const socket: Record<string, unknown> = { host, port: Number(uri.port || 6379), reconnectStrategy: false };
  if (uri.protocol === "rediss:") Object.assign(socket, { tls: true, servername: host, ...await caFromUri(uri), ...tls });
  return {
    client: {
      RESP: resp,
      ...(uri.username ? { username: decodeURIComponent(uri.username) } : {}),
      ...(uri.password ? { password: decodeURIComponent(uri.password) } : {}),
      ...(database !== undefined ? { database } : {}),
      socket,
      // No per-command timer: it costs ~3.5x publish throughput; the core's liveness probe bounds every wait.
      commandOptions: { timeout: 0 },
      clientInfoTag: "streamcast",
      maintNotifications: "disabled",
    },
    name: clientName,
  };
}

async function caFromUri(uri: URL): Promise<TlsOptions> {
  const path = uri.searchParams.get("ca");
  if (path === null) return {};
  const read = readCaFile(path);
  if ("problem" in read) throw new ConfigError([configIssue("URI ca", "a readable PEM file", read.problem)]);
  return { ca: read.ca };
}

// Replies that retrying the same credentials can never change.
const REFUSED = /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|without any password configured/i;

/**
 * What a failed connection attempt means: rejected credentials and a database
 * the server does not have are fatal, the rest retried.
 */
export function connectError(where: string, error: unknown, database?: number): Error {
  const message = errorMessage(error);
  if (/DB index is out of range/i.test(message)) {
    return new ConfigError([configIssue("URI database", "a database the server has", `database ${database} (${message})`)]);
  }
  if (REFUSED.test(message)) {
    return new AuthenticationError(`Redis at ${where} refused the credentials: ${message}`, { cause: error });
  }
  return new BackboneUnavailableError(`Could not connect to ${where}: ${message}`, { cause: error });
}

// Error replies that say "not now" rather than "never": the link is treated as lost and the broadcast retried.
// EXECABORT: on a cluster, a transaction whose command was redirected (its slot moved) when it was queued.
const TRANSIENT = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOAUTH|NOREPLICAS|OOM|EXECABORT)\b/;

/** Whether Redis refused a command for good (an error reply that retrying cannot change). */
export function refusedForGood(error: unknown): boolean {
  return error instanceof ErrorReply && !TRANSIENT.test(error.message);
}

/**
 * Settles a pipelined batch whose command `sent[i]` published `batch[i]` and
 * one of which failed with `error`. A lost connection (`linkError()`) or a
 * transient refusal fails the write, and the core sends the batch again; a
 * frame Redis refused for good is reported through `dropped`, never retried
 * forever, and the write resolves.
 */
export async function reportRefused(
  batch: EventFrame[],
  sent: Promise<unknown>[],
  error: unknown,
  linkError: () => Error | undefined,
  dropped: (frame: EventFrame, reason: unknown) => void,
): Promise<void> {
  if (linkError() || !refusedForGood(error)) throw linkError() ?? error;
  const outcomes = await Promise.allSettled(sent);
  if (linkError()) throw linkError();
  // Another failure has the whole batch sent again: report nothing now, or the retry reports these twice.
  const other = outcomes.find((outcome) => outcome.status === "rejected" && !refusedForGood(outcome.reason));
  if (other) throw (other as PromiseRejectedResult).reason;
  outcomes.forEach((outcome, i) => {
    if (outcome.status === "rejected") dropped(batch[i], outcome.reason);
  });
}

/** A link being connected: closed when abandoned or failed, and lost when a connection drops. */
export interface Connecting {
  /** Rejects when either connection is lost while connecting. */
  readonly lost: Promise<never>;
  close(): unknown;
}

/**
 * Waits for `steps` (each started once the one before it is done) to connect
 * `link`, or closes it: when `signal` aborts (with its reason) or a step
 * fails or the link is lost (with what that failure means, see `connectError`).
 */
export async function connectLink(
  link: Connecting,
  steps: (() => Promise<unknown>)[],
  signal: AbortSignal,
  where: string,
  database: number | undefined,
): Promise<void> {
  const abandon = () => link.close();
  signal.addEventListener("abort", abandon, { once: true });
  try {
    // node-redis may never settle a connect() cut short by destroy(): race the signal and the loss.
    for (const step of steps) await abortable(Promise.race([step(), link.lost]), signal);
  } catch (error) {
    link.close();
    if (signal.aborted) throw signal.reason;
    throw connectError(where, error, database);
  } finally {
    signal.removeEventListener("abort", abandon);
  }
}

/**
 * A node-redis client (typed by its caller) whose `destroy()` holds even
 * while it connects: node-redis 6 (seen on 6.3.1) goes on connecting a client
 * destroyed during `connect()`, and then keeps that socket open for good. So
 * a client destroyed before its `connect()` settled is destroyed again then.
 */
export function redisClient(options: RedisConfig["client"] & { name: string }): unknown {
  const client = createClient(options) as unknown as { connect(): Promise<unknown>; destroy(): void };
  const connect = client.connect.bind(client);
  const destroy = client.destroy.bind(client);
  let destroyed = false;
  client.destroy = () => {
    destroyed = true;
    destroy();
  };
  client.connect = () => {
    const connecting = connect();
    connecting.then(() => destroyed && destroy(), () => {});
    return connecting;
  };
  return client;
}
