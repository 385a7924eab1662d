/**
 * The bad-input table of the library: one row per class of bad input, what is
 * done, the error class (and `code`) expected, and a pattern the message must
 * match to name the culprit (the option, variable, parameter or channel).
 * `tests/input/bad_input_test.ts` turns each row into a test of its own.
 */
import {
  Broadcast,
  ChannelError,
  ClosedError,
  ConfigError,
  MessageError,
  PayloadTooLargeError,
} from "../../mod.ts";

/** A password that must never appear in an error, as written and percent-encoded. */
export const PASSWORD = "s3cretPW";
export const SECRETS = [PASSWORD, "s3cret%ZZPW", "s3cret PW", "s3cret%20PW"];

/** Where a live row runs: a connected Broadcast on this backbone, with a subscriber. */
export type Backbone = "memory" | "redis" | "postgres";

export interface Row {
  /** The class of bad input: the test's name. */
  name: string;
  /**
   * The bad thing. A live row (with `on`) gets a connected Broadcast and the
   * channel its subscriber reads; the others make their own Broadcast.
   */
  act: (broadcast: Broadcast, channel: string) => unknown;
  /** The error expected, or "ends" for a stream that ends at once without one. */
  error: (abstract new (...args: never[]) => Error) | "ends";
  /** The error's `code`, where it has one. */
  code?: string;
  /** Matches a message that names the culprit. */
  names: RegExp;
  /** A live row: good publishes before and after the bad input must all arrive, in order. */
  on?: Backbone;
}

// Node 20's own WritableStream rejects a write after close() with an internal
// assertion (its size algorithm is already cleared) instead of the TypeError
// the streams standard asks for; later Node versions and Deno follow the
// standard. Either way the write rejects and nothing is sent: that is asserted.
const NODE_20 = !("Deno" in globalThis) && /^v20\./.test((globalThis as { process?: { version?: string } }).process?.version ?? "");
const CLOSED_WRITE = NODE_20
  ? { error: Error, code: "ERR_INTERNAL_ASSERTION", names: /bug in Node\.js/ }
  : { error: TypeError, names: /clos/i };

const CONFIG = { error: ConfigError, code: "CONFIG_INVALID" } as const;
const CHANNEL = { error: ChannelError, code: "CHANNEL_INVALID" } as const;
const MESSAGE = { error: MessageError, code: "MESSAGE_INVALID" } as const;
const CLOSED = { error: ClosedError, code: "BROADCAST_CLOSED" } as const;
const REDIS = "redis://127.0.0.1:6379";
const KAFKA = "kafka://127.0.0.1:9";
const make = (uri: unknown, options?: unknown) => () => new Broadcast(uri as string, options as never);
const env = (variables: Record<string, unknown>, prefix?: string) => () =>
  Broadcast.fromEnv(variables as Record<string, string>, prefix === undefined ? undefined : { prefix });
const aborted = () => AbortSignal.abort();
const closedBroadcast = async () => {
  const broadcast = await Broadcast.connect("memory://bad-input-closed");
  await broadcast.disconnect();
  return broadcast;
};

