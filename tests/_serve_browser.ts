/**
 * A real browser for the serve tests: Debian's Chromium driven by
 * playwright-core. When either is missing the test fails, saying what to
 * install: a CI machine without a browser must not pass by skipping.
 */
import { existsSync } from "node:fs";

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

// The little of playwright-core's API used here, so the file type-checks before it is installed.
interface Page {
  goto(url: string): Promise<unknown>;
  waitForSelector(selector: string, options: { timeout: number }): Promise<unknown>;
  waitForFunction(fn: string, arg: unknown, options: { timeout: number }): Promise<unknown>;
  $$eval<T>(selector: string, fn: (elements: Element[]) => T): Promise<T>;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: { launch(options: { executablePath: string; args: string[] }): Promise<Browser> };
}

/** The serve page open in Chromium. */
export interface ServePage {
  /** Resolves once the page's EventSource got the server's "ready" event. */
  waitForReady(): Promise<void>;
  /** Resolves with the messages listed once there are at least `count`. */
  waitForMessages(count: number): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens `url` in a headless Chromium; throws naming what is missing when it cannot. */
export async function openPage(url: string): Promise<ServePage> {
  if (!existsSync(CHROMIUM)) throw new Error(`The browser test needs Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  let playwright: Playwright;
  const name = "playwright-core"; // a variable: tsc must not require it to type-check
  try {
    playwright = await import(name) as Playwright;
  } catch (cause) {
    throw new Error("The browser test needs playwright-core: npm install -D playwright-core", { cause });
  }
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    return {
      async waitForReady() {
        await page.waitForSelector('body[data-state^="ready"]', { timeout: 15_000 });
      },
      async waitForMessages(count) {
        await page.waitForFunction(`document.querySelectorAll("li.message").length >= ${count}`, undefined, { timeout: 15_000 });
        return await page.$$eval("li.message", (items) => items.map((item) => item.textContent ?? ""));
      },
      close: () => browser.close(),
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}
