/**
 * The published package, as a user gets it: `npm pack` (which builds dist/),
 * install the tarball into an empty project, and import it from plain Node —
 * no tsx, no TypeScript — through the package's "exports", and run its
 * `streamcast` command through npx.
 *
 * A row of its own in the runtime matrix (scripts/test_suites.js): it tests
 * the npm package, not the code, so the other runtimes leave it out.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";

const root = fileURLToPath(new URL("../..", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

interface Run {
  stdout: string;
  stderr: string;
}

/** Runs a command; rejects with its output when it exits non-zero or times out. */
function run(command: string, args: string[], cwd: string, timeout = 120_000): Promise<Run> {
  // A child of `npm test` inherits npm's lifecycle variables and, under tsx,
  // NODE_OPTIONS; neither belongs to the fresh project the user would have.
  const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: undefined };
  for (const name of Object.keys(env)) {
    if (/^npm_(config_local_prefix|config_prefix|package_|lifecycle_)/i.test(name)) delete env[name];
  }
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, env, timeout, maxBuffer: 16 << 20, shell: command === "npm.cmd" }, // .cmd needs a shell
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: error }));
        } else resolve({ stdout, stderr });
      },
    );
  });
}

// What a user's module does with the package. It prints one JSON line that
// the test compares field by field, so a wrong answer fails loudly.
const consumer = String.raw`
const { Broadcast, UnsupportedBackendError } = await import("streamcast");
const memory = await import("streamcast/memory");

const broadcast = await Broadcast.connect("memory://");
const reader = broadcast.subscribe("greetings").getReader();
await broadcast.publish("greetings", "hello from the tarball");
const { value: frame } = await reader.read();
// The same hub, seen through the public subpath: dist/lib found dist/backends.
const linksWhileUp = memory.memoryHub().connections;
reader.releaseLock();
await broadcast.disconnect();

// No driver is installed: the lazily loaded backend must fail with our error.
let redis;
try {
  const other = await Broadcast.connect("redis://127.0.0.1:1", {
    reconnect: { maxRetries: 1, minDelay: 1, maxDelay: 1 },
  });
  await other.disconnect();
  redis = "connected";
} catch (error) {
  const chain = [];
  for (let e = error; e instanceof Error; e = e.cause) chain.push(e);
  const unsupported = chain.find((e) => e instanceof UnsupportedBackendError);
  redis = unsupported ? { name: unsupported.name, message: unsupported.message } : String(error);
}

console.log(JSON.stringify({
  entry: import.meta.resolve("streamcast"),
  memoryEntry: import.meta.resolve("streamcast/memory"),
  frame,
  memoryHub: typeof memory.memoryHub,
  linksWhileUp,
  linksAfterDisconnect: memory.memoryHub().connections,
  redis,
}));
`;

describe("the npm package", () => {
  let temp = "";
  let project = "";

  before(async () => {
    temp = await mkdtemp(join(tmpdir(), "streamcast-package-"));
    // prepack builds dist/, so the tarball holds what `npm run build` emits now.
    const { stdout } = await run(npm, ["pack", "--json", "--pack-destination", temp], root);
    const [{ filename }] = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as { filename: string }[];
    project = join(temp, "project");
    await mkdir(project);
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "streamcast-consumer", private: true, type: "module" }),
    );
    await run(npm, [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--no-package-lock",
      join(temp, filename),
    ], project);
  });

  after(async () => {
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  test("plain Node imports the installed package, and a memory:// round trip works", async () => {
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", consumer], project, 30_000);
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
    const installed = join(await realpath(project), "node_modules", "streamcast", "dist");
    assert.equal(result.entry, pathToFileURL(join(installed, "mod.js")).href);
    assert.equal(result.memoryEntry, pathToFileURL(join(installed, "backends", "memory", "mod.js")).href);
    assert.deepEqual(result.frame, { type: "event", channel: "greetings", message: "hello from the tarball" });
    assert.equal(result.memoryHub, "function");
    assert.equal(result.linksWhileUp, 1, "the core loaded the same backends/memory/mod.js as streamcast/memory");
    assert.equal(result.linksAfterDisconnect, 0, "disconnect() closes the link to the hub");
    assert.equal(result.redis?.name, "UnsupportedBackendError", JSON.stringify(result.redis));
    assert.match(result.redis.message, /"redis" package/);
  });

  test("npx streamcast runs the installed command: help, and the demo on memory://", async () => {
    const help = await run(npm, ["exec", "--offline", "--", "streamcast", "serve", "--help"], project, 60_000);
    assert.match(help.stdout, /^Usage: streamcast serve/m);
    const demo = await run(npm, ["exec", "--offline", "--", "streamcast", "demo", "--workers", "2"], project, 120_000);
    assert.match(demo.stdout, /all checks passed/);
  });

  test("the optional drivers are not installed with it", () => {
    for (const driver of ["redis", "postgres", "kafkajs"]) {
      assert.equal(existsSync(join(project, "node_modules", driver)), false, `${driver} was installed`);
    }
    assert.ok(existsSync(join(project, "node_modules", "valibot", "package.json")), "valibot is installed");
  });

  test("every public specifier imports from the installed package; the backends' once their driver is beside it", async () => {
    // After the test above: the drivers a user would install, linked from this checkout.
    for (const driver of ["redis", "@redis", "postgres", "kafkajs"]) {
      await symlink(join(root, "node_modules", driver), join(project, "node_modules", driver), "dir");
    }
    const importer = String.raw`
      const exported = {};
      for (const specifier of ["streamcast", "streamcast/env", "streamcast/sse", "streamcast/memory", "streamcast/redis", "streamcast/postgres", "streamcast/kafka"]) {
        const module = await import(specifier);
        exported[specifier] = Object.keys(module).sort();
      }
      console.log(JSON.stringify(exported));
    `;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", importer], project, 30_000);
    const exported = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Record<string, string[]>;
    assert.ok(exported["streamcast"].includes("Broadcast"), stdout);
    assert.ok(exported["streamcast/env"].includes("configFromEnv"), stdout);
    assert.ok(exported["streamcast/sse"].includes("sseHandler"), stdout);
    assert.ok(exported["streamcast/memory"].includes("memoryHub"), stdout);
    for (const backend of ["redis", "postgres", "kafka"]) {
      assert.ok(exported[`streamcast/${backend}`].includes("default"), `streamcast/${backend}: ${stdout}`);
    }
  });
});
