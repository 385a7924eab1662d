/**
 * A real browser for the serve and browser tests: Debian's Chromium driven by
 * playwright-core. When either is missing the test fails, saying what to
 * install: a CI machine without a browser must not pass by skipping.
 */
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type * as Playwright from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The serve page open in Chromium. */
export interface ServePage {
  /** Resolves once the page's EventSource got the server's "ready" event. */
  waitForReady(): Promise<void>;
  /** Resolves with the messages listed once there are at least `count`. */
  waitForMessages(count: number): Promise<string[]>;
  close(): Promise<void>;
}

/** What a `fetch` from a page got: the status it could read, or the error it threw (a CORS refusal: a TypeError). */
export type FetchResult = { status: number; opaque: boolean } | { error: string };

/** A page of some origin in Chromium, from which to call a server as that origin's scripts would. */
export interface OriginPage {
  /** Runs `fetch(url, init)` in the page. */
  fetch(url: string, init: { method?: string; body?: string; headers?: Record<string, string>; mode?: "cors" | "no-cors" }): Promise<FetchResult>;
  close(): Promise<void>;
}

/** Launches headless Chromium with the flags this machine needs; throws naming what is missing. */
export async function launch(): Promise<Playwright.Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`The browser test needs Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  let playwright: typeof Playwright;
  try {
    playwright = await import("playwright-core");
  } catch (cause) {
    throw new Error("The browser test needs playwright-core: npm install -D playwright-core", { cause });
  }
  return await playwright.chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** Opens `url` (a page without a Content-Security-Policy) in a headless Chromium, to fetch from its origin. */
export async function openOriginPage(url: string): Promise<OriginPage> {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(url);
    return {
      fetch: (target, init) =>
        page.evaluate(async ([target, init]) => {
          try {
            const response = await fetch(target, init);
            return { status: response.status, opaque: response.type === "opaque" };
          } catch (error) {
            return { error: String(error) };
          }
        }, [target, init] as const),
      close: () => browser.close(),
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/** Opens `url` in a headless Chromium; throws naming what is missing when it cannot. */
export async function openPage(url: string): Promise<ServePage> {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(url);
    return {
      async waitForReady() {
        await page.waitForSelector('body[data-state^="ready"]', { timeout: 15_000 });
      },
      async waitForMessages(count) {
        // Locators, not a predicate string: the page's Content-Security-Policy forbids eval.
        const messages = page.locator("li.message");
        await messages.nth(count - 1).waitFor({ timeout: 15_000 });
        return await messages.allTextContents();
      },
      close: () => browser.close(),
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/** `html` served at `origin` (http://localhost:<port>/) until `close()`: a page from another origin than serve's. */
export async function servePage(html: string): Promise<{ origin: string; close(): void }> {
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(html));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://localhost:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}
