/**
 * `streamcast pub`: publish one message, or each line of stdin, then leave.
 */
import process from "node:process";
import { Readable } from "node:stream";
import { describeInteger, integer, invalid, parseCommand, text } from "./args.ts";
import { checkArguments, checkMessage, CommandFailure, connectOrExplain, openBroadcast, reason, reportLink, say, splitTarget } from "./broadcast.ts";

/** `streamcast pub --help`. */
export const PUB_USAGE = `Usage: streamcast pub [<uri> | --uri <uri>] <channel> [<message>] [--retries N]

Publishes <message> on <channel>, or, without one, each line of stdin in
order (empty lines skipped), then disconnects. A message published while the
backbone is down is buffered and sent once it is back.

  <uri>          backbone URI, e.g. redis://localhost:6379 (taken as the URI
                 when it has a scheme://); "-" or none: the environment's
                 OPAL_BROADCAST_URI (memory:// when unset, which reaches only
                 this process). OPAL_BROADCAST_* variables apply as well.
  --uri <uri>    the URI as an option; every positional is then channel, message
  --retries N    consecutive failed connection attempts before giving up, with
                 backoff from 0.2 s to 2 s between them; default 5 (about 5 s),
                 or OPAL_BROADCAST_RECONNECT_MAX_RETRIES; 0 = forever
  -h, --help     this help

Exit: 0 once every message was sent, 1 when the backbone cannot be reached
("streamcast: cannot reach <uri>: <reason>") or a message could not be sent,
2 on bad arguments.

Examples:
  streamcast pub redis://localhost:6379 policy '{"id":1}'
  tail -f events.log | streamcast pub postgres://app@db/app audit
  OPAL_BROADCAST_URI=redis://cache:6379 streamcast pub policy v2`;

const SPEC = {
  uri: { type: "string", schema: text, expected: "a URI" },
  retries: { type: "string", schema: integer(0), expected: describeInteger(0) },
} as const;

/** One-shot use: give up after a few seconds rather than hang on a typo'd host. */
const DEFAULTS = { reconnect: { maxRetries: 5, minDelay: 200, maxDelay: 2_000 } };

/** Runs `streamcast pub`; resolves with the exit code. */
export async function pub(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, SPEC);
  if (values.help) {
    console.log(PUB_USAGE);
    return 0;
  }
  const { uri, rest } = splitTarget(positionals, values.uri);
  const [channel, message, ...extra] = rest;
  if (channel === undefined) throw invalid("channel", "a channel name", "nothing");
  if (extra.length > 0) throw invalid("argument", "at most <channel> <message> (quote a message with spaces)", JSON.stringify(extra[0]));
  const retries = values.retries as number | undefined;
  const broadcast = openBroadcast(uri, DEFAULTS, retries === undefined ? {} : { reconnect: { maxRetries: retries } });
  const sink = checkArguments(() => {
    if (message !== undefined) checkMessage(broadcast, channel, message);
    return broadcast.publisher(channel);
  });
  reportLink(broadcast);
  await connectOrExplain(broadcast);
  let count = 0;
  const counted = new TransformStream<string, string>({ transform: (line, out) => void (count++, out.enqueue(line)) });
  const source = message === undefined ? stdinLines() : oneLine(message);
  try {
    await source.pipeThrough(counted).pipeTo(sink);
  } catch (error) {
    await broadcast.disconnect();
    throw new CommandFailure(`could not publish on ${broadcast.uri}: ${reason(error)}`);
  }
  const { unsent } = await broadcast.disconnect();
  if (unsent.length > 0) throw new CommandFailure(`${unsent.length} of ${count} message(s) not sent to ${broadcast.uri}`);
  say(`published ${count} message(s) on ${channel} to ${broadcast.uri}`);
  return 0;
}

function oneLine(message: string): ReadableStream<string> {
  return new ReadableStream({ start: (out) => (out.enqueue(message), out.close()) });
}

/** The lines of stdin as a web stream, without their line ends; empty lines dropped. */
function stdinLines(): ReadableStream<string> {
  const bytes = Readable.toWeb(process.stdin) as ReadableStream<BufferSource>;
  return bytes.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
}

function lineSplitter(): TransformStream<string, string> {
  let partial = "";
  const emit = (line: string, out: TransformStreamDefaultController<string>) => {
    const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (trimmed !== "") out.enqueue(trimmed);
  };
  return new TransformStream({
    transform(chunk, out) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) emit(line, out);
    },
    flush: (out) => emit(partial, out),
  });
}
