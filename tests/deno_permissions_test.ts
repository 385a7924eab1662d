/**
 * Under Deno, a permission the process was not given is an error that
 * retrying cannot fix: `Broadcast.fromEnv()` without --allow-env is a
 * ConfigError, and a backend that needs the environment fails connect() at
 * once instead of retrying forever. Runs the probe in a Deno process with
 * only --allow-read and --allow-net (so under Node only: see deno.json).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const deno = fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
const probe = fileURLToPath(new URL("./_deno_permissions_probe.ts", import.meta.url));

describe("Deno without --allow-env", () => {
  it("fromEnv() is a ConfigError and connect() on postgres:// fails at once, naming the permission", async () => {
    const { stdout } = await run(deno, ["run", "--allow-read", "--allow-net", probe], { timeout: 60_000 });
    const lines = stdout.trim().split("\n");
    assert.match(lines[0], /^fromEnv: ConfigError: Invalid environment: Expected access to the environment variables \(Deno: run with --allow-env\)/);
    assert.match(lines[1], /^connect: NotCapable: .*--allow-env/);
  });
});
