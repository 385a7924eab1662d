/**
 * The arbitraries of `fuzz_test.ts`: URIs holding a secret, values of any
 * shape, options, environment maps, channels and messages.
 */
import fc from "fast-check";

// Any UTF-16 unit (lone surrogates included), and the characters URIs choke on.
const unit = fc.oneof(
  fc.constantFrom(" ", "@", ":", "%", "/", "?", "#", "&", "=", "\\", "é", "日", "🔑", "\uD800", "\uDFFF", "%2", "%40"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
);
/** A password that can be told apart from anything else in a message: it always holds `Zq9`. */
const password = fc.tuple(fc.string({ unit, maxLength: 8 }), fc.string({ unit, minLength: 2, maxLength: 8 }))
  .map(([head, tail]) => `${head}Zq9${tail}`);

/** The forms a password can take in a message: as written, percent-encoded, as a URL keeps it. */
export function forms(secret: string): string[] {
  const url = new URL("redis://host");
  url.password = secret;
  return [secret, encodeURIComponent(secret.toWellFormed()), url.password];
}

const scheme = fc.constantFrom("memory", "redis", "rediss", "postgres", "postgresql", "kafka", "REDIS", "amqp", "http", "x-y", "");
const host = fc.oneof(
  fc.constantFrom("127.0.0.1", "localhost", "[::1]", "", "hub", "a b", "[::1", "日本.jp", "h%41st", "host,other:9092"),
  fc.domain(),
);
const port = fc.oneof(fc.constant(""), fc.integer({ min: 0, max: 70_000 }).map(String), fc.constantFrom("-1", "99999", "abc", "0x50"));
const path = fc.oneof(fc.constantFrom("", "/", "/0", "/99", "/99999999999", "/test", "/db%ZZ", "/a/b"), fc.webPath());
const parameter = fc.tuple(
  fc.constantFrom("sslmode", "ca", "brokers", "sasl", "application_name", "db", "x", "tls"),
  fc.string({ unit, maxLength: 6 }),
);

interface UriParts {
  scheme: string;
  separator: string;
  user: string;
  secret: string;
  where: string;
  host: string;
  port: string;
  path: string;
  parameters: [string, string][];
}

/**
 * Whether a reader could tell the userinfo apart: without a scheme, a user
 * name with a space reads as a sentence (`Invalid X: …`); and with no
 * separator, `schemeuser:pw@host` is the user `schemeuser`.
 */
function readsAsOneUri({ scheme, separator, user }: UriParts): boolean {
  return (separator.includes("//") || !/\s/.test(user)) && (separator !== "" || scheme === "");
}

/** The URI's text, its secret in the userinfo (raw or encoded) or in a secret query parameter. */
function uriText(parts: UriParts): string {
  const encoded = encodeURIComponent(parts.secret.toWellFormed());
  const userinfo = parts.where === "raw userinfo"
    ? `${parts.user}:${parts.secret}@`
    : parts.where === "encoded userinfo"
    ? `${parts.user}:${encoded}@`
    : "";
  const query = parts.parameters.map(([key, value]) => `${key}=${encodeURIComponent(value.toWellFormed())}`);
  if (userinfo === "") query.push(`${parts.where}${encoded}`);
  const port = parts.port && `:${parts.port}`;
  return `${parts.scheme}${parts.separator}${userinfo}${parts.host}${port}${parts.path}${query.length ? `?${query.join("&")}` : ""}`;
}

/** A URI with a secret somewhere, and the secret. */
export const uri = fc.record({
  scheme,
  // A scheme typed without its "//", or without its colon too: `user:pw@host`.
  separator: fc.constantFrom("://", "://", "://", ":/", ":", ""),
  user: fc.constantFrom("", "u", "default", "us er", "a%40b"),
  secret: password,
  where: fc.constantFrom("raw userinfo", "encoded userinfo", "password=", "token=", "sasl_password="),
  host,
  port,
  path,
  parameters: fc.array(parameter, { maxLength: 3 }),
}).filter(readsAsOneUri).map((parts) => ({ text: uriText(parts), secret: parts.secret }));

const junk = fc.anything({
  maxDepth: 2,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
});
const number = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 31, 2 ** 53, Number.MAX_VALUE, -1, 0.5, 1e-300),
  fc.double(),
  fc.integer(),
);
export const value = fc.oneof(number, junk, fc.boolean(), fc.string());
export const options = fc.oneof(
  junk,
  fc.record({
    reconnect: fc.oneof(value, fc.record({ enabled: value, maxRetries: value, minDelay: value, maxDelay: value }, { requiredKeys: [] })),
    replayBufferSize: value,
    resyncOnReconnect: value,
    resyncSettle: value,
    liveness: fc.oneof(value, fc.record({ interval: value, timeout: value }, { requiredKeys: [] })),
    subscriberBuffer: value,
    connectTimeout: value,
    backendOptions: fc.oneof(junk, fc.dictionary(fc.constantFrom("tls", "resp", "clientName", "maxWaitTime", "maxMessageBytes", "largePayloadTable", "x"), value)),
    clock: value,
    random: value,
  }, { requiredKeys: [] }),
);

const VARIABLES = [
  "BROADCAST_RECONNECT_ENABLED",
  "BROADCAST_RECONNECT_MAX_RETRIES",
  "BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS",
  "BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS",
  "BROADCAST_REPLAY_BUFFER_SIZE",
  "BROADCAST_RESYNC_ON_RECONNECT",
  "BROADCAST_RESYNC_SETTLE_SECONDS",
];
const envValue = fc.oneof(
  fc.constantFrom("", " ", "0", "1", "-1", "1.5", ".5", "true", "maybe", "3000000", "9".repeat(400), "1e3", "0x10", "NaN"),
  fc.string({ unit, maxLength: 12 }),
  fc.oneof(number, fc.constant(null), fc.constant(undefined)) as fc.Arbitrary<unknown> as fc.Arbitrary<string>,
);
export const environment = fc.record({
  prefix: fc.constantFrom("OPAL_", "APP_", ""),
  uri: fc.option(uri, { nil: undefined }),
  variables: fc.dictionary(fc.constantFrom(...VARIABLES, "UVICORN_NUM_WORKERS", "OTHER"), envValue),
});

export const channel = fc.oneof(
  fc.string({ unit, maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("", "room", "\uD800", "a\uDC00b", "x".repeat(70_000)),
  junk,
);
export const message = fc.oneof(fc.string({ unit, maxLength: 50 }), fc.constantFrom("", "\uDBFF", "y".repeat(200_000)), junk);

