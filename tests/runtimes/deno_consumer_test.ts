/**
 * A Deno project outside this checkout uses the package before it is on JSR:
 * its deno.json "links" this directory, so `@streamcast/streamcast` and its
 * subpaths resolve to it by the name and "exports" of our deno.json, and our
 * "imports" map valibot for our own modules. With "nodeModulesDir": "manual",
 * Deno finds valibot in the node_modules that npm installed here, so nothing
 * is downloaded (`--cached-only`, and an empty DENO_DIR of its own). The
 * memory:// round trip runs with no permission flag at all.
 *
 * Runs `deno` from node_modules/.bin, so under Node only (see scripts/test_suites.js).
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const deno = join(root, "node_modules", ".bin", "deno");

// What the user's module does: every name it imports comes through the link.
const consumer = `
import { Broadcast } from "@streamcast/streamcast";
import { configFromEnv } from "@streamcast/streamcast/env";
import { memoryHub } from "@streamcast/streamcast/memory";

const { uri } = configFromEnv({ OPAL_BROADCAST_URI: "memory://deno-consumer" });
const broadcast = await Broadcast.connect(uri);
const reader = broadcast.subscribe("greetings").getReader();
await broadcast.publish("greetings", "hello from another project");
const { value: frame } = await reader.read();
const linksWhileUp = memoryHub("deno-consumer").connections;
reader.releaseLock();
await broadcast.disconnect();
console.log(JSON.stringify({
  entry: import.meta.resolve("@streamcast/streamcast"),
  memoryEntry: import.meta.resolve("@streamcast/streamcast/memory"),
  frame,
  linksWhileUp,
  linksAfterDisconnect: memoryHub("deno-consumer").connections,
}));
`;

describe("a Deno project that links the checkout", () => {
  let temp = "";

  before(async () => {
    temp = await mkdtemp(join(tmpdir(), "streamcast-deno-consumer-"));
    const link = relative(temp, root).replaceAll("\\", "/");
    await writeFile(join(temp, "deno.json"), JSON.stringify({ links: [link], nodeModulesDir: "manual" }, null, 2));
    await writeFile(join(temp, "main.ts"), consumer);
  });

  after(async () => {
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it("imports @streamcast/streamcast, /env and /memory and runs a memory:// round trip, without permissions or downloads", async () => {
    // A child of the Node test run must not hand Node's loader options to Deno.
    const env = { ...process.env, NODE_OPTIONS: undefined, DENO_DIR: join(temp, ".deno"), NO_COLOR: "1" };
    const { stdout } = await run(deno, ["run", "--cached-only", "--no-prompt", "main.ts"], { cwd: temp, env, timeout: 60_000 });
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
    assert.equal(result.entry, pathToFileURL(join(root, "mod.ts")).href);
    assert.equal(result.memoryEntry, pathToFileURL(join(root, "backends", "memory", "mod.ts")).href);
    assert.deepEqual(result.frame, { type: "event", channel: "greetings", message: "hello from another project" });
    assert.equal(result.linksWhileUp, 1, "the core loaded the same backends/memory/mod.ts as @streamcast/streamcast/memory");
    assert.equal(result.linksAfterDisconnect, 0);
  });
});
