/**
 * `streamcast serve` against the bad-input table of HTTP: each class of bad
 * request is its own test, answered with the expected status and a JSON error
 * that names the culprit (method, path, body, header, channel) and never the
 * token. One server with a static token; an SSE client subscribed throughout
 * must receive every good publish made between the bad requests, in order.
 * Real processes, as a user runs them (Node only: see deno.json).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Answer, freePort, healthIs, killServes, publish, rawRequest, request, type Serve, SseClient, startServe } from "../fixtures/serve.ts";

const RUN = Math.random().toString(36).slice(2, 8);
const TOKEN = `bad-input-${RUN}-0123456789abcdef`;
const MAX_BODY = 1024;
const GOOD = `good-${RUN}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const authorized = bearer(TOKEN);

interface HttpRow {
  /** The class of bad request: the test's name. */
  name: string;
  send: (port: number) => Promise<Answer>;
  status: number;
  /** Matches an error that names the culprit. */
  names: RegExp;
}

/** Sends `head` (and `body`) as is; the status and JSON error of the answer. */
async function raw(port: number, head: string, body = ""): Promise<Answer> {
  const text = await rawRequest(port, `${head}\r\nConnection: close\r\n\r\n${body}`);
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
  const json = /\r\n\r\n(\{.*\})/s.exec(text)?.[1];
  return { status, headers: {}, json: json === undefined ? { text } : JSON.parse(json) };
}

