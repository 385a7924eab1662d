/**
 * `streamcast serve`: the reference fan-out server. Several worker processes
 * (node:cluster) share one HTTP port; each holds one Broadcast on the backbone
 * and serves Server-Sent Events, so a publish to any worker — or to any other
 * `serve` process on the same backbone — reaches every connected client.
 *
 * @module
 */
import process from "node:process";
import { ConfigError } from "../../mod.ts";
import { parseFlags, resolveConfig, UsageError } from "./config.ts";
import { runPrimary } from "./primary.ts";

/** The `--help` text of `streamcast serve`. */
export const SERVE_USAGE = `Usage: streamcast serve [options]

Serves Server-Sent Events fanned out over a broadcast backbone, from one or
more worker processes sharing one port.

  GET  /subscribe?channel=a&channel=b   an event stream (EventSource, curl -N):
                                        "event: message" with data {"channel","message"},
                                        "event: resync" just before the server closes the
                                        stream after a backbone gap, or when the client
                                        fell too far behind (reconnect and re-fetch)
  POST /publish/<channel>               publishes the request body (UTF-8 text)
  GET  /healthz                         200 {"state":"up"|"connecting"|"down",…};
                                        503 once the backbone is given up (the worker
                                        then exits and a new one is started)
  GET  /?channel=demo                   a page that subscribes and shows messages
  OPTIONS *                             the CORS preflight of an allowed page

Options:
  -p, --port <n>          TCP port (default 8080; 0 picks a free one)
      --host <addr>       address to listen on (default 127.0.0.1); beyond loopback (0.0.0.0 in
                          a container) a token is required, or --insecure
  -w, --workers <n>       worker processes (default UVICORN_NUM_WORKERS, else 1); more than
                          one needs a backbone shared between processes, not memory://
  -u, --uri <uri>         backbone URI (default OPAL_BROADCAST_URI, else memory://)
      --max-retries <n>   failed reconnect attempts before a worker gives up; 0 = forever
                          (default OPAL_BROADCAST_RECONNECT_MAX_RETRIES, else 0)
      --backoff-min <ms>  smallest delay between attempts (default 500)
      --backoff-max <ms>  largest delay between attempts (default 30000)
      --resync-settle <ms> wait after reconnecting before resync and replay (default 2000)
      --resync-spread <ms> close SSE clients at random within this time after a gap,
                          so they do not all reconnect at once (default 1000)
      --retry <ms>        EventSource reconnect delay; each client gets a value between
                          this and twice this (default 1000)
      --keepalive <ms>    keep-alive comment interval (default 15000)
      --write-timeout <ms> close a client that takes no data for this long: it stopped
                          reading, and its queue would overflow unseen (default 15000)
      --max-body <bytes>  largest publish body (default 1048576)

Security: a token goes in "Authorization: Bearer <token>"; a missing or bad one is
answered 401, a good one for a channel it does not allow 403. /healthz names the
backbone's user and host only to the static token and to a JWT with "healthz": true.
      --token-file <path> a static token (16+ characters) that may publish and subscribe on every
                          channel (default STREAMCAST_SERVE_TOKEN)
      --jwt-public-key <path>  verify JWTs with this PEM public key (SPKI); their "publish" and
                          "subscribe" claims list the channels allowed ("room:*" is a prefix)
      --jwks-url <url>    verify JWTs with the keys at this JWKS URL instead
      --jwt-audience <aud> the "aud" a JWT must carry (required with either of the two above)
      --jwt-issuer <iss>  the "iss" a JWT must carry
      --auth-subscribe    subscribing needs a token too (publishing always does once one is set)
      --allow-origin <origin>  pages of this origin may call the server (CORS), besides its own;
                          repeatable or comma-separated; any other page gets 403
      --allow-host <name> answer this Host name too (a reverse proxy's); while on loopback only
                          loopback names are answered (421), against DNS rebinding
      --insecure          listen beyond loopback without a token: anyone who reaches it can publish
  -h, --help              this text

The OPAL_BROADCAST_* variables (see the README) configure the backbone; flags win.
Each worker logs its backbone state changes to stderr, passwords masked.
SIGTERM or SIGINT stops the workers and exits 0.

Examples:
  streamcast serve --workers 4 --uri redis://localhost:6379
  curl -N 'http://127.0.0.1:8080/subscribe?channel=news'
  curl -d 'hello' http://127.0.0.1:8080/publish/news
  streamcast serve --host 0.0.0.0 --token-file /run/secrets/token \\
    --allow-origin https://app.example.com
  curl -H "Authorization: Bearer $(cat /run/secrets/token)" -d 'hi' http://server:8080/publish/news
`;

/**
 * Runs `streamcast serve` with `args` (everything after `serve`) until it is
 * stopped; resolves with the exit code: 0 after SIGTERM/SIGINT or `--help`,
 * 2 for a bad argument or variable (one line on stderr; so is listening
 * beyond loopback without a token or `--insecure`), 1 when a worker
 * meets an error retrying cannot fix (the port is taken, rejected credentials).
 *
 * @example Bad arguments are refused with exit code 2
 * ```ts
 * import { serve } from "./mod.ts";
 * const code = await serve(["--port", "http"]); // prints: Invalid --port: Expected an integer …
 * if (code !== 2) throw new Error();
 * ```
 */
export async function serve(args: string[]): Promise<number> {
  let config;
  try {
    const flags = parseFlags(args);
    if (flags.help) {
      process.stdout.write(SERVE_USAGE);
      return 0;
    }
    config = resolveConfig(flags, process.env);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    process.stderr.write(`streamcast serve: ${error.message} (see "streamcast serve --help")\n`);
    return 2;
  }
  return await runPrimary(config);
}
