/**
 * The `streamcast` command end to end, run as a user runs it: real processes,
 * real stdout and stderr, Redis at 127.0.0.1:6379 (through a TCP proxy where
 * an outage is needed).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import process from "node:process";
import { Broadcast } from "../../mod.ts";
import { UsageError } from "../../cli/args.ts";
import { checkArguments, checkMessage, CommandFailure } from "../../cli/broadcast.ts";
import { TcpProxy } from "../../cli/tcp_proxy.ts";
import { assertUsageError, cleanEnv, jsonLines, killAll, runCli, start } from "../fixtures/cli.ts";

// A test that fails half-way must not leave a child retrying forever.
after(killAll);

const REDIS = "redis://127.0.0.1:6379";
let channels = 0;
const channel = () => `cli-${process.pid}-${channels++}`;

describe("streamcast --help and bad arguments", { concurrency: 3 }, () => {
  for (const args of [["--help"], ["pub", "--help"], ["sub", "-h"], ["demo", "--help"], ["bench", "--help"], ["serve", "--help"], ["help", "pub"]]) {
    it(`${args.join(" ")} prints usage and exits 0`, async () => {
      const { code, stdout } = await runCli(args);
      assert.equal(code, 0);
      assert.match(stdout, /^Usage: streamcast/);
    });
  }

  const cases: [string[], RegExp][] = [
    [["pub", REDIS, "ch", "m", "--bogus"], /^streamcast pub: Invalid option: Expected one of --uri, --retries, --help but received "--bogus"/],
    [["bench", "--messages", "abc"], /^streamcast bench: Invalid --messages: Expected an integer from 1 to 10000000 but received "abc"/],
    [["bench", "--size", "-1"], /^streamcast bench: Invalid --size: Expected an integer from 16 to 1048576 but received "-1"/],
    [["frobnicate"], /^streamcast: Invalid command: Expected one of pub, sub, serve, demo, bench but received "frobnicate"/],
    [["sub", REDIS], /^streamcast sub: Invalid channel: Expected at least one channel name but received nothing/],
    [["pub", REDIS], /^streamcast pub: Invalid channel: Expected a channel name but received nothing/],
    [["sub", "amqp://localhost", "ch"], /^streamcast sub: Invalid URI: Expected a scheme one of memory:\/\/ .* but received "amqp:\/\/localhost"/],
    [["demo", "--workers"], /^streamcast demo: Invalid --workers: Expected an integer from 1 to 16 but received nothing/],
    [["sub", "--raw=yes", "ch"], /^streamcast sub: Invalid --raw: Expected no value \(it is a flag\) but received a value/],
    // Channels are checked before connecting: at once, even on an unreachable backbone.
    [["pub", "memory://", "", "m"], /^streamcast pub: Invalid channel: Expected a non-empty string but received ""/],
    [["sub", "memory://", ""], /^streamcast sub: Invalid channel: Expected a non-empty string but received ""/],
    [["sub", "kafka://127.0.0.1:1", "ok", "bad topic"], /^streamcast sub: Invalid channel: Expected a Kafka topic name: .* but received "bad topic"/],
    [["pub", "kafka://127.0.0.1:1", "bad topic", "m"], /^streamcast pub: Invalid channel: Expected a Kafka topic name: .* but received "bad topic"/],
    [["demo", "channel"], /^streamcast demo: Invalid argument: Expected a URI with a scheme:\/\/ and options only but received "channel"/],
    [["demo", "rediss://u:hunter2@127.0.0.1:6379"], /^streamcast demo: Invalid URI: Expected a URI without TLS .* but received "rediss:\/\/u:\*\*\*@127\.0\.0\.1:6379"/],
    [["demo", "--uri", "kafka://127.0.0.1:1?tls=true"], /^streamcast demo: Invalid URI: Expected a URI without TLS/],
  ];
  for (const [args, pattern] of cases) {
    it(`${args.join(" ")} exits 2 with one line naming the argument`, async () => {
      assertUsageError(await runCli(args, { ms: 10_000 }), pattern);
    });
  }

  it("a message over the backbone's limit is a bad argument, and a command failure has a code", () => {
    const kafka = new Broadcast("kafka://127.0.0.1:1");
    assert.throws(
      () => checkArguments(() => checkMessage(kafka, "t", "x".repeat(1_000_001))),
      (error) => error instanceof UsageError && /^Invalid <message>: Expected at most 1000000 UTF-8 bytes .* but received 1000001 bytes$/.test(error.message),
    );
    checkArguments(() => checkMessage(kafka, "t", "x".repeat(1_000_000)));
    assert.equal(new CommandFailure("x").code, "COMMAND_FAILED");
  });

  it("an unknown scheme in OPAL_BROADCAST_URI is named as that variable", async () => {
    const env = cleanEnv({ OPAL_BROADCAST_URI: "amqp://u:hunter2@localhost" });
    const result = await runCli(["pub", "ch", "m"], { env });
    assertUsageError(result, /^streamcast pub: Invalid OPAL_BROADCAST_URI: Expected a scheme .* but received "amqp:\/\/u:\*\*\*@localhost"/);
    assert.doesNotMatch(result.stderr, /hunter2/);
  });
});

describe("streamcast never prints a password", { concurrency: 3 }, () => {
  const secret = "redis://user:hunter2@127.0.0.1:1";
  const runs: [string, string[], Record<string, string>?][] = [
    ["pub", ["pub", secret, "ch", "m", "--retries", "1"]],
    ["pub with the URI from OPAL_BROADCAST_URI", ["pub", "-", "ch", "m", "--retries", "1"], { OPAL_BROADCAST_URI: secret }],
    ["sub", ["sub", secret, "ch", "--retries", "1"]],
    ["demo", ["demo", "--uri", secret]],
    ["demo with the URI as its first argument", ["demo", secret, "--workers", "1"]],
    ["bench", ["bench", "--uri", secret]],
  ];
  for (const [name, args, extra] of runs) {
    it(`${name} on an unreachable backbone exits 1 within seconds with a masked URI`, async () => {
      const { code, stdout, stderr, ms } = await runCli(args, { env: cleanEnv(extra), ms: 15_000 });
      assert.equal(code, 1, stderr);
      assert.match(stderr, /^streamcast: cannot reach redis:\/\/user:\*\*\*@127\.0\.0\.1:1: .*ECONNREFUSED/m);
      assert.doesNotMatch(stdout + stderr, /hunter2/);
      assert.ok(ms < 12_000, `took ${ms} ms`);
    });
  }
});

describe("streamcast pub and sub over Redis", () => {
  it("sub prints one JSON line per event from pub, a message argument and stdin lines in order, and exits 0 on SIGINT", async (t) => {
    const [a, b] = [channel(), channel()];
    const sub = start(t, ["sub", REDIS, a, b]);
    await sub.until("the subscription", (cli) => cli.stderr.includes("subscribed to"));
    assert.equal((await runCli(["pub", REDIS, a, "hello world"])).code, 0);
    const piped = await runCli(["pub", "--uri", REDIS, b], { input: "one\ntwo\r\n\nthree" });
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stderr, /published 3 message\(s\) on cli-/);
    await sub.until("four events", (cli) => cli.lines.length >= 4);
    sub.kill("SIGINT");
    assert.equal(await sub.exited, 0);
    assert.deepEqual(jsonLines(sub.stdout), [
      { type: "event", channel: a, message: "hello world" },
      { type: "event", channel: b, message: "one" },
      { type: "event", channel: b, message: "two" },
      { type: "event", channel: b, message: "three" },
    ]);
  });

  it("sub --raw prints the message alone, and takes the URI from OPAL_BROADCAST_URI", async (t) => {
    const ch = channel();
    const sub = start(t, ["sub", "--raw", ch], { env: cleanEnv({ OPAL_BROADCAST_URI: REDIS }) });
    await sub.until("the subscription", (cli) => cli.stderr.includes(`subscribed to ${ch} on ${REDIS}`));
    assert.equal((await runCli(["pub", REDIS, ch, '{"id":1}'])).code, 0);
    await sub.until("the message", (cli) => cli.lines.length >= 1);
    sub.kill("SIGTERM");
    assert.equal(await sub.exited, 0);
    assert.equal(sub.stdout, '{"id":1}\n');
  });

  describe("through an outage", () => {
    let proxy: TcpProxy;
    before(async () => {
      proxy = new TcpProxy({ port: 6379 });
      await proxy.start();
    });
    after(() => proxy.stop());

    it("sub reports the outage on stderr and prints one resync frame per channel after it", async (t) => {
      const [a, b] = [channel(), channel()];
      const fast = { OPAL_BROADCAST_RESYNC_SETTLE_SECONDS: "0.2", OPAL_BROADCAST_RECONNECT_BACKOFF_MIN_SECONDS: "0.1", OPAL_BROADCAST_RECONNECT_BACKOFF_MAX_SECONDS: "0.3" };
      const sub = start(t, ["sub", `redis://127.0.0.1:${proxy.port}`, a, b], { env: cleanEnv(fast) });
      await sub.until("the subscription", (cli) => cli.stderr.includes("subscribed to"));
      await runCli(["pub", REDIS, a, "before"]);
      await sub.until("the first event", (cli) => cli.lines.length >= 1);
      await proxy.cut();
      await sub.until("the outage report", (cli) => cli.stderr.includes("backbone down"));
      await proxy.restore();
      await sub.until("two resync frames", (cli) => cli.lines.length >= 3);
      assert.match(sub.stderr, /backbone up again/);
      await runCli(["pub", REDIS, a, "after"]);
      await sub.until("the last event", (cli) => cli.lines.length >= 4);
      sub.kill("SIGINT");
      assert.equal(await sub.exited, 0);
      const frames = jsonLines(sub.stdout);
      assert.deepEqual(frames[0], { type: "event", channel: a, message: "before" });
      assert.deepEqual(new Set(frames.slice(1, 3).map((f) => JSON.stringify(f))), new Set([
        JSON.stringify({ type: "resync", channel: a, reason: "reconnect" }),
        JSON.stringify({ type: "resync", channel: b, reason: "reconnect" }),
      ]));
      assert.deepEqual(frames[3], { type: "event", channel: a, message: "after" });
      assert.equal(frames.length, 4);
    });
  });
});

describe("streamcast stops cleanly and gives up in one line", { concurrency: 3 }, () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`sub exits 0 on ${signal} while still trying to reach the backbone`, async (t) => {
      const sub = start(t, ["sub", "redis://127.0.0.1:1", "ch"]);
      await sub.until("a failed attempt", (cli) => cli.stderr.includes("retrying with backoff"));
      sub.kill(signal);
      assert.equal(await sub.exited, 0, sub.stderr);
    });
  }

  it("sub cut off for longer than --retries allows exits 1, its last line saying it gave up", async (t) => {
    const proxy = new TcpProxy({ port: 6379 });
    const port = await proxy.start();
    t.after(() => proxy.stop());
    const sub = start(t, ["sub", `redis://127.0.0.1:${port}`, "ch", "--retries", "2"]);
    await sub.until("the subscription", (cli) => cli.stderr.includes("subscribed to"));
    await proxy.cut();
    assert.equal(await sub.exited, 1, sub.stderr);
    assert.match(sub.stderr, new RegExp(`\nstreamcast: gave up on redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\n$`));
    assert.doesNotMatch(sub.stderr, /^\s+at /m);
  });

  it("bench cut off mid-run exits 1 with one line saying it gave up", async (t) => {
    const proxy = new TcpProxy({ port: 6379 });
    const port = await proxy.start();
    t.after(() => proxy.stop());
    const bench = start(t, ["bench", `redis://127.0.0.1:${port}`, "--messages", "100000", "--rate", "5000"]);
    // Two connections for each of its two instances, then a second of publishing.
    await bench.until("both instances to connect", () => proxy.connections >= 4);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(bench.running, bench.stderr);
    await proxy.cut();
    const timer = setTimeout(() => bench.kill("SIGKILL"), 20_000);
    const code = await bench.exited;
    clearTimeout(timer);
    assert.equal(code, 1, bench.stderr);
    assert.match(bench.stderr, new RegExp(`^streamcast: gave up on redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\n$`));
  });

  it("bench takes its reconnect options from OPAL_BROADCAST_* (retrying forever here)", async (t) => {
    const bench = start(t, ["bench", "redis://127.0.0.1:1"], { env: cleanEnv({ OPAL_BROADCAST_RECONNECT_MAX_RETRIES: "0" }) });
    // Its own default (3 retries, 0.2 s to 1 s) gives up within about 2 s of starting.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    assert.ok(bench.running, `exited early: ${bench.stderr}`);
  });
});

describe("streamcast demo and bench", () => {
  it("demo on memory:// passes every check and exits 0", async () => {
    const { code, stdout, stderr } = await runCli(["demo"], { ms: 30_000 });
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /worker\s+sent\s+published\s+delivered/);
    assert.equal(stdout.match(/^✓ worker-\d\/[ab]: all \d+ messages/gm)?.length, 6);
    assert.match(stdout, /all checks passed/);
  });

  it("demo on redis:// through its own proxy passes every check and exits 0", async () => {
    const { code, stdout, stderr } = await runCli(["demo", "--uri", REDIS, "--workers", "2", "--subscribers", "1"], { ms: 30_000 });
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /through a TCP proxy/);
    assert.equal(stdout.match(/^✓ worker-\d\/a: all \d+ messages from 2 workers, each in its publisher's order; 2 resync frames for 2 gaps/gm)?.length, 2);
  });

  it("demo on an IPv6 literal reaches the server through its proxy, or says it cannot reach it", async () => {
    const reachable = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "::1", port: 6379 }, () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    const { code, stdout, stderr } = await runCli(["demo", "--uri", "redis://[::1]:6379", "--workers", "1", "--subscribers", "1"], { ms: 40_000 });
    if (reachable) {
      assert.equal(code, 0, stdout + stderr);
      assert.match(stdout, /all checks passed/);
    } else {
      assert.equal(code, 1, stdout + stderr);
      assert.match(stderr, /^streamcast: cannot reach redis:\/\/\[::1\]:6379: /m);
    }
  });

  it("bench on memory:// prints a table", async () => {
    const { code, stdout, stderr } = await runCli(["bench", "--messages", "20000"]);
    assert.equal(code, 0, stderr);
    for (const row of ["throughput", "latency p50", "latency p99", "latency max"]) assert.match(stdout, new RegExp(`^${row}\\s+\\S`, "m"));
    assert.match(stdout, /^received\s+20,000 of 20,000$/m);
  });

  for (const uri of ["memory://", REDIS]) {
    it(`bench --json on ${uri} prints one object with the figures`, async () => {
      const { code, stdout, stderr } = await runCli(["bench", uri, "--messages", "5000", "--subscribers", "2", "--size", "64", "--json"]);
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout);
      assert.equal(result.uri, uri);
      assert.equal(result.messages, 5000);
      assert.equal(result.size, 64);
      assert.equal(result.received, 10_000);
      assert.equal(result.complete, true);
      assert.ok(result.msgsPerSecond > 0 && result.eventsPerSecond >= result.msgsPerSecond);
      const { p50, p90, p99, max } = result.latencyMs;
      assert.ok(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= max, JSON.stringify(result.latencyMs));
    });
  }
});
