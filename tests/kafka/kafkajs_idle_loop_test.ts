/**
 * kafkajs's idle-loop fix (`backends/kafka/kafkajs_idle_loop.ts`) is explicit:
 * importing the Kafka backend changes nothing, building a connector applies
 * it, and only to the kafkajs release it was checked against. No broker is
 * needed: building a connector connects nothing.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CHECKED_KAFKAJS_VERSION } from "../../backends/kafka/kafkajs_idle_loop.ts";

const run = promisify(execFile);

describe("kafkajs idle-loop fix", () => {
  it("is checked against the kafkajs that package-lock.json installs", async () => {
    const lock = JSON.parse(await readFile(new URL("../../package-lock.json", import.meta.url), "utf8"));
    assert.equal(lock.packages["node_modules/kafkajs"].version, CHECKED_KAFKAJS_VERSION);
  });

  it("is not applied by importing backends/kafka/mod.ts, and is in force once a Kafka connector is built", async () => {
    const probe = fileURLToPath(new URL("../entries/kafkajs_idle_loop_probe.ts", import.meta.url));
    const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
    const args = deno ? ["run", "-A", "--no-check", probe] : ["--import", "tsx", probe];
    const { stdout } = await run(process.execPath, args, { timeout: 60_000 });
    assert.deepEqual(JSON.parse(stdout), { imported: false, built: true });
  });
});
