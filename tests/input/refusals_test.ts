/**
 * What a careless operator or a hostile caller hands the library: URIs whose
 * passwords must not leak, times no timer can hold, settings nobody reads,
 * channels and messages no backbone can carry, and calls in the wrong order.
 * Each refusal is a clear error; nothing accepted before it is lost.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import {
  Broadcast,
  ChannelError,
  ClosedError,
  MessageError,
  ConfigError,
  configFromEnv,
  type Frame,

} from "../../mod.ts";
import { within } from "../fixtures/support.ts";

const REDIS_URI = "redis://127.0.0.1:6379";

const SECRET = /s3cretPW|pa ss|pa%20ss|ss w0rd|ss%20w0rd|w0rd/;

/** Everything a user could print of an error: message, cause chain, own fields. */
function everything(error: unknown): string {
  return inspect(error, { depth: Infinity, showHidden: true }) + String(error);
}

describe("a URI that does not parse", () => {
  const uris = [
    "redis://u:s3cretPW@127.0.0.1:99999",
    "redis://user:pa ss@host:99999",
    "redis://user:p@ss w0rd@host:99999",
    "redis://us er:pa ss@h:99999",
    "postgres://u:s3cretPW@[::1/db",
  ];
  for (const uri of uris) {
    it(`keeps its password out of the error and its cause: ${uri.replace(SECRET, "…")}`, () => {
      assert.throws(() => new Broadcast(uri), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.doesNotMatch(everything(error), SECRET);
        return true;
      });
      assert.throws(() => Broadcast.fromEnv({ OPAL_BROADCAST_URI: uri }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /^Invalid OPAL_BROADCAST_URI:/);
        assert.doesNotMatch(everything(error), SECRET);
        return true;
      });
    });
  }
});

describe("times no timer can hold", () => {
  const huge = 2 ** 31;
  const options = [
    { reconnect: { minDelay: huge, maxDelay: huge } },
    { reconnect: { maxDelay: huge } },
    { resyncSettle: huge },
    { liveness: { interval: huge } },
    { liveness: { timeout: huge } },
    { connectTimeout: 3e9 },
  ];
  for (const option of options) {
    it(`are refused, naming the bound: ${JSON.stringify(option)}`, () => {
      assert.throws(() => new Broadcast("memory://", option), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /at most 2147483647/);
        return true;
      });
    });
  }

  it("are refused in seconds from the environment, naming the bound", () => {
    assert.throws(
      () =>
        configFromEnv({
          OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "3000000",
          OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: "3000000",
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.issues.length, 2);
        assert.match(error.message, /Invalid OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: Expected .*at most 2147483 .*but received "3000000"/);
        return true;
      },
    );
  });

  it("say what was expected of an infinite number", () => {
    const infinite = "1" + "0".repeat(400);
    assert.throws(() => configFromEnv({ OPAL_BROADCAST_RESYNC_SETTLE_SECONDS: infinite }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.doesNotMatch(error.message, /null/);
      assert.match(error.message, /Expected a number of seconds from 0 to at most 2147483/);
      return true;
    });
    assert.throws(() => new Broadcast("memory://", { resyncSettle: Infinity }), /Expected a finite number/);
  });
});

