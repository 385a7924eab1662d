/**
 * Under Deno, a permission the process was not given is an error that
 * retrying cannot fix: `Broadcast.fromEnv()` without --allow-env is a
 * ConfigError, and connect() fails at once instead of retrying forever when
 * a backend needs the environment (postgres.js reads it) or the network is
 * refused, however the driver wraps the refusal. Runs the probe in Deno
 * processes with some permissions left out (so under Node only: see
 * scripts/test_suites.js).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const deno = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
const probe = fileURLToPath(new URL("../entries/deno_permissions_probe.ts", import.meta.url));

describe("Deno without --allow-env", () => {
  it("fromEnv() is a ConfigError and connect() on postgres:// fails at once, naming the permission", async () => {
    const { stdout } = await run(deno, ["run", "--allow-read", "--allow-net", probe, "postgres://127.0.0.1:5432/test"], { timeout: 60_000 });
    const lines = stdout.trim().split("\n");
    assert.match(lines[0], /^fromEnv: ConfigError: Invalid environment: Expected access to the environment variables \(Deno: run with --allow-env\)/);
    assert.match(lines[1], /^connect: NotCapable: .*--allow-env/);
  });
});

describe("Deno without --allow-net", () => {
  // The drivers wrap the socket's refusal in errors of their own; it is fatal all the same.
  for (const uri of ["redis://127.0.0.1:6379", "postgres://postgres@127.0.0.1:5432/test", "kafka://127.0.0.1:9092"]) {
    it(`connect() on ${uri.split(":")[0]}:// fails at once, naming the permission`, async () => {
      const { stdout } = await run(deno, ["run", "--allow-read", "--allow-env", probe, uri], { timeout: 60_000 });
      const lines = stdout.trim().split("\n");
      assert.match(lines[0], /^fromEnv: /);
      assert.match(lines[1], /^connect: BackboneUnavailableError: Could not connect to .*Requires net access to "127\.0\.0\.1:\d+", run again with the --allow-net flag/);
    });
  }
});

describe("Deno without --allow-env, on kafka://", () => {
  it("connect() fails at once: kafkajs reads the environment as it loads, and the error says so", async () => {
    const { stdout } = await run(deno, ["run", "--allow-read", "--allow-net", probe, "kafka://127.0.0.1:9092"], { timeout: 60_000 });
    const lines = stdout.trim().split("\n");
    assert.match(lines[1], /^connect: UnsupportedBackendError: Could not load the kafka:\/\/ backend: Requires env access to "NODE_ENV", run again with the --allow-env flag/);
  });
});
