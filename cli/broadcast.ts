/**
 * What every subcommand does with the backbone: find the URI (command line or
 * environment), build the Broadcast with the environment's options under the
 * command line's, and tell the user on stderr what the link goes through.
 */
import process from "node:process";
import { Broadcast, type BroadcastOptions, ChannelError, ConfigError, configFromEnv, GiveUpError, maskUri, MessageError, PayloadTooLargeError } from "../mod.ts";
import { type MessageCheck, messageCheck, parseUri } from "../lib/broadcast/schemes.ts";
import { invalid, UsageError } from "./args.ts";

/** Where the URI came from and what is left of the positionals. */
export interface Target {
  /** The URI, or undefined for the environment's (`OPAL_BROADCAST_URI`, else memory://). */
  uri: string | undefined;
  /** The positionals after the URI. */
  rest: string[];
}

const LOOKS_LIKE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * `--uri` wins and leaves every positional to the command. Otherwise the
 * first positional is the URI when it is `-` (the environment's) or has a
 * `scheme://`; any other first positional is already a channel, and the URI
 * comes from the environment.
 */
export function splitTarget(positionals: string[], uriFlag: unknown): Target {
  if (typeof uriFlag === "string") return { uri: uriFlag === "-" ? undefined : uriFlag, rest: positionals };
  const [first, ...rest] = positionals;
  if (first === "-") return { uri: undefined, rest };
  if (first !== undefined && LOOKS_LIKE_URI.test(first)) return { uri: first, rest };
  return { uri: undefined, rest: positionals };
}

/**
 * A Broadcast, not yet connected, on `uri` or the environment's URI. Options
 * stack: the command's `defaults`, then the `OPAL_BROADCAST_*` variables, then
 * `flags` from the command line. Configuration errors become `UsageError`.
 */
export function openBroadcast(uri: string | undefined, defaults: BroadcastOptions, flags: BroadcastOptions = {}): Broadcast {
  try {
    const env = configFromEnv(process.env);
    const options = merge(merge(defaults, env.options), flags);
    try {
      return new Broadcast(uri ?? env.uri, options);
    } catch (error) {
      // The library names the URI "URI"; when it came from the environment, say which variable.
      if (uri === undefined && error instanceof ConfigError) throw new UsageError(error.message.replace(/^Invalid URI/, "Invalid OPAL_BROADCAST_URI"));
      throw error;
    }
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

function merge(base: BroadcastOptions, over: BroadcastOptions): BroadcastOptions {
  const reconnect = { ...base.reconnect, ...over.reconnect };
  const liveness = { ...base.liveness, ...over.liveness };
  return { ...base, ...over, reconnect, liveness };
}

/** Why something failed, in one line, with any password masked. */
export function reason(error: unknown): string {
  const root = error instanceof GiveUpError && error.cause !== undefined ? error.cause : error;
  const text = root instanceof Error ? root.message : String(root);
  return maskUri(text.split("\n")[0]);
}

/** Writes `streamcast: <text>` to stderr. */
export function say(text: string): void {
  process.stderr.write(`streamcast: ${text}\n`);
}

/**
 * Reports on stderr the link going down and coming back, and the first
 * failed attempt of each outage (the rest would be a screenful of the same).
 */
export function reportLink(broadcast: Broadcast): void {
  let failures = 0;
  let wasDown = false;
  broadcast.addEventListener("statechange", (event) => {
    const { state, cause } = event.detail;
    if (state === "down") {
      wasDown = true;
      say(`backbone down${cause === undefined ? "" : ` (${reason(cause)})`}, reconnecting…`);
    } else if (state === "up" && wasDown) {
      say(`backbone up again after ${failures} failed attempt(s)`);
      failures = 0;
    }
  });
  broadcast.addEventListener("error", (event) => {
    const { error } = event.detail;
    if (failures++ === 0) say(`cannot reach ${broadcast.uri}: ${reason(error)}; retrying with backoff`);
  });
}

/** Connects; a failure becomes one line naming the masked URI. */
export async function connectOrExplain(broadcast: Broadcast): Promise<void> {
  try {
    await broadcast.connect();
  } catch (error) {
    throw new CommandFailure(`cannot reach ${broadcast.uri}: ${reason(error)}`);
  }
}

/** A failure to print as one line, exit code 1. */
export class CommandFailure extends Error {
  override name = "CommandFailure" as const;
  readonly code = "COMMAND_FAILED" as const;
}

/**
 * Runs the library's checks of what the user typed (a channel, a message)
 * before any connection attempt: what they refuse is a bad argument, exit 2,
 * even when the backbone is unreachable.
 */
export function checkArguments<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ChannelError || error instanceof MessageError) throw new UsageError(error.message, { cause: error });
    if (error instanceof PayloadTooLargeError) {
      throw invalid("<message>", `at most ${error.limit} UTF-8 bytes on this backbone`, `${error.size} bytes`);
    }
    throw error;
  }
}

/**
 * Throws `MessageError` or `PayloadTooLargeError` for what the backbone cannot
 * carry (over Kafka's limit: the command never sets `backendOptions`, so the
 * default one).
 */
export function checkMessage(broadcast: Broadcast, channel: string, message: string): void {
  // Only the scheme matters here, and the masked URI keeps it.
  const check: MessageCheck = messageCheck(parseUri(broadcast.uri), {});
  check(channel, message);
}
