import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Broadcast, ConfigError, configFromEnv } from "../../mod.ts";
import { parseOptions } from "../../lib/broadcast/options.ts";
import { parseUri } from "../../lib/broadcast/schemes.ts";

function configError(check: (error: ConfigError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.equal(error.code, "CONFIG_INVALID");
    check(error);
    return true;
  };
}

describe("options", () => {
  it("fill in the documented defaults", () => {
    const options = parseOptions({});
    assert.deepEqual(options.reconnect, { enabled: true, maxRetries: 0, minDelay: 500, maxDelay: 30_000 });
    assert.equal(options.replayBufferSize, 10_000);
    assert.equal(options.resyncOnReconnect, true);
    assert.equal(options.resyncSettle, 2_000);
    assert.deepEqual(options.liveness, { interval: 5_000, timeout: 3_000 });
    assert.equal(options.subscriberBuffer, 1_000);
  });

  it("name the option, what was expected and what was received", () => {
    assert.throws(() => parseOptions({ reconnect: { maxRetries: -1 } }), configError((error) => {
      assert.equal(error.message, "Invalid option reconnect.maxRetries: Expected >=0 but received -1");
      assert.equal(error.issues[0].path, "option reconnect.maxRetries");
    }));
    assert.throws(() => parseOptions({ replayBufferSize: 1.5 }), /Invalid option replayBufferSize: Expected an integer but received 1.5/);
    assert.throws(() => parseOptions({ liveness: { timeout: "3s" as unknown as number } }), /liveness.timeout: Expected number but received "3s"/);
  });

  it("refuse a backoff minimum above the maximum", () => {
    assert.throws(
      () => parseOptions({ reconnect: { minDelay: 5_000, maxDelay: 1_000 } }),
      /Invalid option reconnect.maxDelay: Expected a value >= reconnect.minDelay but received 1000/,
    );
  });

  it("refuse a reconnect delay of 0, naming each option: from 0 the backoff never grows and a dead backbone is retried in a tight loop", () => {
    assert.throws(() => parseOptions({ reconnect: { minDelay: 0, maxDelay: 0 } }), configError((error) => {
      assert.deepEqual(error.issues.map((issue) => issue.path), ["option reconnect.minDelay", "option reconnect.maxDelay"]);
      assert.equal(
        error.issues[0].message,
        "Invalid option reconnect.minDelay: Expected a finite number of milliseconds from 1 to at most 2147483647 but received 0",
      );
    }));
    // 0 × 2^n is 0: with the default maxDelay too, every attempt would follow the last at once, forever.
    assert.throws(() => parseOptions({ reconnect: { minDelay: 0 } }), /Invalid option reconnect.minDelay: Expected a finite number of milliseconds from 1/);
    assert.throws(() => parseOptions({ reconnect: { minDelay: 0.5 } }), /Invalid option reconnect.minDelay/);
    assert.throws(() => new Broadcast("memory://", { reconnect: { minDelay: 0, maxDelay: 0 } }), ConfigError);
  });

  it("accept the smallest reconnect delays tests use, 1 ms and up", () => {
    assert.deepEqual(parseOptions({ reconnect: { minDelay: 1, maxDelay: 1 } }).reconnect, { enabled: true, maxRetries: 0, minDelay: 1, maxDelay: 1 });
    assert.equal(parseOptions({ reconnect: { minDelay: 1, maxDelay: 5 } }).reconnect.maxDelay, 5);
  });

  it("refuse an unknown option, so a typo is loud", () => {
    assert.throws(() => parseOptions({ reconect: {} } as never), /Invalid option reconect: Expected no such key/);
  });

  it("report every problem at once", () => {
    assert.throws(() => parseOptions({ replayBufferSize: -1, resyncSettle: -1 }), configError((error) => {
      assert.equal(error.issues.length, 2);
    }));
  });
});

