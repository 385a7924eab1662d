/**
 * `streamcast serve` as a user runs it: real processes (a cluster primary and
 * its workers), real HTTP and Server-Sent Events; its arguments, clients that
 * misbehave, and its logs. The backbone outages are in serve_outage_test.ts.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { type Broadcast, PayloadTooLargeError } from "../../mod.ts";
import { BodyError, readBody } from "../../lib/sse/body.ts";
import { sseHandler } from "../../lib/sse/mod.ts";
import { freePort, healthIs, killServes, publish, rawRequest, request, runServe, type Serve, SseClient, startServe } from "../fixtures/serve.ts";
import { eventually, within } from "../fixtures/support.ts";

// Short settle, spread and backoff: the tests see an outage through in seconds.
const QUICK = ["--resync-settle", "300", "--resync-spread", "500", "--retry", "200", "--backoff-min", "100", "--backoff-max", "500"];

// A failed test must not leave serve processes behind to keep the runner from exiting.
after(killServes);

describe("streamcast serve: arguments", { timeout: 60_000 }, () => {
  it("refuses each bad argument with one line naming it and exit code 2", async () => {
    const port = "an integer from 0 to 65535";
    const known = "--port, --host, --workers, --uri, --max-retries, --backoff-min, --backoff-max, --resync-settle, " +
      "--resync-spread, --retry, --keepalive, --write-timeout, --max-body, --token-file, --jwt-public-key, --jwks-url, " +
      "--jwt-audience, --jwt-issuer, --auth-subscribe, --allow-origin, --allow-host, --insecure, --help";
    // The same message template as the other subcommands: the received text is quoted.
    const cases: [string[], string | RegExp][] = [
      [["--port", "http"], `Invalid --port: Expected ${port} but received "http"`],
      [["--port", "-1"], `Invalid --port: Expected ${port} but received "-1"`],
      [["-p", "-1"], `Invalid --port: Expected ${port} but received "-1"`],
      [["--port"], `Invalid --port: Expected ${port} but received nothing`],
      [["--workers", "0"], `Invalid --workers: Expected an integer from 1 to 256 but received "0"`],
      [["--max-body", "-5"], `Invalid --max-body: Expected a number of bytes from 1 to 67108864 but received "-5"`],
      [["--write-timeout", "10"], `Invalid --write-timeout: Expected a number of milliseconds from 1000 to 3600000 but received "10"`],
      [["--colour"], `Invalid option: Expected one of ${known} but received "--colour"`],
      [["extra"], `Invalid argument: Expected only --flags but received "extra"`],
      [["--uri", "redis://app:hunter2@cache:port"], /^Invalid --uri: Expected a URI .* but received "redis:\/\/app:\*\*\*@cache:port"$/],
      [["--backoff-min", "900", "--backoff-max", "100"], "Invalid --backoff-max: Expected a value >= --backoff-min but received 100"],
    ];
    await Promise.all(cases.map(async ([args, expected]) => {
      const { code, stderr } = await runServe(args);
      assert.equal(code, 2, `exit code of serve ${args.join(" ")}; stderr: ${stderr}`);
      assert.equal(stderr.trimEnd().split("\n").length, 1, `one line for ${args.join(" ")}: ${stderr}`);
      const hint = ' (see "streamcast serve --help")';
      assert.ok(stderr.trimEnd().endsWith(hint), `the line ends with the hint: ${stderr}`);
      const line = stderr.trimEnd().slice(0, -hint.length);
      if (typeof expected === "string") assert.equal(line, `streamcast serve: ${expected}`);
      else assert.match(line.replace(/^streamcast serve: /, ""), expected);
      assert.doesNotMatch(stderr, /hunter2/);
    }));
  });

  it("refuses several workers without a backbone shared between processes, saying why", async () => {
    const none = await runServe(["--workers", "2"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Invalid --workers: 2 workers need a backbone URI .* without a shared backbone a publish would reach only/);
    const memory = await runServe(["--workers", "3", "--uri", "memory://"]);
    assert.equal(memory.code, 2);
    assert.match(memory.stderr, /Invalid --uri: .*memory:\/\/ lives inside one process/);
    const fromEnv = await runServe([], { UVICORN_NUM_WORKERS: "2" });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /Invalid UVICORN_NUM_WORKERS: 2 workers need a backbone URI/);
    const badEnv = await runServe([], { OPAL_BROADCAST_RECONNECT_MAX_RETRIES: "-1" });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /Invalid OPAL_BROADCAST_RECONNECT_MAX_RETRIES: Expected an integer >= 0 but received "-1"/);
  });

  it("exits 1 when its port is taken, since retrying cannot help", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const { code, stderr } = await runServe(["--port", String(port)]);
      assert.equal(code, 1, stderr);
      assert.match(stderr, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      taken.close();
    }
  });

  it("prints its usage with --help and exits 0", async () => {
    const { code, stdout } = await runServe(["--help"]);
    assert.equal(code, 0);
    assert.match(stdout, /Usage: streamcast serve/);
    assert.match(stdout, /--resync-spread/);
  });
});

describe("streamcast serve: clients that misbehave", { timeout: 90_000 }, () => {
  // memory:// and one worker each: every client and every publish meets the same process.
  let lenient: Serve; // never closes a client for being slow within a test
  let strict: Serve; // closes a client that takes nothing for a second
  let portL = 0;
  let portS = 0;
  const clients: SseClient[] = [];
  const big = "x".repeat(100_000);

  before(async () => {
    [portL, portS] = [await freePort(), await freePort()];
    lenient = startServe(["--port", String(portL), "--resync-spread", "0", "--write-timeout", "120000"]);
    strict = startServe(["--port", String(portS), "--write-timeout", "1000"]);
    await Promise.all([healthIs(portL, "up"), healthIs(portS, "up")]);
  });

  after(async () => {
    for (const client of clients) client.close();
    await Promise.all([lenient?.stop(), strict?.stop()]);
  });

  async function subscribe(port: number, channel: string): Promise<SseClient> {
    const client = new SseClient(port, [channel]);
    clients.push(client);
    await client.ready();
    return client;
  }

  const health = async (port: number) => (await request(port, "GET", "/healthz")).json as { worker: number; clients: number; slowClients: { overflowed: number } };

  /** Publishes 100 kB messages on `channel`, 20 at a time, until `enough()` (at most 2000). */
  async function flood(port: number, channel: string, enough: () => Promise<boolean>): Promise<void> {
    for (let sent = 0; sent < 2000 && !await enough(); sent += 20) {
      await Promise.all(Array.from({ length: 20 }, () => publish(port, channel, big)));
    }
  }

  it("answers 400 to a request target it cannot parse, and the worker keeps serving its streams", async () => {
    const client = await subscribe(portL, "target");
    const { worker } = await health(portL);
    const answer = await rawRequest(portL, "GET //[ HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert.match(answer, /^HTTP\/1\.1 400 .*Invalid request target: Expected a path but received \\"\/\/\[\\"/s);
    const now = await health(portL);
    assert.equal(now.worker, worker, "the same worker answers");
    assert.equal(now.clients, 1, "its stream is still counted");
    assert.equal((await publish(portL, "target", "still here")).status, 200);
    await client.received(["still here"]);
    assert.equal(client.endedAt, 0, "its stream stays open");
  });

  it("answers requests a WHATWG Request cannot hold (TRACE, credentials in the target) without losing the worker", async () => {
    const client = await subscribe(portL, "odd-requests");
    const { worker } = await health(portL);
    for (const head of ["TRACE / HTTP/1.1", "GET //u:p@x/healthz HTTP/1.1", "GET http://u:p@localhost/ HTTP/1.1"]) {
      const answer = await rawRequest(portL, `${head}\r\nHost: localhost\r\n\r\n`);
      assert.match(answer, /^HTTP\/1\.1 400 .*Invalid request: /s, head);
    }
    assert.equal((await health(portL)).worker, worker, "the same worker answers");
    assert.equal((await publish(portL, "odd-requests", "still here")).status, 200);
    await client.received(["still here"]);
  });

  it("closes a client that stopped reading, and only that one", async () => {
    const reading = await subscribe(portS, "idle");
    const frozen = await subscribe(portS, "flood");
    frozen.pause();
    await flood(portS, "flood", async () => (await health(portS)).clients < 2);
    await eventually(async () => (await health(portS)).clients === 1, 20_000, "the server to close the client that stopped reading");
    frozen.resume(); // it finds its stream ended after what reached its socket
    await within(frozen.ended, 20_000, "the frozen client to see its stream end");
    assert.equal(reading.endedAt, 0, "the client that reads stays open");
  });

  it("sends event: resync to a slow client whose queue overflowed, then closes its stream", async () => {
    const slow = await subscribe(portL, "slow");
    const overflowed = (await health(portL)).slowClients.overflowed;
    slow.pause();
    await flood(portL, "slow", async () => (await health(portL)).slowClients.overflowed > overflowed);
    assert.ok((await health(portL)).slowClients.overflowed > overflowed, "the slow client's queue overflowed");
    slow.resume();
    await within(slow.ended, 20_000, "the server to close the slow client's stream");
    const last = slow.events.at(-1)!;
    assert.equal(last.event, "resync", "the resync event comes last");
    assert.deepEqual(JSON.parse(last.data), { reason: "overflow", channel: "slow" });
  });
});

