/**
 * `streamcast serve` and web pages: CORS for its own origin and the ones
 * given with `--allow-origin`, preflights, 403 for every other page, `Host`
 * names given with `--allow-host`; and a real Chromium on a foreign page and
 * on an allowed one, calling serve as their scripts would.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { freePort, healthIs, killServes, publish, rawRequest, request, type Serve, SseClient, startServe } from "../fixtures/serve.ts";
import { openOriginPage } from "../fixtures/serve_browser.ts";
import { tempDir } from "../fixtures/jwt.ts";

const RUN = Math.random().toString(36).slice(2, 8);
const ch = (name: string) => `${name}-${RUN}`;
const TOKEN = `cors-${RUN}-0123456789abcdef`;

after(killServes);

/** A local web server whose one page is a blank HTML document: an origin of its own. */
async function pageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>a page</title>"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("streamcast serve: pages of other origins", { timeout: 120_000 }, () => {
  const files = tempDir();
  let allowed: Awaited<ReturnType<typeof pageServer>>;
  let foreign: Awaited<ReturnType<typeof pageServer>>;
  let server: Serve; // with a token
  let open: Serve; // without one: only the Origin check stands between a page and a publish
  let port = 0;
  let openPort = 0;
  const listed = "https://app.example.com";

  before(async () => {
    [allowed, foreign] = [await pageServer(), await pageServer()];
    port = await freePort();
    server = startServe([
      "--port", String(port), "--token-file", files.write("token", TOKEN),
      "--allow-origin", `${listed}, ${allowed.origin}`, "--allow-origin", "http://localhost:1",
    ]);
    openPort = await freePort();
    open = startServe(["--port", String(openPort), "--allow-origin", allowed.origin]);
    await Promise.all([healthIs(port, "up"), healthIs(openPort, "up")]);
  });
  after(async () => {
    await Promise.all([server?.stop(), open?.stop()]);
    await Promise.all([allowed?.close(), foreign?.close()]);
    files.remove();
  });

  it("gives a listed origin and its own one Access-Control-Allow-Origin and Vary: Origin, and none to a request without Origin", async () => {
    for (const origin of [listed, allowed.origin, "http://localhost:1", `http://127.0.0.1:${port}`]) {
      const answer = await publish(port, ch("cors"), "hello", { origin, authorization: `Bearer ${TOKEN}` });
      assert.equal(answer.status, 200, origin);
      assert.equal(answer.headers["access-control-allow-origin"], origin);
      assert.equal(answer.headers.vary, "Origin");
    }
    const plain = await publish(port, ch("cors"), "hello", { authorization: `Bearer ${TOKEN}` });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers["access-control-allow-origin"], undefined);
    const refused = await publish(port, ch("cors"), "hello", { origin: listed });
    assert.equal(refused.status, 401, "an allowed page still needs the token");
    assert.equal(refused.headers["access-control-allow-origin"], listed, "and can read why");
  });

  it("answers the preflight of a listed origin, and refuses a foreign one's with 403", async () => {
    const ask = (origin: string) =>
      request(port, "OPTIONS", `/publish/${ch("cors")}`, undefined, {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      });
    const yes = await ask(listed);
    assert.equal(yes.status, 204);
    assert.equal(yes.headers["access-control-allow-origin"], listed);
    assert.match(String(yes.headers["access-control-allow-methods"]), /\bPOST\b/);
    assert.match(String(yes.headers["access-control-allow-headers"]), /\bAuthorization\b/);
    assert.ok(Number(yes.headers["access-control-max-age"]) > 0);
    const no = await ask("https://evil.example");
    assert.equal(no.status, 403);
    assert.equal(no.json.error, `Invalid Origin: Expected this server's own origin or one given with --allow-origin but received "https://evil.example"`, "serve names its flag");
    assert.equal(no.headers["access-control-allow-origin"], undefined);
  });

  it("in Chromium, a foreign page cannot publish, with or without CORS, and an allowed page can", async () => {
    const client = new SseClient(openPort, [ch("browser")]);
    const evil = await openOriginPage(foreign.origin);
    const good = await openOriginPage(allowed.origin);
    try {
      await client.ready();
      const target = `http://127.0.0.1:${openPort}/publish/${ch("browser")}`;
      // A "simple" request: no preflight, so only the server's Origin check can stop it.
      const blind = await evil.fetch(target, { method: "POST", body: "forged, no-cors", headers: { "content-type": "text/plain" }, mode: "no-cors" });
      assert.deepEqual(blind, { status: 0, opaque: true }, "a no-cors request gets an opaque answer");
      const simple = await evil.fetch(target, { method: "POST", body: "forged, simple", headers: { "content-type": "text/plain" } });
      assert.ok("error" in simple, `a CORS failure: ${JSON.stringify(simple)}`);
      const json = { "content-type": "application/json" }; // not "simple": the browser asks first
      const preflighted = await evil.fetch(target, { method: "POST", body: "forged, preflighted", headers: json });
      assert.ok("error" in preflighted, `a CORS failure: ${JSON.stringify(preflighted)}`);
      const fine = await good.fetch(target, { method: "POST", body: "from the allowed page", headers: json });
      assert.deepEqual(fine, { status: 200, opaque: false });
      await client.received(["from the allowed page"]);
      assert.deepEqual(client.messages(), ["from the allowed page"], "nothing forged was published");
    } finally {
      client.close();
      await Promise.all([evil.close(), good.close()]);
    }
  });
});

describe("streamcast serve: --allow-host", { timeout: 60_000 }, () => {
  it("answers a Host named with --allow-host, as a reverse proxy on this machine passes it on, and 421 to others", async () => {
    const port = await freePort();
    const server = startServe(["--port", String(port), "--allow-host", "app.example.com"]);
    try {
      await healthIs(port, "up");
      const get = async (host: string) => {
        const answer = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        return Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
      };
      assert.equal(await get("app.example.com"), 200);
      assert.equal(await get("APP.example.com:443"), 200);
      assert.equal(await get(`localhost:${port}`), 200);
      assert.equal(await get("evil.example"), 421);
    } finally {
      await server.stop();
    }
  });
});
