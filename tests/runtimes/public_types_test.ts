/**
 * The package's declarations stand on their own: a TypeScript project with
 * no Node types (`"types": []`, web and ES libraries only) imports every
 * entry point and type-checks, our `.d.ts` files included (no
 * `skipLibCheck`). The declarations are built the way `npm run build` builds
 * them, into a temporary package; the consumer has the package and valibot
 * (its one dependency) but none of the optional drivers, so a public type
 * that reached into `node:*`, `@types/node` or a driver's types fails here.
 * Node 20 only (scripts/test_suites.js): it checks the npm package.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { ConnectionOptions } from "node:tls";
import { promisify } from "node:util";
import type { RedisSettings } from "../../backends/redis/mod.ts";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

// What a user's module does with the types: every entry point, the typed
// events, the settings of each backbone.
const consumer = `
import { Broadcast, type BroadcastEventMap, ConfigError, type Frame } from "streamcast";
import { configFromEnv, type EnvConfig } from "streamcast/env";
import { memory, memoryHub } from "streamcast/memory";
import redis, { type RedisSettings } from "streamcast/redis";
import postgres, { type PostgresSettings } from "streamcast/postgres";
import kafka, { kafkajsIdleLoopFixed } from "streamcast/kafka";
import { nodeListener, SseEncoderStream, sseHandler } from "streamcast/sse";

const config: EnvConfig = configFromEnv({ OPAL_BROADCAST_URI: "memory://" });
const tls: RedisSettings["tls"] = { ca: "-----BEGIN CERTIFICATE-----", rejectUnauthorized: true, servername: "cache" };
const redisSettings: RedisSettings = { clientName: "app", resp: 3, tls };
const postgresSettings: PostgresSettings = { applicationName: "app" };
await using broadcast = new Broadcast(config.uri, { ...config.options, backend: memory, backendOptions: {} });
broadcast.addEventListener("resync", (event: BroadcastEventMap["resync"]) => event.detail.channels.toFixed());
const frames: ReadableStream<Frame> = broadcast.subscribe("news");
const sse = sseHandler(broadcast, { base: "/events", auth: { subscribe: false } });
const body: ReadableStream<Uint8Array> = broadcast.subscribe("news").pipeThrough(new SseEncoderStream());
const response: Promise<Response> = sse.fetch(new Request("http://localhost/events/healthz"));
export const used = [frames, body, response, nodeListener(sse.fetch), redis, postgres, kafka, kafkajsIdleLoopFixed, memoryHub().connections, redisSettings,
  postgresSettings, new ConfigError([])];
`;

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022", "DOM", "DOM.Iterable", "DOM.AsyncIterable", "ESNext.Disposable"],
    types: [],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  },
  files: ["main.ts"],
};

describe("the published declarations", () => {
  let temp = "";
  let files: string[] = [];
  let checked: { code: number; output: string } = { code: -1, output: "" };

  before(async () => {
    temp = await mkdtemp(join(tmpdir(), "streamcast-types-"));
    const project = join(temp, "consumer");
    // Built in place, not linked: its imports of valibot resolve from the consumer's node_modules.
    const pkg = join(project, "node_modules", "streamcast");
    await mkdir(pkg, { recursive: true });
    await run(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", join(pkg, "dist"), "--emitDeclarationOnly"], {
      cwd: root,
      timeout: 120_000,
    });
    await copyFile(join(root, "package.json"), join(pkg, "package.json"));
    await symlink(join(root, "node_modules", "valibot"), join(project, "node_modules", "valibot"), "dir");
    await symlink(join(root, "node_modules", "jose"), join(project, "node_modules", "jose"), "dir");
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    await writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    await writeFile(join(project, "main.ts"), consumer);
    try {
      const { stdout } = await run(process.execPath, [tsc, "-p", project, "--listFiles"], { cwd: project, timeout: 120_000 });
      checked = { code: 0, output: stdout };
    } catch (error) {
      const failure = error as { code?: number; stdout?: string; stderr?: string };
      checked = { code: failure.code ?? -1, output: `${failure.stdout ?? ""}${failure.stderr ?? ""}` };
    }
    files = checked.output.split("\n").filter((line) => line.startsWith("/") || /^[A-Z]:[\\/]/.test(line));
  });

  after(async () => {
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it("a consumer without Node's types imports every entry point and type-checks", () => {
    const errors = checked.output.split("\n").filter((line) => /error TS\d+/.test(line));
    assert.deepEqual(errors, [], checked.output);
    assert.equal(checked.code, 0, checked.output);
  });

  it("the program holds no Node types and no driver's types", () => {
    assert.ok(files.some((file) => file.endsWith("/dist/mod.d.ts")), `the file list:\n${checked.output}`);
    const foreign = files.filter((file) => /[\\/]node_modules[\\/](@types[\\/]node|redis|@redis|postgres|kafkajs)[\\/]/.test(file));
    assert.deepEqual(foreign, []);
  });

  it("no declaration the entry points reach imports node:* or references Node's types", async () => {
    const ours = files.filter((file) => /[\\/]node_modules[\\/]streamcast[\\/]dist[\\/]/.test(file));
    assert.ok(ours.length > 6, `only ${ours.length} of our declaration files were checked`);
    for (const file of ours) {
      const text = await readFile(file, "utf8");
      assert.doesNotMatch(text, /from\s+["']node:|import\(\s*["']node:|\/\/\/\s*<reference\s+types=["']node["']/, file);
      assert.doesNotMatch(text, /\bNodeJS\.|\bBuffer\b/, file);
    }
  });

  // Our own TLS type stands in for Node's: a Node user's options must still fit
  // (a type check, made by `npm run typecheck`).
  it("a Node user's tls.ConnectionOptions fit RedisSettings.tls", () => {
    const options: ConnectionOptions = { ca: Buffer.from("pem"), key: [{ pem: "key", passphrase: "secret" }], minVersion: "TLSv1.3" };
    const settings: RedisSettings = { tls: options };
    assert.equal(settings.tls, options);
  });
});
