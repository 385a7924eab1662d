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
import { freePort, healthIs, killServes, publish, rawRequest, request, runServe, type Serve, SseClient, startServe } from "../fixtures/serve.ts";

const RUN = Math.random().toString(36).slice(2, 8);
const ch = (name: string) => `${name}-${RUN}`;

// A failed test must not leave serve processes behind to keep the runner from exiting.
after(killServes);

describe("streamcast serve: secrets stay out of the process table", { timeout: 60_000 }, () => {
  it("no worker has the backbone password or the token in its environment or command line, nor the primary in its command line", async () => {
    const password = `pw-${RUN}-hunter2`;
    const token = `token-${RUN}-0123456789abcdef`;
    // Nobody listens there: the workers keep retrying, and stay up to be inspected.
    const uri = `redis://default:${password}@127.0.0.1:${await freePort()}`;
    const port = await freePort();
    // The URI comes from the environment: on the command line the user would have put it in argv himself.
    const server = startServe(["--workers", "2", "--port", String(port)], { OPAL_BROADCAST_URI: uri, STREAMCAST_SERVE_TOKEN: token });
    try {
      const pids = new Set<number>();
      for (let from = 0; pids.size < 2;) {
        const match = await server.waitLog(/worker (\d+) listening/, 20_000, from);
        pids.add(Number(match[1]));
        from = server.log.findIndex((line) => line.includes(match[0])) + 1;
      }
      const read = (file: string) => readFileSync(file).toString("utf8").replaceAll("\0", "\n");
      const anonymous = await publish(port, ch("proc"), "no token");
      assert.equal(anonymous.status, 401, "the workers know the token");
      assert.equal((await publish(port, ch("proc"), "buffered", { authorization: `Bearer ${token}` })).status, 202);
      // Only whether it is there, never the file itself: a failure must not print the environment.
      assert.ok(!read(`/proc/${server.child.pid}/cmdline`).includes(password), "the primary's command line holds the password");
      for (const pid of pids) {
        for (const file of [`/proc/${pid}/environ`, `/proc/${pid}/cmdline`]) {
          const text = read(file);
          assert.ok(text.length > 0, `${file} was read`);
          assert.ok(!text.includes(password), `${file} holds the password`);
          assert.ok(!text.includes(token), `${file} holds the token`);
        }
      }
    } finally {
      await server.stop();
    }
  });
});

describe("streamcast serve on loopback: what it publishes, and requests from strangers", { timeout: 60_000 }, () => {
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

  const status = (answer: string) => Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
  const get = (host: string) => rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

  it("answers 421 to a request whose Host is not a loopback name while it listens on loopback (DNS rebinding)", async () => {
    const client = new SseClient(port, [ch("rebind")]);
    try {
      await client.ready();
      const evil = await get("evil.example");
      assert.equal(status(evil), 421, evil);
      assert.match(evil, /Invalid Host: Expected a loopback name .* but received \\"evil\.example\\"/);
      const body = "from a rebound name";
      const posted = await rawRequest(
        port,
        `POST /publish/${ch("rebind")} HTTP/1.1\r\nHost: evil.example:${port}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      assert.equal(status(posted), 421, posted);
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, "127.1.2.3"]) assert.equal(status(await get(host)), 200, host);
      assert.equal((await publish(port, ch("rebind"), "from this machine")).status, 200);
      await client.received(["from this machine"]);
      assert.deepEqual(client.messages(), ["from this machine"]);
    } finally {
      client.close();
    }
  });

  it("answers 403 to a publish from a foreign Origin, whatever its content type (CSRF)", async () => {
    const client = new SseClient(port, [ch("csrf")]);
    try {
      await client.ready();
      for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json"]) {
        for (const origin of ["http://evil.example", "null", `http://localhost:${port + 1}`]) {
          const answer = await publish(port, ch("csrf"), "forged", { origin, "content-type": type });
          assert.equal(answer.status, 403, `${origin} ${type}`);
          assert.match(String(answer.json.error), /^Invalid Origin: Expected this server's own origin/);
          assert.equal(answer.headers["access-control-allow-origin"], undefined);
        }
      }
      const own = await publish(port, ch("csrf"), "from its own page", { origin: `http://127.0.0.1:${port}`, "content-type": "text/plain" });
      assert.equal(own.status, 200);
      await client.received(["from its own page"]);
      assert.deepEqual(client.messages(), ["from its own page"]);
    } finally {
      client.close();
    }
  });
});

describe("streamcast serve: what /healthz tells a stranger", { timeout: 60_000 }, () => {
  it("names the backbone's scheme only, never its user or host", async () => {
    const port = await freePort();
    const server = startServe(["--port", String(port), "--uri", `redis://app:hunter2@127.0.0.1:${await freePort()}`]);
    try {
      await healthIs(port, "connecting").catch(() => healthIs(port, "down"));
      const { json } = await request(port, "GET", "/healthz");
      assert.equal(json.backbone, "redis://***");
      assert.doesNotMatch(JSON.stringify(json), /app|127\.0\.0\.1|hunter2/);
    } finally {
      await server.stop();
    }
  });
});

describe("streamcast serve: beyond loopback", { timeout: 60_000 }, () => {
  it("refuses to listen beyond loopback without a token, unless --insecure says so", async () => {
    const port = String(await freePort());
    for (const host of ["0.0.0.0", "::", "192.0.2.1"]) {
      const { code, stderr } = await runServe(["--host", host, "--port", port]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`^streamcast serve: Invalid --host: Expected a loopback address .* but received "${host}"`));
      assert.match(stderr, /--insecure/);
    }
    const server = startServe(["--host", "0.0.0.0", "--port", port, "--insecure"]);
    try {
      await healthIs(Number(port), "up");
      await server.waitLog(/listening on http:\/\/0\.0\.0\.0/);
      assert.ok(server.log.some((line) => /insecure/i.test(line)), `a warning in the log:\n${server.log.join("\n")}`);
    } finally {
      await server.stop();
    }
  });
});
