/**
 * History mode end to end: one `EventSource` in a headless Chromium page on
 * `streamcast serve` over Redis Streams (`?history=`), while a publisher
 * publishes steadily. Its serve worker is killed (the primary starts a new
 * one), then the redis-server is killed and started again (with its
 * append-only file, as history needs). The page receives every message
 * exactly once, in order, and no resync event: each reconnect sends
 * `Last-Event-ID`, and the new worker fills the gap from the stream.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { Broadcast } from "../../mod.ts";
import { RedisServer } from "../fixtures/redis.ts";
import { freePort, healthIs, killServes, type Serve, startServe } from "../fixtures/serve.ts";
import { launch, servePage } from "../fixtures/serve_browser.ts";
import { eventually, sleep, uniqueChannel } from "../fixtures/support.ts";

after(killServes);

/** The page: one EventSource; what it received, its resync events, its errors (each a reconnect), the workers that served it. */
const PAGE = `<!doctype html><title>history</title><link rel="icon" href="data:,"><script>
window.open_ = (url) => {
  window.received = [];
  window.resyncs = [];
  window.errors = 0;
  window.workers = [];
  const source = new EventSource(url);
  source.addEventListener("ready", (event) => window.workers.push(JSON.parse(event.data).worker));
  source.addEventListener("message", (event) => window.received.push(JSON.parse(event.data).message));
  source.addEventListener("resync", (event) => window.resyncs.push(event.data));
  source.addEventListener("error", () => window.errors++);
};
</script>`;

interface PageState {
  received: string[];
  resyncs: string[];
  errors: number;
  workers: number[];
}

describe("an EventSource through a serve worker restart and a Redis restart, in history mode", { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let dir: string;
  let serve: Serve | undefined;
  let browser: Browser | undefined;
  let pageServer: { origin: string; close(): void } | undefined;
  let page: Page;
  let port = 0;
  let uri = "";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamcast-history-"));
    redis = await RedisServer.start(["--appendonly", "yes", "--appendfsync", "always", "--dir", dir]);
    uri = `redis://127.0.0.1:${redis.port}?history=100000`;
    pageServer = await servePage(PAGE);
    const pageOrigin = pageServer.origin;
    port = await freePort();
    const quick = ["--retry", "200", "--backoff-min", "100", "--backoff-max", "500", "--resync-settle", "100"];
    serve = startServe(["--port", String(port), "--uri", uri, "--allow-origin", pageOrigin, ...quick]);
    await healthIs(port, "up");
    browser = await launch();
    page = await browser.newPage();
    await page.goto(`${pageOrigin}/`);
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
    pageServer?.close();
    await redis?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("receives every message exactly once, in order, with no resync event", async () => {
    const channel = uniqueChannel("history");
    const state = () =>
      page.evaluate(() => {
        const { received, resyncs, errors, workers } = window as unknown as PageState;
        return { received, resyncs, errors, workers };
      });
    await page.evaluate((url) => (window as unknown as { open_: (url: string) => void }).open_(url), `http://localhost:${port}/subscribe?channel=${channel}`);
    await eventually(async () => (await state()).workers.length === 1, 15_000, "the source to be ready");
    const publisher = await Broadcast.connect(uri, { reconnect: { minDelay: 50, maxDelay: 300 }, liveness: { interval: 200, timeout: 500 } });
    const sent: string[] = [];
    let pumping = true;
    const pump = (async () => {
      for (let n = 0; pumping; n++) {
        sent.push(`m${n}`);
        await publisher.publish(channel, `m${n}`);
        await sleep(5);
      }
    })();
    try {
      await eventually(async () => (await state()).received.length >= 50, 15_000, "messages before the worker restart");
      // The worker is killed: the primary starts another, and the page reconnects to it.
      process.kill((await state()).workers[0], "SIGKILL");
      await eventually(async () => (await state()).workers.length === 2, 30_000, "the page to be served by the new worker");
      const afterWorker = (await state()).received.length;
      await eventually(async () => (await state()).received.length >= afterWorker + 50, 15_000, "messages after the worker restart");
      // The backbone restarts: every connection drops, and the streams come back from the append-only file.
      await redis.kill();
      await sleep(300);
      await redis.restart();
      const afterRedis = sent.length;
      await eventually(async () => (await state()).received.length >= afterRedis + 50, 30_000, "messages after the Redis restart");
    } finally {
      pumping = false;
      await pump.catch(() => {});
    }
    await eventually(async () => (await state()).received.length >= sent.length, 20_000, `all ${sent.length} messages`).catch(() => {});
    await sleep(200);
    const { received, resyncs, errors } = await state();
    assert.deepEqual(resyncs, [], "no resync event");
    assert.deepEqual(received, sent, "every message exactly once, in order");
    assert.ok(errors >= 1, "the page did lose its connection (and came back)");
    await publisher.disconnect();
  });
});
