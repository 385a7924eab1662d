/**
 * `streamcast serve` through backbone outages: real processes (a cluster
 * primary and its workers), real HTTP and Server-Sent Events, Redis behind a
 * TCP proxy that the tests cut, and a real browser on the page it serves.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TcpProxy } from "../fixtures/proxy.ts";
import { freePort, healthIs, killServes, publish, request, type Serve, SseClient, startServe } from "../fixtures/serve.ts";
import { openPage } from "../fixtures/serve_browser.ts";
import { eventually, sleep, within } from "../fixtures/support.ts";

const REDIS_PORT = Number(process.env.REDIS_PORT ?? 6379);
// Short settle, spread and backoff: the tests see an outage through in seconds.
// Channels of this run only: other test files may share the Redis server at the same time.
const RUN = Math.random().toString(36).slice(2, 8);
const ch = (name: string) => `${name}-${RUN}`;
const QUICK = ["--resync-settle", "300", "--resync-spread", "500", "--retry", "200", "--backoff-min", "100", "--backoff-max", "500"];

// A failed test must not leave serve processes behind to keep the runner from exiting.
after(killServes);

describe("streamcast serve on Redis: two workers and a second process", { timeout: 90_000 }, () => {
  const proxy = new TcpProxy({ port: REDIS_PORT });
  let portA = 0;
  let portB = 0;
  let a: Serve;
  let b: Serve;
  const clients: SseClient[] = [];

  before(async () => {
    const uri = `redis://127.0.0.1:${await proxy.start()}`;
    [portA, portB] = [await freePort(), await freePort()];
    a = startServe(["--workers", "2", "--port", String(portA), "--uri", uri, ...QUICK]);
    b = startServe(["--port", String(portB), "--uri", uri, ...QUICK]);
    await Promise.all([healthIs(portA, "up"), healthIs(portB, "up")]);
  });

  after(async () => {
    for (const client of clients) client.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await proxy?.stop();
  });

  /** Opens clients on `port` until `workers` distinct worker pids serve one (new connections take turns). */
  async function clientsOn(port: number, channel: string, workers: number, atLeast = workers): Promise<SseClient[]> {
    const opened: SseClient[] = [];
    const pids = () => new Set(opened.map((client) => client.worker));
    while ((pids().size < workers || opened.length < atLeast) && opened.length < 12) {
      const client = new SseClient(port, [channel, ch("other")]);
      clients.push(client);
      opened.push(client);
      await client.ready();
    }
    assert.equal(pids().size, workers, `clients on ${port} reached workers ${[...pids()]}`);
    return opened;
  }

  /** Publishes through `port` until every one of `workers` pids has taken a publish; the messages. */
  async function publishVia(port: number, channel: string, workers: number, tag: string): Promise<string[]> {
    const sent: string[] = [];
    const via = new Set<unknown>();
    for (let i = 0; via.size < workers && i < 12; i++) {
      const message = `${tag}-${port}-${i} ✓`;
      const { status, json } = await publish(port, channel, message);
      assert.equal(status, 200, JSON.stringify(json));
      via.add(json.worker);
      sent.push(message);
    }
    assert.equal(via.size, workers, `publishes through ${port} reached workers ${[...via]}`);
    return sent;
  }

  it("delivers every publish to every SSE client of every worker and of the other process", async () => {
    const all = [...await clientsOn(portA, ch("fan"), 2, 4), ...await clientsOn(portB, ch("fan"), 1, 2)];
    const sent = [...await publishVia(portA, ch("fan"), 2, ch("fan")), ...await publishVia(portB, ch("fan"), 1, ch("fan"))];
    await Promise.all(all.map((client) => client.received(sent)));
    for (const client of all) assert.deepEqual(client.messages().sort(), [...sent].sort());
  });

  it("refuses bad publishes with clear 400 and 413 answers", async () => {
    const empty = await request(portA, "POST", "/publish/");
    assert.equal(empty.status, 400);
    assert.match(String(empty.json.error), /Invalid channel/);
    const big = await request(portA, "POST", "/publish/fan", Buffer.alloc(1024 * 1024 + 1, 97));
    assert.equal(big.status, 413);
    assert.match(String(big.json.error), /Expected at most 1048576 bytes/);
    const binary = await request(portA, "POST", "/publish/fan", Buffer.from([0xff, 0xfe]));
    assert.equal(binary.status, 400);
    assert.match(String(binary.json.error), /UTF-8/);
    const noChannel = await request(portA, "GET", "/subscribe");
    assert.equal(noChannel.status, 400);
  });

  it("a browser page served by serve receives a publish through EventSource", async () => {
    const page = await openPage(`http://127.0.0.1:${portA}/?channel=${ch("browser")}`);
    try {
      await page.waitForReady();
      assert.equal((await publish(portB, ch("browser"), "hello, browser <b>")).status, 200);
      assert.deepEqual(await page.waitForMessages(1), ["hello, browser <b>"]);
    } finally {
      await page.close();
    }
  });

  it("after an outage closes each client once with a resync event, keeps /healthz at 200, and serves again", async () => {
    const before = [...await clientsOn(portA, ch("gap"), 2), ...await clientsOn(portB, ch("gap"), 1)];
    let restoredAt = 0;
    const health = watchHealth([portA, portB]);
    try {
      await proxy.cut();
      await eventually(() => health.seen.filter((h) => h.endsWith(" down")).length >= 2, 10_000, "/healthz to report the backbone down");
      await sleep(500);
      restoredAt = Date.now();
      await proxy.restore();
      await within(Promise.all(before.map((client) => client.ended)), 20_000, "the server to close every SSE client after the outage");
      await Promise.all([healthIs(portA, "up"), healthIs(portB, "up")]);
    } finally {
      await health.stop();
    }
    assert.deepEqual(health.seen.filter((h) => !h.startsWith("200 ")), [], "/healthz answered 200 throughout");
    for (const client of before) {
      const resyncs = client.events.filter((e) => e.event === "resync");
      assert.equal(resyncs.length, 1, `one resync event for worker ${client.worker}'s client`);
      assert.deepEqual(JSON.parse(client.events.at(-1)!.data).reason, "reconnect");
      assert.equal(client.events.at(-1)!.event, "resync", "the resync event comes last, just before the close");
      assert.ok(client.endedAt >= restoredAt, "closed after the backbone came back");
    }
    // What EventSource does by itself: connect again, then receive what follows.
    const again = [...await clientsOn(portA, ch("gap"), 2), ...await clientsOn(portB, ch("gap"), 1)];
    const sent = [...await publishVia(portA, ch("gap"), 2, "after"), ...await publishVia(portB, ch("gap"), 1, "after")];
    await Promise.all(again.map((client) => client.received(sent)));
    assert.deepEqual(again.filter((client) => client.endedAt !== 0).map((c) => c.worker), [], "reconnected clients stay open");
    assert.ok(a.log.some((line) => /backbone redis:\/\/127\.0\.0\.1:\d+ down/.test(line)), a.log.join("\n"));
  });

  it("stops its workers and exits 0 on SIGTERM, ending the SSE streams", async () => {
    const open = await clientsOn(portA, ch("bye"), 2);
    assert.equal(await a.stop("SIGTERM"), 0, a.log.join("\n"));
    await within(Promise.all(open.map((client) => client.ended)), 5_000, "the SSE streams to end");
    assert.ok(a.log.some((line) => /primary \d+\]: stopped/.test(line)), a.log.join("\n"));
  });
});