export const ROWS: Row[] = [
  // URIs
  { name: "URI that does not parse, with a password", act: make(`redis://u:${PASSWORD}@127.0.0.1:99999`), ...CONFIG, names: /^Invalid URI: .*received "redis:\/\/u:\*\*\*@/ },
  { name: "URI that is not a string or a URL", act: make(Object.create(null)), ...CONFIG, names: /^Invalid URI: Expected a URI .* but received "\[object Object\]"/ },
  { name: "URI without its scheme, with a password", act: make(`default:${PASSWORD}@cache:6379`), ...CONFIG, names: /^Invalid URI: Expected a scheme one of .*received "default:\*\*\*@cache:6379"$/ },
  { name: "URI with one slash after its scheme, with a password", act: make(`postgres:/u:${PASSWORD}@127.0.0.1/test`), ...CONFIG, names: /^Invalid URI: Expected a URI with "\/\/" after its scheme, such as postgres:\/\/host but received "postgres:\*\*\*@127\.0\.0\.1\/test"$/ },
  { name: "URI with no slash after its scheme, with a password", act: make(`redis::${PASSWORD}@127.0.0.1`), ...CONFIG, names: /^Invalid URI: Expected a URI with "\/\/" after its scheme, such as redis:\/\/host but received "redis:\*\*\*@127\.0\.0\.1"$/ },
  { name: "URI whose user name has a space, without its scheme", act: make(`://us er:${PASSWORD}@127.0.0.1:0`), ...CONFIG, names: /^Invalid URI: .*received ":\/\/us:\*\*\*@127\.0\.0\.1:0"$/ },
  { name: "empty URI", act: make(""), ...CONFIG, names: /^Invalid URI: .*received ""$/ },
  { name: "URI with an unknown scheme", act: make(`amqp://u:${PASSWORD}@host`), ...CONFIG, names: /^Invalid URI: Expected a scheme one of .*received "amqp:\/\/u:\*\*\*@host"/ },
  { name: "memory:// URI with a port", act: make("memory://hub:80"), ...CONFIG, names: /^Invalid URI: Expected memory:\/\/ or memory:\/\/<hub name> but received "memory:\/\/hub:80"/ },
  { name: "Redis URI with a parameter it does not read", act: make(`redis://u:${PASSWORD}@127.0.0.1:6379?db=1`), ...CONFIG, names: /^Invalid URI parameter: .*received "db"/ },
  { name: "Redis database number out of range", act: make(`redis://u:${PASSWORD}@127.0.0.1/99999999999`), ...CONFIG, names: /^Invalid URI database: .*received "99999999999"/ },
  { name: "Redis Cluster URI with a database", act: make(`redis+cluster://u:${PASSWORD}@127.0.0.1:7000,127.0.0.1:7001/3`), ...CONFIG, names: /^Invalid URI database: Expected none: a Redis Cluster has database 0 only but received "3"$/ },
  { name: "Redis Cluster seed with a port out of range", act: make(`redis+cluster://u:${PASSWORD}@127.0.0.1:7000,127.0.0.1:70001`), ...CONFIG, names: /^Invalid URI node: Expected host:port with a port from 1 to 65535 but received "127\.0\.0\.1:70001"$/ },
  { name: "Redis Cluster URI with a parameter it does not read", act: make(`rediss+cluster://u:${PASSWORD}@127.0.0.1:7000?db=1`), ...CONFIG, names: /^Invalid URI parameter: .*received "db"/ },
  { name: "Redis Cluster failover timeout that is no time", act: make("redis+cluster://127.0.0.1:7000", { backendOptions: { failoverTimeout: -1 } }), ...CONFIG, names: /^Invalid option backendOptions\.failoverTimeout: / },
  { name: "Redis Cluster node address map to no address", act: make("redis+cluster://127.0.0.1:7000", { backendOptions: { nodeAddressMap: { "10.0.0.1:7000": "nowhere" } } }), ...CONFIG, names: /^Invalid option backendOptions\.nodeAddressMap\.10\.0\.0\.1:7000: Expected host:port/ },
  { name: "Postgres URI with an unknown sslmode", act: make(`postgres://u:${PASSWORD}@127.0.0.1/test?sslmode=maybe`), ...CONFIG, names: /^Invalid URI parameter sslmode: .*received "maybe"/ },
  { name: "Postgres password that does not percent-decode", act: make("postgres://u:s3cret%ZZPW@127.0.0.1/test"), ...CONFIG, names: /^Invalid URI password: Expected percent-encoded UTF-8 but received \*\*\*$/ },
  { name: "Kafka URI with a parameter it does not read", act: make(`kafka://u:${PASSWORD}@127.0.0.1:9092?acks=all`), ...CONFIG, names: /^Invalid URI parameter: .*received "acks"/ },
  { name: "URI with a password parameter that does not parse", act: make("kafka://host:99999?password=s3cret PW"), ...CONFIG, names: /^Invalid URI: .*password=\*\*\*/ },

  // The environment
  { name: "URI variable that does not parse", act: env({ OPAL_BROADCAST_URI: `redis://u:${PASSWORD}@host:99999` }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_URI: / },
  { name: "Redis Cluster URI variable with a bad seed", act: env({ OPAL_BROADCAST_URI: `redis+cluster://u:${PASSWORD}@a:7000,b:x` }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_URI node: .*received "b:x"/ },
  { name: "URI variable that breaks its backbone's rules", act: env({ OPAL_BROADCAST_URI: `redis://u:${PASSWORD}@host/99999999999` }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_URI database: / },
  { name: "boolean variable that is no boolean", act: env({ OPAL_BROADCAST_RECONNECT_ENABLED: "maybe" }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_RECONNECT_ENABLED: .*received "maybe"/ },
  { name: "negative integer variable", act: env({ OPAL_BROADCAST_RECONNECT_MAX_RETRIES: "-1" }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_RECONNECT_MAX_RETRIES: .*received "-1"/ },
  { name: "integer variable too large for a number", act: env({ OPAL_BROADCAST_REPLAY_BUFFER_SIZE: "9".repeat(400) }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_REPLAY_BUFFER_SIZE: Expected an integer from 0 to/ },
  { name: "seconds variable no timer can hold", act: env({ OPAL_BROADCAST_RESYNC_SETTLE_SECONDS: "3000000" }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_RESYNC_SETTLE_SECONDS: .*at most 2147483/ },
  { name: "backoff minimum above the maximum in the environment", act: env({ OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "5", OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: "1" }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: Expected a value >= OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS/ },
  { name: "worker count that is no number", act: env({ UVICORN_NUM_WORKERS: "four" }), ...CONFIG, names: /^Invalid UVICORN_NUM_WORKERS: .*received "four"/ },
  { name: "several workers on memory://", act: env({ OPAL_BROADCAST_URI: "memory://", UVICORN_NUM_WORKERS: "4" }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_URI: .*UVICORN_NUM_WORKERS is 4/ },
  { name: "variable that is not a string", act: env({ OPAL_BROADCAST_RECONNECT_MAX_RETRIES: 5 }), ...CONFIG, names: /^Invalid OPAL_BROADCAST_RECONNECT_MAX_RETRIES: Expected string but received 5/ },
  { name: "bad variable under another prefix", act: env({ APP_BROADCAST_RESYNC_SETTLE_SECONDS: "-1" }, "APP_"), ...CONFIG, names: /^Invalid APP_BROADCAST_RESYNC_SETTLE_SECONDS: / },

  // Options
  { name: "options that are not an object", act: make("memory://", null), ...CONFIG, names: /^Invalid options: Expected an object but received null/ },
  { name: "option nobody reads (a typo)", act: make("memory://", { reconect: {} }), ...CONFIG, names: /^Invalid option reconect: Expected no such key/ },
  { name: "time no timer can hold", act: make("memory://", { resyncSettle: 2 ** 31 }), ...CONFIG, names: /^Invalid option resyncSettle: .*at most 2147483647 but received 2147483648/ },
  { name: "NaN as a time", act: make("memory://", { connectTimeout: NaN }), ...CONFIG, names: /^Invalid option connectTimeout: .*received NaN/ },
  { name: "count that is not an integer", act: make("memory://", { replayBufferSize: 1.5 }), ...CONFIG, names: /^Invalid option replayBufferSize: Expected an integer but received 1\.5/ },
  { name: "clock without now() and delay()", act: make("memory://", { clock: { now: 1 } }), ...CONFIG, names: /^Invalid option clock: / },
  { name: "backend that is not a function", act: make("memory://", { backend: "redis" }), ...CONFIG, names: /^Invalid option backend: Expected a function/ },
  { name: "backendOptions that are not an object", act: make("memory://", { backendOptions: null }), ...CONFIG, names: /^Invalid option backendOptions: / },
  { name: "backendOptions on memory://, which has none", act: make("memory://", { backendOptions: { typo: 1 } }), ...CONFIG, names: /^Invalid option backendOptions\.typo: / },
  { name: "Redis backendOptions of the wrong value", act: make(REDIS, { backendOptions: { resp: 4 } }), ...CONFIG, names: /^Invalid option backendOptions\.resp: .*received 4/ },
  { name: "Postgres backendOptions below their minimum", act: make("postgres://127.0.0.1/test", { backendOptions: { largePayloadRetention: 10 } }), ...CONFIG, names: /^Invalid option backendOptions\.largePayloadRetention: .*received 10/ },
  { name: "Kafka backendOptions with NaN", act: make(KAFKA, { backendOptions: { maxWaitTime: NaN } }), ...CONFIG, names: /^Invalid option backendOptions\.maxWaitTime: .*received NaN/ },

  // Channels
  { name: "empty channel", on: "memory", act: (b) => b.publish("", "bad"), ...CHANNEL, names: /^Invalid channel: Expected a non-empty string but received ""/ },
  { name: "channel that is a null-prototype object", on: "memory", act: (b) => b.publish(Object.create(null), "bad"), ...CHANNEL, names: /^Invalid channel: Expected a non-empty string but received "\[object Object\]"/ },
  { name: "channel with a lone surrogate, on Redis", on: "redis", act: (b) => b.publish("room\uD800", "bad"), ...CHANNEL, names: /^Invalid channel: Expected a well-formed string .*received "room\\ud800"/ },
  { name: "subscription to a channel with a lone surrogate, on Postgres", on: "postgres", act: (b) => b.subscribe("\uDC00room"), ...CHANNEL, names: /^Invalid channel: .*received "\\udc00room"/ },
  { name: "channel that is no Kafka topic name", act: () => new Broadcast(KAFKA).publish("a room", "bad"), ...CHANNEL, names: /^Invalid channel: Expected a Kafka topic name.*received "a room"/ },

  // Messages
  { name: "message that is not a string, on Postgres", on: "postgres", act: (b, ch) => b.publish(ch, { text: "x" } as never), ...MESSAGE, names: /^Invalid message on channel "[^"]+": .*received object/ },
  { name: "message with a lone surrogate", on: "memory", act: (b, ch) => b.publish(ch, "half \uDC00"), ...MESSAGE, names: /^Invalid message on channel "[^"]+": .*received a string with a lone surrogate/ },
  { name: "message that is not a string, on Redis", on: "redis", act: (b, ch) => b.publish(ch, 5 as never), ...MESSAGE, names: /^Invalid message on channel "[^"]+": .*received number/ },
  { name: "message over Kafka's size limit", act: () => new Broadcast(KAFKA, { backendOptions: { maxMessageBytes: 10 } }).publish("t", "x".repeat(11)), error: PayloadTooLargeError, code: "PAYLOAD_TOO_LARGE", names: /^A message on channel "t" is 11 bytes, over the limit of 10 bytes/ },
  { name: "bad chunk written to a publisher", on: "memory", act: (b, ch) => b.publisher(ch).getWriter().write(null as never), ...MESSAGE, names: /^Invalid message on channel "[^"]+": .*received null/ },

  // Calls in the wrong order, wrong types, streams used twice
  { name: "publish before connect()", act: () => new Broadcast("memory://").publish("room", "early"), ...CLOSED, names: /call connect\(\) first/ },
  { name: "subscribe options that are not an object", on: "memory", act: (b, ch) => b.subscribe(ch, null as never), ...CONFIG, names: /^Invalid subscribe options: Expected an object but received null/ },
  { name: "subscribe signal that is no AbortSignal", on: "memory", act: (b, ch) => b.subscribe(ch, { signal: "stop" as never }), ...CONFIG, names: /^Invalid subscribe option signal: / },
  { name: "subscribe highWaterMark of zero", on: "memory", act: (b, ch) => b.subscribe(ch, { highWaterMark: 0 }), ...CONFIG, names: /^Invalid subscribe option highWaterMark: .*received 0/ },
  { name: "subscribe with an already-aborted signal", on: "memory", act: async (b, ch) => await b.subscribe(ch, { signal: aborted() }).getReader().read(), error: "ends", names: /./ },
  { name: "second reader on one subscription", on: "memory", act: (b, ch) => {
    const frames = b.subscribe(ch);
    frames.getReader();
    frames.getReader();
  }, error: TypeError, names: /locked/ },
  { name: "second writer on one publisher", on: "memory", act: (b, ch) => {
    const publisher = b.publisher(ch);
    publisher.getWriter();
    publisher.getWriter();
  }, error: TypeError, names: /locked/ },
  { name: "write while the publisher's writer is closing", on: "memory", act: async (b, ch) => {
    const writer = b.publisher(ch).getWriter();
    void writer.close();
    await writer.write("late");
  }, error: TypeError, names: /clos/i },
  { name: "write after the publisher's writer closed", on: "memory", act: async (b, ch) => {
    const writer = b.publisher(ch).getWriter();
    await writer.close();
    await writer.write("late");
  }, ...CLOSED_WRITE },
  { name: "publish after disconnect()", act: async () => (await closedBroadcast()).publish("room", "late"), ...CLOSED, names: /broadcast is closed/ },
  { name: "connect() after disconnect()", act: async () => (await closedBroadcast()).connect(), ...CLOSED, names: /broadcast is closed/ },
  { name: "subscribe after disconnect()", act: async () => (await closedBroadcast()).subscribe("room").getReader().read(), ...CLOSED, names: /broadcast is closed/ },
  { name: "ready() after disconnect()", act: async () => (await closedBroadcast()).ready(), ...CLOSED, names: /broadcast is closed/ },
];