describe("settings and URI parts nobody reads", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["memory://", { typo: 1 }, /Invalid option backendOptions\.typo: Expected no such key/],
    [REDIS_URI, { clientname: "x" }, /Invalid option backendOptions\.clientname: Expected no such key/],
    ["kafka://127.0.0.1:9", { groupIdPrefx: "x" }, /Invalid option backendOptions\.groupIdPrefx: Expected no such key/],
    [REDIS_URI, { resp: 4 }, /Invalid option backendOptions\.resp/],
  ];
  for (const [uri, backendOptions, message] of cases) {
    it(`are refused when the Broadcast is made: ${uri.split(":")[0]} ${JSON.stringify(backendOptions)}`, () => {
      assert.throws(() => new Broadcast(uri, { backendOptions }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it("a fractional Kafka time says what was expected", () => {
    assert.throws(() => new Broadcast("kafka://h:9092", { backendOptions: { sessionTimeout: 1.5 } }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /Invalid option backendOptions\.sessionTimeout: Expected an integer but received 1\.5/);
      return true;
    });
  });

  it("memory:// takes a hub name and nothing else", () => {
    for (const uri of ["memory://user:s3cretPW@hub", "memory://hub:80", "memory://hub/path", "memory://hub?x=1"]) {
      assert.throws(() => new Broadcast(uri), (error: unknown) => {
        assert.ok(error instanceof ConfigError, uri);
        assert.match(error.message, /^Invalid URI: Expected memory:\/\/ or memory:\/\/<hub name>/);
        assert.doesNotMatch(everything(error), SECRET);
        return true;
      });
    }
  });

  it("options must be an object, not an array", () => {
    assert.throws(() => new Broadcast("memory://", [] as never), /Invalid options: Expected an object but received an array/);
  });

  it("a backoff minimum above the maximum names both numbers", () => {
    assert.throws(() => new Broadcast("memory://", { reconnect: { minDelay: 9, maxDelay: 5 } }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.issues[0].received, "5");
      return true;
    });
  });

  it("arrays are refused where an object is expected", () => {
    for (const key of ["reconnect", "liveness", "backendOptions"]) {
      assert.throws(() => new Broadcast("memory://", { [key]: [] }), new RegExp(`Invalid option ${key}: Expected an object but received an array$`));
    }
  });

  it("Kafka URI values are checked when the Broadcast is made", () => {
    assert.throws(() => new Broadcast("kafka://k:9092?tls=maybe"), /Invalid URI parameter tls: Expected true, false, 1 or 0 but received "maybe"/);
    assert.throws(() => new Broadcast("kafka://k:9092?sasl=gssapi&user=u"), /Invalid URI parameter sasl: Expected one of plain, scram-sha-256, scram-sha-512/);
  });

  it("UVICORN_NUM_WORKERS is at most 256, as --workers", () => {
    assert.throws(() => configFromEnv({ OPAL_BROADCAST_URI: "redis://h", UVICORN_NUM_WORKERS: "100000" }), /Invalid UVICORN_NUM_WORKERS: Expected an integer from 1 to 256/);
  });

  it("Broadcast.fromEnv refuses several workers on memory://, as the command does", () => {
    assert.throws(
      () => Broadcast.fromEnv({ OPAL_BROADCAST_URI: "memory://", UVICORN_NUM_WORKERS: "4" }),
      /Invalid OPAL_BROADCAST_URI: Expected a backbone shared between processes .* but received "memory:\/\/"/,
    );
  });
});

describe("Redis database index out of range", () => {
  it("fails connect() at once with ConfigError rather than retrying forever", async () => {
    const broadcast = new Broadcast(`${REDIS_URI}/99`, { reconnect: { minDelay: 10, maxDelay: 20 } });
    try {
      await assert.rejects(within(broadcast.connect(), 10_000, "connect() still retrying"), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /database 99/);
        return true;
      });
    } finally {
      await broadcast.disconnect();
    }
  });

  it("a database number no server has is refused when the Broadcast is made", () => {
    assert.throws(() => new Broadcast(`${REDIS_URI}/99999999999`), /Invalid URI database: Expected a database number from 0 to/);
  });
});