describe("streamcast serve: giving up on the backbone", { timeout: 60_000 }, () => {
  it("answers 503, exits the worker, and a new worker serves once the backbone is back", async () => {
    const proxy = new TcpProxy({ port: REDIS_PORT });
    const port = await freePort();
    const uri = `redis://127.0.0.1:${await proxy.start()}`;
    const server = startServe(["--port", String(port), "--uri", uri, ...QUICK, "--max-retries", "2"]);
    try {
      await healthIs(port, "up");
      const first = (await request(port, "GET", "/healthz")).json.worker;
      const client = new SseClient(port, [ch("giveup")]);
      await client.ready();
      await proxy.cut();
      await eventually(async () => (await request(port, "GET", "/healthz")).status === 503, 15_000, "/healthz to answer 503");
      await within(client.ended, 10_000, "the worker that gave up to end its SSE client");
      await server.waitLog(new RegExp(`worker ${first} exited with code 1 \\(giveup: .*\\); starting a new worker`));
      await proxy.restore();
      await healthIs(port, "up", 30_000);
      const second = (await request(port, "GET", "/healthz")).json.worker;
      assert.notEqual(second, first, "a new worker process serves");
      const fresh = new SseClient(port, [ch("giveup")]);
      await fresh.ready();
      assert.equal((await publish(port, ch("giveup"), "back")).status, 200);
      await fresh.received(["back"]);
      fresh.close();
      assert.ok(server.log.some((line) => line.includes(`worker ${first}]: gave up on the backbone`)), server.log.join("\n"));
    } finally {
      await server.stop();
      await proxy.stop();
    }
    assert.equal(await server.exited, 0, server.log.join("\n"));
  });
});

/** Polls `/healthz` on each port every 100 ms until stopped; `seen` holds "status state" answers. */
function watchHealth(ports: number[]): { seen: string[]; stop(): Promise<void> } {
  const seen: string[] = [];
  let polling = true;
  const loop = (async () => {
    while (polling) {
      for (const port of ports) {
        const { status, json } = await request(port, "GET", "/healthz");
        seen.push(`${status} ${json.state}`);
      }
      await sleep(100);
    }
  })();
  return {
    seen,
    async stop() {
      polling = false;
      await loop;
    },
  };
}
