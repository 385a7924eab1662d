/**
 * `streamcast serve` against hostile input and curious neighbours: bodies
 * published byte for byte, no secret in any process's environment or command
 * line, requests under a foreign `Host` or from a foreign `Origin`, a
 * `/healthz` that tells strangers nothing, and no open server beyond
 * loopback. Real processes, as a user runs them.
 */
import assert from "node:assert/strict";
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
