/**
 * `streamcast serve` against hostile input and curious neighbours: bodies
 * published byte for byte, no secret in any process's environment or command
 * line, requests under a foreign `Host` or from a foreign `Origin`, a
 * `/healthz` that tells strangers nothing, and no open server beyond
 * loopback. Real processes, as a user runs them.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { freePort, healthIs, killServes, publish, type Serve, SseClient, startServe } from "./_serve.ts";

const RUN = Math.random().toString(36).slice(2, 8);
const ch = (name: string) => `${name}-${RUN}`;

// A failed test must not leave serve processes behind to keep the runner from exiting.
after(killServes);

describe("streamcast serve: what it publishes", { timeout: 60_000 }, () => {
  let server: Serve;
  let port = 0;

  before(async () => {
    port = await freePort();
    server = startServe(["--port", String(port)]);
    await healthIs(port, "up");
  });
  after(() => server?.stop());

  it("publishes a body that starts with a byte order mark byte for byte", async () => {
    const client = new SseClient(port, [ch("bom")]);
    try {
      await client.ready();
      const body = "\uFEFFhello with a BOM";
      assert.equal((await publish(port, ch("bom"), body)).status, 200);
      await client.received([body]);
      assert.deepEqual(client.messages(), [body]);
    } finally {
      client.close();
    }
  });
});

describe("streamcast serve: secrets stay out of the process table", { timeout: 60_000 }, () => {
  it("no worker has the backbone password in its environment or command line, nor the primary in its command line", async () => {
    const password = `pw-${RUN}-hunter2`;
    // Nobody listens there: the workers keep retrying, and stay up to be inspected.
    const uri = `redis://default:${password}@127.0.0.1:${await freePort()}`;
    const port = await freePort();
    // The URI comes from the environment: on the command line the user would have put it in argv himself.
    const server = startServe(["--workers", "2", "--port", String(port)], { OPAL_BROADCAST_URI: uri });
    try {
      const pids = new Set<number>();
      for (let from = 0; pids.size < 2;) {
        const match = await server.waitLog(/worker (\d+) listening/, 20_000, from);
        pids.add(Number(match[1]));
        from = server.log.findIndex((line) => line.includes(match[0])) + 1;
      }
      const read = (file: string) => readFileSync(file).toString("utf8").replaceAll("\0", "\n");
      // Only whether it is there, never the file itself: a failure must not print the environment.
      assert.ok(!read(`/proc/${server.child.pid}/cmdline`).includes(password), "the primary's command line holds the password");
      for (const pid of pids) {
        for (const file of [`/proc/${pid}/environ`, `/proc/${pid}/cmdline`]) {
          const text = read(file);
          assert.ok(text.length > 0, `${file} was read`);
          assert.ok(!text.includes(password), `${file} holds the password`);
        }
      }
    } finally {
      await server.stop();
    }
  });
});
