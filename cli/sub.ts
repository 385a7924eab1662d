/**
 * `streamcast sub`: print every frame of one or more channels, one line each,
 * until interrupted.
 */
import { once } from "node:events";
import process from "node:process";
import type { Frame } from "../mod.ts";
import { describeInteger, integer, invalid, parseCommand, text } from "./args.ts";
import { checkArguments, CommandFailure, connectOrExplain, openBroadcast, reason, reportLink, say, splitTarget } from "./broadcast.ts";

/** `streamcast sub --help`. */
export const SUB_USAGE = `Usage: streamcast sub [<uri> | --uri <uri>] <channel>... [--raw] [--retries N]

Prints every frame on the channels, one JSON line each, until Ctrl-C:
  {"type":"event","channel":"policy","message":"v2"}
  {"type":"resync","channel":"policy","reason":"reconnect"}
A resync frame means events may have been missed during a gap: re-fetch state.

  <uri>          backbone URI, e.g. redis://localhost:6379 (taken as the URI
                 when it has a scheme://); "-" or none: the environment's
                 OPAL_BROADCAST_URI (memory:// when unset). OPAL_BROADCAST_*
                 variables set the reconnect options in every case.
  --uri <uri>    the URI as an option; every positional is then a channel
  --raw          print only the message of each event; resync frames go to
                 stderr as "streamcast: resync on <channel> (<reason>) …"
  --retries N    consecutive failed connection attempts before giving up
                 (exit 1); default 0 = retry forever
  -h, --help     this help

Link changes (down, reconnecting, up again) are reported on stderr.
Exit: 0 on Ctrl-C or SIGTERM, 1 when the backbone is given up on, 2 on bad arguments.

Examples:
  streamcast sub redis://localhost:6379 policy
  streamcast sub --raw postgres://app@db/app policy audit
  OPAL_BROADCAST_URI=redis://cache:6379 streamcast sub policy`;

const SPEC = {
  uri: { type: "string", schema: text, expected: "a URI" },
  raw: { type: "boolean" },
  retries: { type: "string", schema: integer(0), expected: describeInteger(0) },
} as const;

/** Runs `streamcast sub`; resolves with the exit code. */
export async function sub(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, SPEC);
  if (values.help) {
    console.log(SUB_USAGE);
    return 0;
  }
  const { uri, rest: channels } = splitTarget(positionals, values.uri);
  if (channels.length === 0) throw invalid("channel", "at least one channel name", "nothing");
  const retries = values.retries as number | undefined;
  const broadcast = openBroadcast(uri, {}, retries === undefined ? {} : { reconnect: { maxRetries: retries } });
  // Subscribing checks each channel name before any connection attempt; the
  // link subscribes them once it is up.
  const streams = checkArguments(() => channels.map((channel) => broadcast.subscribe(channel)));
  const print = values.raw ? printRaw : printJson;
  // Settled from the start: a stream that errors (gave up) before we wait on it is not an unhandled rejection.
  const outcomes = Promise.allSettled(streams.map((stream) => pump(stream, print)));
  // Installed before connecting: with an unreachable backbone, connecting is the whole run.
  let stopping: Promise<unknown> | undefined;
  const stop = () => void (stopping ??= broadcast.disconnect());
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // A closed pipe (`| head -1`) is the reader saying it has seen enough.
  process.stdout.on("error", stop);
  reportLink(broadcast);
  try {
    await connectOrExplain(broadcast);
    await broadcast.ready();
  } catch (error) {
    // Disconnecting rejects the pending connect: that is the stop, not a failure.
    if (stopping) {
      await stopping;
      return 0;
    }
    throw error instanceof CommandFailure ? error : new CommandFailure(`gave up on ${broadcast.uri}: ${reason(error)}`);
  }
  say(`subscribed to ${channels.join(", ")} on ${broadcast.uri}; Ctrl-C to stop`);
  const failed = (await outcomes).find((outcome) => outcome.status === "rejected");
  if (failed && !stopping) throw new CommandFailure(`gave up on ${broadcast.uri}: ${reason(failed.reason)}`);
  await stopping;
  return 0;
}

/** Writes each frame until the stream ends; rejects when it errors (gave up). */
async function pump(stream: ReadableStream<Frame>, print: (frame: Frame) => Promise<void>): Promise<void> {
  for await (const frame of stream) await print(frame);
}

function printJson(frame: Frame): Promise<void> {
  return write(`${JSON.stringify(frame)}\n`);
}

function printRaw(frame: Frame): Promise<void> {
  if (frame.type === "event") return write(`${frame.message}\n`);
  say(`resync on ${frame.channel} (${frame.reason}): events may have been missed, re-fetch state`);
  return Promise.resolve();
}

// Waits for a full pipe to drain, so a slow reader slows us down instead of
// growing stdout's buffer; the subscriber's own bounded buffer then applies.
async function write(line: string): Promise<void> {
  if (!process.stdout.write(line)) await once(process.stdout, "drain");
}
