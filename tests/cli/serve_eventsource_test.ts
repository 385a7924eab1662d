/**
 * Many browser clients at once: one headless Chromium page opens 200
 * `EventSource`s on `streamcast serve` (2 workers on Redis) and every one of
 * them receives a burst of publishes, all of it, in order. A browser keeps at
 * most 6 HTTP/1.1 connections per host, so the sources are spread over 40
 * names under `localhost` (all loopback); the page is served from another
 * origin, which serve allows with `--allow-origin`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { freePort, healthIs, killServes, publish, type Serve, startServe } from "../fixtures/serve.ts";
import { launch, servePage } from "../fixtures/serve_browser.ts";
import { eventually, uniqueChannel } from "../fixtures/support.ts";

const SOURCES = 200;
const HOSTS = 40;
const BURST = 100;

after(killServes);

/** The page: opens the sources and records, per source, the messages in the order they came. */
const PAGE = `<!doctype html><title>sources</title><link rel="icon" href="data:,"><script>
window.open_ = (port, channel, count, hosts) => {
  window.received = Array.from({ length: count }, () => []);
  window.ready = 0;
  window.errors = 0;
  for (let i = 0; i < count; i++) {
    const source = new EventSource("http://c" + (i % hosts) + ".localhost:" + port + "/subscribe?channel=" + channel);
    source.addEventListener("ready", () => window.ready++);
    source.addEventListener("message", (event) => window.received[i].push(JSON.parse(event.data).message));
    source.addEventListener("error", () => window.errors++);
  }
};
</script>`;

describe("200 EventSource clients in one Chromium page", { timeout: 120_000 }, () => {
  let serve: Serve | undefined;
  let browser: Browser | undefined;
  let pageServer: { origin: string; close(): void } | undefined;
  let page: Page;
  let port = 0;
  const channel = uniqueChannel("burst");

  before(async () => {
    pageServer = await servePage(PAGE);
    const pageOrigin = pageServer.origin;
    port = await freePort();
    serve = startServe(["--workers", "2", "--port", String(port), "--uri", "redis://127.0.0.1:6379", "--allow-origin", pageOrigin]);
    await healthIs(port, "up");
    browser = await launch();
    page = await browser.newPage();
    await page.goto(`${pageOrigin}/`);
  });

  after(async () => {
    await browser?.close();
    await serve?.stop();
    pageServer?.close();
  });

  it("every source receives the whole burst, in order", async () => {
    await page.evaluate(([port, channel, count, hosts]) => (window as unknown as { open_: (...a: unknown[]) => void }).open_(port, channel, count, hosts), [port, channel, SOURCES, HOSTS] as const);
    const ready = () => page.evaluate(() => (window as unknown as { ready: number }).ready);
    await eventually(async () => await ready() === SOURCES, 30_000, `all ${SOURCES} sources to be ready`);
    const burst = Array.from({ length: BURST }, (_, i) => `burst ${i}`);
    // Published one after another through both workers: one publisher, so one order to keep.
    for (const message of burst) assert.equal((await publish(port, channel, message)).status, 200);
    const received = () => page.evaluate(() => (window as unknown as { received: string[][] }).received);
    await eventually(async () => (await received()).every((messages) => messages.length >= BURST), 30_000, "every source to get the burst");
    const all = await received();
    for (const [i, messages] of all.entries()) assert.deepEqual(messages, burst, `source ${i}`);
    assert.equal(await page.evaluate(() => (window as unknown as { errors: number }).errors), 0, "no source lost its connection");
  });
});