describe("channels and messages no backbone can carry", () => {
  const lone = "room\uD800";
  for (const uri of ["memory://", REDIS_URI, "postgres://127.0.0.1/test", "kafka://127.0.0.1:9"]) {
    it(`a channel with a lone surrogate is refused on ${uri.split(":")[0]}`, () => {
      const broadcast = new Broadcast(uri);
      assert.throws(() => broadcast.subscribe(lone), ChannelError);
      assert.throws(() => broadcast.publisher(lone), ChannelError);
      return assert.rejects(broadcast.publish(lone, "x"), (error: unknown) => {
        assert.ok(error instanceof ChannelError);
        assert.match(error.message, /well-formed/);
        return true;
      });
    });
  }

  it("on Redis, the channel is refused instead of publishing to nobody", async () => {
    await using broadcast = await Broadcast.connect(REDIS_URI);
    await assert.rejects(broadcast.publish(lone, "x"), ChannelError);
  });

  it("a message that is not a string, or not well-formed, is a MessageError", async () => {
    await using broadcast = await Broadcast.connect("memory://hostile-message");
    const frames = broadcast.subscribe("room");
    await broadcast.ready();
    await broadcast.publish("room", "before");
    for (const message of [5, null, {}, "half \uDC00 a pair"]) {
      await assert.rejects(broadcast.publish("room", message as string), (error: unknown) => {
        assert.ok(error instanceof MessageError, String(error));
        assert.equal(error.code, "MESSAGE_INVALID");
        assert.match(error.message, /^Invalid message on channel "room": Expected a well-formed string/);
        return true;
      });
    }
    await broadcast.publish("room", "after");
    const reader = frames.getReader();
    const seen: Frame[] = [(await reader.read()).value!, (await reader.read()).value!];
    assert.deepEqual(seen.map((frame) => frame.type === "event" && frame.message), ["before", "after"]);
    reader.releaseLock();
  });
});

describe("calls in the wrong order", () => {
  it("publish before connect() rejects with ClosedError instead of buffering for a link nobody opens", async () => {
    const broadcast = new Broadcast("memory://never-connected");
    await assert.rejects(broadcast.publish("room", "x"), (error: unknown) => {
      assert.ok(error instanceof ClosedError);
      assert.match(error.message, /call connect\(\) first/);
      return true;
    });
    const writer = broadcast.publisher("room").getWriter();
    await assert.rejects(writer.write("x"), ClosedError);
    // ready() waits for connect() rather than failing: whoever connects, it answers then.
    const ready = broadcast.ready();
    await broadcast.connect();
    await within(ready, 5_000, "ready() after connect()");
    await broadcast.publish("room", "x");
    await broadcast.disconnect();
  });

  it("a subscription made before connect() is served once connected", async () => {
    const broadcast = new Broadcast("memory://subscribe-first");
    const reader = broadcast.subscribe("room").getReader();
    await broadcast.connect();
    await broadcast.ready();
    await broadcast.publish("room", "hello");
    const { value } = await reader.read();
    assert.equal(value?.type === "event" && value.message, "hello");
    await broadcast.disconnect();
  });

  it("publisher().write after disconnect rejects with ClosedError", async () => {
    const broadcast = await Broadcast.connect("memory://write-after-disconnect");
    const writer = broadcast.publisher("room").getWriter();
    await writer.write("accepted");
    await broadcast.disconnect();
    await assert.rejects(writer.write("late"), ClosedError);
    const late = broadcast.publisher("room").getWriter();
    await assert.rejects(late.write("late"), ClosedError);
  });
});

describe("a password whose '@', '#', '/' or '?' is not percent-encoded", () => {
  const uris = [
    "redis://app:p@ss#s3cretPW@cache:6379",
    "redis://app:1234/s3cretPW@cache:6379",
    "postgres://app:5432?s3cretPW@db/app",
    "kafka://k:9092?sasl=plain&user=u&password=ab#s3cretPW",
    "redis://u:s3cretPW%ZZ@cache:6379",
    "kafka://u:s3cretPW%E0@k:9092",
  ];
  for (const uri of uris) {
    it(`is refused when the Broadcast is made, and not printed: ${uri.replace(/s3cretPW/, "…")}`, () => {
      assert.throws(() => new Broadcast(uri), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /^Invalid URI/);
        assert.doesNotMatch(everything(error), SECRET);
        return true;
      });
    });
  }
});