describe("configuration from the environment", () => {
  it("reads the OPAL_BROADCAST_* variables, seconds turned into milliseconds", () => {
    const { uri, options, workers } = configFromEnv({
      OPAL_BROADCAST_URI: "redis://cache:6379",
      OPAL_BROADCAST_RECONNECT_ENABLED: "false",
      OPAL_BROADCAST_RECONNECT_MAX_RETRIES: "5",
      OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "0.25",
      OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: "10",
      OPAL_BROADCAST_REPLAY_BUFFER_SIZE: "0",
      OPAL_BROADCAST_RESYNC_ON_RECONNECT: "FALSE",
      OPAL_BROADCAST_RESYNC_SETTLE_SECONDS: "1.5",
      UVICORN_NUM_WORKERS: "4",
    });
    assert.equal(uri, "redis://cache:6379");
    assert.equal(workers, 4);
    assert.deepEqual(options, {
      reconnect: { enabled: false, maxRetries: 5, minDelay: 250, maxDelay: 10_000 },
      replayBufferSize: 0,
      resyncOnReconnect: false,
      resyncSettle: 1_500,
    });
  });

  it("defaults to memory:// and the documented defaults when nothing is set", () => {
    const { uri, options } = configFromEnv({});
    assert.equal(uri, "memory://");
    const resolved = parseOptions(options);
    assert.equal(resolved.reconnect.minDelay, 500);
    assert.equal(resolved.resyncSettle, 2_000);
  });

  it("honours another prefix", () => {
    const { uri } = configFromEnv({ APP_BROADCAST_URI: "postgres://db/test" }, { prefix: "APP_" });
    assert.equal(uri, "postgres://db/test");
  });

  for (const value of ["-1", "abc", "1.5"]) {
    it(`rejects OPAL_BROADCAST_RECONNECT_MAX_RETRIES = ${JSON.stringify(value)}, naming it`, () => {
      assert.throws(
        () => configFromEnv({ OPAL_BROADCAST_RECONNECT_MAX_RETRIES: value }),
        configError((error) => {
          assert.equal(
            error.message,
            `Invalid OPAL_BROADCAST_RECONNECT_MAX_RETRIES: Expected an integer >= 0 but received ${JSON.stringify(value)}`,
          );
        }),
      );
    });
  }

  it("rejects a boolean it cannot read", () => {
    assert.throws(() => configFromEnv({ OPAL_BROADCAST_RECONNECT_ENABLED: "maybe" }), /OPAL_BROADCAST_RECONNECT_ENABLED: Expected .*"true".* but received "maybe"/);
  });

  it("rejects a backoff minimum above the maximum, in the variables' terms", () => {
    assert.throws(
      () =>
        configFromEnv({
          OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "5",
          OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: "1",
        }),
      /Invalid OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: Expected a value >= OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS but received 1$/,
    );
  });

  it("rejects a backoff of 0 seconds (or one that rounds to 0 ms), naming the variable", () => {
    assert.throws(
      () => configFromEnv({ OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "0", OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: "0" }),
      configError((error) => {
        assert.deepEqual(error.issues.map((issue) => issue.path), [
          "OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS",
          "OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS",
        ]);
        assert.equal(
          error.issues[0].message,
          'Invalid OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: Expected a number of seconds from 0.001 to at most 2147483 (about 24.8 days) but received "0"',
        );
      }),
    );
    assert.throws(() => configFromEnv({ OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "0.0004" }), /Invalid OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: Expected a number of seconds from 0.001 .* but received "0.0004"/);
    assert.equal(configFromEnv({ OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "0.001" }).options.reconnect?.minDelay, 1);
    // The settle may still be 0: it is waited once per reconnect, never in a loop.
    assert.equal(configFromEnv({ OPAL_BROADCAST_RESYNC_SETTLE_SECONDS: "0" }).options.resyncSettle, 0);
  });

  it("refuses several workers without a backbone URI", () => {
    assert.throws(() => configFromEnv({ UVICORN_NUM_WORKERS: "4" }), /OPAL_BROADCAST_URI: Expected a backbone URI when UVICORN_NUM_WORKERS is 4/);
    assert.throws(() => configFromEnv({ UVICORN_NUM_WORKERS: "zero" }), /UVICORN_NUM_WORKERS: Expected an integer >= 1/);
  });

  it("Broadcast.fromEnv builds a Broadcast from the variables", async () => {
    const broadcast = Broadcast.fromEnv({ OPAL_BROADCAST_URI: "memory://env-test" });
    assert.equal(broadcast.uri, "memory://env-test");
    await broadcast.connect();
    assert.equal(broadcast.state, "up");
    await broadcast.disconnect();
  });

  it("Broadcast.fromEnv masks the password of a bad URI", () => {
    assert.throws(() => Broadcast.fromEnv({ OPAL_BROADCAST_URI: "amqp://app:hunter2@mq" }), configError((error) => {
      assert.match(error.message, /Invalid OPAL_BROADCAST_URI: Expected a scheme one of memory:\/\/ redis:\/\/ rediss:\/\/ redis\+cluster:\/\/ rediss\+cluster:\/\/ postgres:\/\/ postgresql:\/\/ kafka:\/\//);
      assert.doesNotMatch(error.message, /hunter2/);
      assert.match(error.message, /amqp:\/\/app:\*\*\*@mq/);
    }));
  });
});

describe("URIs", () => {
  it("refuse what does not parse, with the password masked", () => {
    assert.throws(() => parseUri("redis//no-scheme:pw@host"), /Invalid URI: Expected a URI such as redis:\/\/localhost:6379 but received/);
    assert.throws(() => new Broadcast("not a uri"), ConfigError);
    assert.throws(() => parseUri("redis://user:hunter2@[bad"), (error: Error) => !error.message.includes("hunter2"));
  });

  it("refuse an unknown scheme and list the known ones", () => {
    assert.throws(() => new Broadcast("amqp://localhost"), /Expected a scheme one of memory:\/\/ redis:\/\//);
  });

  it("keep a Kafka broker list", () => {
    const url = parseUri("kafka://a:9092,b:9093?sasl=plain");
    assert.equal(url.searchParams.get("brokers"), "a:9092,b:9093");
    assert.equal(url.searchParams.get("sasl"), "plain");
  });
});
