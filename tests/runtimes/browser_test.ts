/**
 * The core in a browser: `mod.ts` bundled by esbuild with code splitting,
 * served from a local server and run in headless Chromium. `memory://` works
 * there, fetching the core and the memory backend's chunk only; the other
 * schemes' backends import drivers and Node's built-ins, so their `connect()`
 * fails at once with `UnsupportedBackendError` instead of retrying.
 * Without Chromium the test fails, naming what to install.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type * as Esbuild from "esbuild";
import type { Browser, Page } from "playwright-core";
import { assertUnsupportedAtOnce, type Bundle, bundle, kilobytes } from "../fixtures/bundle.ts";
import type { EdgePage } from "../entries/browser_page.ts";
import { launch } from "../fixtures/serve_browser.ts";

/** How long a scenario in the page waits before it reports a hang. */
const BOUND_MS = 5_000;
const BACKENDS = ["memory", "redis", "postgres", "kafka"] as const;

/** The page script imports the library as the page serves it, `./mod.js`, not bundled a second time. */
const libraryAsServed: Esbuild.Plugin = {
  name: "library-as-served",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/\.\.\/mod\.ts$/ }, () => ({ path: "./mod.js", external: true }));
  },
};

/** Serves `files` at `/<name>` and a page loading `/page.js` at `/`; records each path asked for. */
async function serve(files: ReadonlyMap<string, string>): Promise<{ origin: string; requested: string[]; close(): Promise<void> }> {
  const requested: string[] = [];
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    requested.push(path);
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><title>streamcast</title><link rel="icon" href="data:,"><script type="module" src="/page.js"></script>');
      return;
    }
    const text = files.get(path.slice(1));
    if (text === undefined) res.writeHead(404).end();
    else res.writeHead(200, { "content-type": "text/javascript" }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requested,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("the core in a browser: an esbuild bundle in headless Chromium", { timeout: 90_000 }, () => {
  let library: Bundle;
  let script: Bundle;
  let server: Awaited<ReturnType<typeof serve>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  /** Runs one of the page's scenarios with `args`, in the page. */
  function run<K extends keyof EdgePage>(name: K, ...args: Parameters<EdgePage[K]>): Promise<Awaited<ReturnType<EdgePage[K]>>> {
    const call = ([name, args]: [string, unknown[]]) => (globalThis as unknown as { edge: Record<string, (...args: unknown[]) => unknown> }).edge[name](...args);
    return page.evaluate(call, [name, args] as [string, unknown[]]) as Promise<Awaited<ReturnType<EdgePage[K]>>>;
  }

  before(async () => {
    library = await bundle({ entryPoints: { mod: "mod.ts" } });
    script = await bundle({ entryPoints: { page: "tests/entries/browser_page.ts" }, plugins: [libraryAsServed] });
    assert.deepEqual([...script.files.keys()], ["page.js"], "the page script is one file over the library");
    server = await serve(new Map([...library.files, ...script.files]));
    browser = await launch();
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    await page.goto(server.origin);
    await page.waitForFunction("globalThis.edge !== undefined", undefined, { timeout: 15_000 }).catch((error) => {
      throw new Error(`The page script did not load: ${pageErrors.join("; ") || error}`);
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it("splits the scheme table: each backend is a chunk of its own, loaded only through import()", () => {
    const core = library.closure("mod.js");
    for (const backend of BACKENDS) {
      const chunk = library.chunkOf(`backends/${backend}/mod.ts`);
      assert.ok(library.dynamicImports.get("mod.js")?.includes(chunk), `mod.js loads ${chunk} lazily`);
      assert.ok(!core.has(chunk), `${chunk} is not part of the core`);
    }
  });

  it("the core and the memory:// chunk import nothing of node: and no driver", (t) => {
    const core = library.closure("mod.js");
    const memory = library.closure(library.chunkOf("backends/memory/mod.ts"));
    const outside = [...core, ...memory].filter((name) => !library.files.has(name));
    assert.deepEqual(outside, [], "every import is a chunk of the bundle");
    for (const name of new Set([...core, ...memory])) assert.doesNotMatch(library.files.get(name)!, /["']node:/, name);
    const coreSize = library.size(core);
    const memorySize = library.size([...memory].filter((name) => !core.has(name)));
    t.diagnostic(`core (mod.js and its ${core.size - 1} chunks, minified): ${kilobytes(coreSize.raw)}, ${kilobytes(coreSize.gzipped)} gzipped`);
    t.diagnostic(`memory:// backend on top of it: ${kilobytes(memorySize.raw)}, ${kilobytes(memorySize.gzipped)} gzipped`);
  });

  it("a page subscribed on memory:// reads back what it published, in order, fetching no other backend", async () => {
    const messages = ["one", "two", JSON.stringify({ id: 3, text: "drei ✓" })];
    const result = await run("memoryRoundTrip", "memory://browser-test", "news", messages, BOUND_MS);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(result, { frames: messages.map((message) => ({ type: "event", channel: "news", message })), timedOut: false });
    const loaded = new Set([...library.closure("mod.js"), ...library.closure(library.chunkOf("backends/memory/mod.ts"))]);
    assert.deepEqual(new Set(server.requested.filter((path) => path !== "/").map((path) => path.slice(1))), new Set(["page.js", ...loaded]));
  });

  for (const [uri, driver] of [["redis://127.0.0.1:1", "redis"], ["postgres://127.0.0.1:1/db", "postgres"], ["kafka://127.0.0.1:1", "kafkajs"]]) {
    const scheme = new URL(uri).protocol;
    it(`connect() to ${scheme}// fails at once with UnsupportedBackendError naming the backend and the "${driver}" package`, async (t) => {
      const started = performance.now();
      const outcome = await run("connectOutcome", uri, BOUND_MS);
      const ms = performance.now() - started;
      t.diagnostic(`${JSON.stringify(outcome)} in ${ms.toFixed(0)} ms`);
      assertUnsupportedAtOnce(outcome, scheme, driver);
      assert.ok(ms < BOUND_MS, `failed in ${ms} ms`);
    });
  }
});