describe("streamcast serve: publish errors, in-process", () => {
  it("refuses a body over --max-body with a BodyError that has a name, a code and a status", async () => {
    await assert.rejects(readBody(new Request("http://localhost/publish/c", { method: "POST", body: "hello" }), 2), (error: unknown) => {
      assert.ok(error instanceof BodyError);
      assert.deepEqual([error.name, error.code, error.status], ["BodyError", "INVALID_BODY", 413]);
      assert.equal(error.message, "Invalid body: Expected at most 2 bytes but received more");
      return true;
    });
  });

  it("answers 413 naming the size and the limit when the backbone refuses a message as too large", async () => {
    const tooLarge = new PayloadTooLargeError('A message on channel "big"', 1_000_001, 1_000_000);
    const broadcast = { publish: () => Promise.reject(tooLarge), state: "up" } as unknown as Broadcast;
    const sse = sseHandler(broadcast, { maxBody: 2_000_000 });
    try {
      const response = await sse.fetch(new Request("http://localhost/publish/big", { method: "POST", body: "x" }));
      assert.equal(response.status, 413);
      assert.equal((await response.json()).error, 'A message on channel "big" is 1000001 bytes, over the limit of 1000000 bytes');
    } finally {
      sse.close();
    }
  });
});

describe("streamcast serve: logs", { timeout: 30_000 }, () => {
  it("masks the backbone password in every line it logs", async () => {
    const port = await freePort();
    const server = startServe(["--port", String(port), "--uri", `redis://app:hunter2@127.0.0.1:${await freePort()}`, ...QUICK, "--max-retries", "1"]);
    try {
      await server.waitLog(/gave up on the backbone/);
      await server.waitLog(/starting a new worker/);
    } finally {
      await server.stop();
    }
    assert.ok(server.log.some((line) => line.includes("redis://app:***@127.0.0.1")), server.log.join("\n"));
    assert.deepEqual(server.log.filter((line) => line.includes("hunter2")), []);
  });
});

