/**
 * The core in workerd, Cloudflare's Workers runtime, without Node
 * compatibility: an ES module worker importing the library (bundled by
 * esbuild, code split as for a browser) publishes and subscribes on
 * `memory://` in a fetch handler, and `connect()` to a backbone whose
 * backend needs Node fails at once. workerd comes from the npm package of
 * that name; without its binary the test fails, naming what to install.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { assertUnsupportedAtOnce, type Bundle, bundle, kilobytes } from "../fixtures/bundle.ts";
import type { ConnectOutcome, RoundTrip } from "../entries/edge_scenarios.ts";
import { freePort } from "../fixtures/net.ts";

/** The workerd binary of the npm package, and the newest compatibility date it knows. */
function workerdBinary(): { path: string; compatibilityDate: string } {
  const override = process.env.WORKERD_PATH;
  let found: { default: string; compatibilityDate: string };
  try {
    found = createRequire(import.meta.url)("workerd");
  } catch (cause) {
    throw new Error("The workerd test needs workerd: npm install -D workerd (with its optional @cloudflare/workerd-<platform> package)", { cause });
  }
  const path = override ?? found.default;
  if (!existsSync(path)) throw new Error(`The workerd test needs the workerd binary at ${path}: npm install -D workerd (or set WORKERD_PATH)`);
  return { path, compatibilityDate: found.compatibilityDate };
}

/** A workerd config serving `modules` (the first is the worker) on `address`; no compatibility flags, so no Node APIs. */
function config(modules: readonly string[], address: string, compatibilityDate: string): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "${address}", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
${modules.map((name) => `    (name = "${name}", esModule = embed "${name}"),`).join("\n")}
  ],
  compatibilityDate = "${compatibilityDate}",
);
`;
}

/** Resolves once `url` answers, or rejects with what workerd printed when it exits or does not answer in time. */
async function answering(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`workerd exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`workerd did not answer on ${url} within 15 s:\n${output()}`);
}

describe("the core in workerd, without nodejs_compat", { timeout: 90_000 }, () => {
  let worker: Bundle;
  let dir = "";
  let child: ChildProcess | undefined;
  let output = "";
  let origin = "";

  before(async () => {
    const binary = workerdBinary();
    worker = await bundle({ entryPoints: { worker: "tests/entries/workerd_worker.ts" } });
    dir = mkdtempSync(join(tmpdir(), "streamcast-workerd-"));
    for (const [name, text] of worker.files) writeFileSync(join(dir, name), text);
    const address = `127.0.0.1:${await freePort()}`;
    const modules = ["worker.js", ...[...worker.files.keys()].filter((name) => name !== "worker.js")];
    writeFileSync(join(dir, "config.capnp"), config(modules, address, binary.compatibilityDate));
    // --verbose: what a worker logs or throws uncaught is printed, and the last test asserts nothing was.
    child = spawn(binary.path, ["serve", "config.capnp", "--verbose"], { cwd: dir, env: { ...process.env, PWD: dir }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (chunk) => output += chunk);
    child.stderr!.on("data", (chunk) => output += chunk);
    origin = `http://${address}`;
    await answering(origin, child, () => output);
  });
  after(() => {
    child?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the worker and its memory:// chunk import nothing outside the bundle", (t) => {
    const loaded = new Set([...worker.closure("worker.js"), ...worker.closure(worker.chunkOf("backends/memory/mod.ts"))]);
    assert.deepEqual([...loaded].filter((name) => !worker.files.has(name)), []);
    const size = worker.size(loaded);
    t.diagnostic(`worker with the core and memory:// (minified): ${kilobytes(size.raw)}, ${kilobytes(size.gzipped)} gzipped`);
  });

  it("a fetch handler subscribed on memory:// reads back what it published, in order", async () => {
    const messages = ["one", "two", JSON.stringify({ id: 3, text: "drei ✓" })];
    const query = new URLSearchParams([["uri", "memory://workerd-test"], ["channel", "news"], ...messages.map((m) => ["message", m])]);
    const response = await fetch(`${origin}/memory?${query}`);
    assert.equal(response.status, 200, output);
    const result = await response.json() as RoundTrip;
    assert.deepEqual(result, { frames: messages.map((message) => ({ type: "event", channel: "news", message })), timedOut: false });
  });

  for (const [uri, driver] of [["redis://127.0.0.1:1", "redis"], ["postgres://127.0.0.1:1/db", "postgres"], ["kafka://127.0.0.1:1", "kafkajs"]]) {
    const scheme = new URL(uri).protocol;
    it(`connect() to ${scheme}// fails at once with UnsupportedBackendError naming the backend and the "${driver}" package`, async (t) => {
      const response = await fetch(`${origin}/connect?${new URLSearchParams({ uri })}`);
      assert.equal(response.status, 200, output);
      const outcome = await response.json() as ConnectOutcome;
      t.diagnostic(JSON.stringify(outcome));
      assertUnsupportedAtOnce(outcome, scheme, driver);
    });
  }

  it("workerd logged nothing: no uncaught error, no warning from the worker", () => {
    assert.equal(output, "");
  });
});