const ROWS: HttpRow[] = [
  { name: "publish with GET", send: (port) => request(port, "GET", `/publish/${GOOD}`, undefined, authorized), status: 405, names: /^Invalid method: Expected POST \/publish\/<channel> .*but received "GET"$/ },
  { name: "publish with PUT", send: (port) => request(port, "PUT", `/publish/${GOOD}`, "bad", authorized), status: 405, names: /^Invalid method: .*received "PUT"$/ },
  { name: "subscribe with POST", send: (port) => request(port, "POST", `/subscribe?channel=${GOOD}`, "bad"), status: 405, names: /^Invalid method: Expected GET \/subscribe\?channel=… but received "POST"$/ },
  { name: "path that no route serves", send: (port) => request(port, "GET", "/nope/../admin"), status: 404, names: /^Not found: GET \/admin$/ },
  { name: "body over --max-body", send: (port) => publish(port, GOOD, "x".repeat(MAX_BODY + 1), authorized), status: 413, names: /^Invalid body: Expected at most 1024 bytes but received/ },
  { name: "Content-Length over --max-body, body never sent", send: (port) => raw(port, `POST /publish/${GOOD} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 5000`, "x"), status: 413, names: /^Invalid body: Expected at most 1024 bytes but received 5000$/ },
  { name: "body that is not UTF-8", send: (port) => request(port, "POST", `/publish/${GOOD}`, Buffer.from([0x68, 0xff, 0xfe]), authorized), status: 400, names: /^Invalid body: Expected UTF-8 text/ },
  { name: "publish without a token", send: (port) => publish(port, GOOD, "bad"), status: 401, names: /^Invalid Authorization: Expected a bearer token but received/ },
  { name: "publish with a wrong token", send: (port) => publish(port, GOOD, "bad", bearer(`${TOKEN}x`)), status: 401, names: /^Invalid token: Expected a valid bearer token/ },
  { name: "token sent as Basic credentials", send: (port) => publish(port, GOOD, "bad", { authorization: `Basic ${btoa(`u:${TOKEN}`)}` }), status: 401, names: /^Invalid Authorization: Expected a bearer token/ },
  { name: "empty bearer token", send: (port) => publish(port, GOOD, "bad", { authorization: "Bearer " }), status: 401, names: /^Invalid (Authorization|token): .*empty/ },
  { name: "publish from a foreign Origin", send: (port) => publish(port, GOOD, "forged", { ...authorized, origin: "http://evil.example" }), status: 403, names: /^Invalid Origin: Expected this server's own origin.*"http:\/\/evil\.example"/ },
  { name: "preflight from a foreign Origin", send: (port) => request(port, "OPTIONS", `/publish/${GOOD}`, undefined, { origin: "http://evil.example", "access-control-request-method": "POST" }), status: 403, names: /^Invalid Origin: / },
  { name: "request under a foreign Host", send: (port) => raw(port, `POST /publish/${GOOD} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 3`, "bad"), status: 421, names: /^Invalid Host: .*received "evil\.example"/ },
  { name: "request target that is no path", send: (port) => raw(port, "GET //[ HTTP/1.1\r\nHost: 127.0.0.1"), status: 400, names: /^Invalid request target: Expected a path but received "\/\/\["$/ },
  { name: "subscribe without a channel", send: (port) => request(port, "GET", "/subscribe"), status: 400, names: /^Invalid channel: Expected 1 to 64 \?channel= parameters but received 0$/ },
  { name: "subscribe to 65 channels", send: (port) => request(port, "GET", `/subscribe?${Array.from({ length: 65 }, (_, i) => `channel=c${i}`).join("&")}`), status: 400, names: /^Invalid channel: Expected 1 to 64 \?channel= parameters but received 65$/ },
  { name: "subscribe to an empty channel", send: (port) => request(port, "GET", "/subscribe?channel="), status: 400, names: /^Invalid channel: Expected a non-empty string but received ""$/ },
  { name: "publish on no channel", send: (port) => publish(port, "", "bad", authorized), status: 400, names: /^Invalid channel: Expected a channel name after \/publish\/ but received nothing$/ },
  { name: "channel with broken percent-encoding", send: (port) => request(port, "POST", "/publish/room%E0%A4", "bad", authorized), status: 400, names: /^Invalid channel: Expected a percent-encoded channel name but received "\/publish\/room%E0%A4"$/ },
  { name: "channel that encodes a lone surrogate", send: (port) => request(port, "POST", "/publish/room%ED%A0%80", "bad", authorized), status: 400, names: /^Invalid channel: Expected a percent-encoded channel name .*"\/publish\/room%ED%A0%80"$/ },
];

after(killServes);

describe("bad requests to streamcast serve: each class is refused, naming the culprit, losing nothing", { timeout: 120_000 }, () => {
  let server: Serve;
  let port = 0;
  let client: SseClient;
  const good: string[] = [];

  /** Publishes one good message, which the client must receive after all the earlier ones. */
  async function publishGood(message: string): Promise<void> {
    const answer = await publish(port, GOOD, message, authorized);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    good.push(message);
  }

  before(async () => {
    port = await freePort();
    server = startServe(["--port", String(port), "--max-body", String(MAX_BODY)], { STREAMCAST_SERVE_TOKEN: TOKEN });
    await healthIs(port, "up");
    client = new SseClient(port, [GOOD]);
    await client.ready();
    await publishGood("before any bad request");
  });

  after(async () => {
    client?.close();
    await server?.stop();
    assert.deepEqual(server.log.filter((line) => line.includes(TOKEN)), [], "no token in the log");
  });

  for (const [i, row] of ROWS.entries()) {
    it(row.name, async () => {
      const answer = await row.send(port);
      assert.equal(answer.status, row.status, JSON.stringify(answer.json));
      assert.match(String(answer.json.error), row.names);
      assert.ok(!JSON.stringify(answer.json).includes(TOKEN.slice(0, 16)), `the token in ${JSON.stringify(answer.json)}`);
      await publishGood(`after bad request ${i}`);
      await client.received([`after bad request ${i}`]);
      assert.deepEqual(client.messages(), good, "every good publish, in order, nothing else");
    });
  }

  it("the table covers every class once, and the server is still up", async () => {
    assert.equal(new Set(ROWS.map((row) => row.name)).size, ROWS.length);
    await healthIs(port, "up");
    await publishGood("after every bad request");
    await client.received(["after every bad request"]);
    assert.deepEqual(client.messages(), good);
  });
});
