/**
 * `streamcast serve` with bearer tokens: a static token and JWTs (a public key
 * file, or a JWKS fetched from a local server), each refused or let in per
 * channel, for publishing and for subscribing; a JWT key without an
 * audience refused; and `/healthz`, which names the backbone's user and host
 * only to the static token or a JWT whose `healthz` claim is true. Real
 * processes, as a user runs them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort, healthIs, killServes, publish, request, runServe, type Serve, SseClient, startServe } from "../fixtures/serve.ts";
import { type Issuer, issuer, serveJwks, tempDir } from "../fixtures/jwt.ts";
import { within } from "../fixtures/support.ts";

const RUN = Math.random().toString(36).slice(2, 8);
const ch = (name: string) => `${name}-${RUN}`;
const TOKEN = `static-${RUN}-0123456789abcdef`;
const AUDIENCE = "streamcast-test";
const ISSUER = "https://issuer.test";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

after(killServes);

describe("streamcast serve: security flags", { timeout: 60_000 }, () => {
  it("refuses each bad security flag with one line naming it, never printing a token or a key, and exit code 2", async () => {
    const files = tempDir();
    const keys = await issuer("ES256");
    const privateKey = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBJ5VD3eTJ9b9Rs7gHGLbR8v6m1FJvS0DUnG2e1XzL8m\n-----END PRIVATE KEY-----\n";
    const short = "short-secret";
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--token-file", files.write("short", short)], {}, /^Invalid --token-file: Expected a token of at least 16 characters but received one of 12$/],
      [[], { STREAMCAST_SERVE_TOKEN: `${TOKEN} with spaces` }, /^Invalid STREAMCAST_SERVE_TOKEN: Expected a token of printable ASCII/],
      [["--token-file", "/nonexistent/token"], {}, /^Invalid --token-file: Expected a readable file but received "\/nonexistent\/token" \(ENOENT\)$/],
      [["--jwt-public-key", files.write("private.pem", privateKey)], {}, /^Invalid --jwt-public-key: Expected a PEM public key .* but received the file ".*private\.pem", which holds none$/],
      [["--jwt-public-key", files.write("key.pem", keys.pem), "--jwks-url", "https://idp.test/jwks"], {}, /^Invalid --jwks-url: Expected either --jwt-public-key or --jwks-url but received both$/],
      [["--jwks-url", "ftp://idp.test/jwks"], {}, /^Invalid --jwks-url: Expected an https:\/\/ URL \(http:\/\/ only on this machine\)/],
      [["--jwks-url", "http://idp.test/jwks"], {}, /^Invalid --jwks-url: Expected an https:\/\/ URL \(http:\/\/ only on this machine\) .* but received "http:\/\/idp.test"/],
      [["--jwt-audience", "api"], {}, /^Invalid --jwt-audience: Expected --jwt-public-key or --jwks-url beside it but received neither$/],
      // Without an audience, a token the same key signed for another service would pass.
      [["--jwt-public-key", files.write("key.pem", keys.pem)], {}, /^Invalid --jwt-audience: Expected the audience this server's JWTs carry \(their "aud"\) beside --jwt-public-key but received none$/],
      [["--jwks-url", "https://idp.test/jwks"], {}, /^Invalid --jwt-audience: Expected the audience this server's JWTs carry \(their "aud"\) beside --jwks-url but received none$/],
      [["--auth-subscribe"], {}, /^Invalid --auth-subscribe: Expected a token to check/],
      [["--allow-origin", "https://app.example.com/path"], {}, /^Invalid --allow-origin: Expected an origin such as https:\/\/app\.example\.com .* but received "https:\/\/app\.example\.com\/path"$/],
      [["--allow-host", "app.example.com:8080"], {}, /^Invalid --allow-host: Expected a host name such as app\.example\.com \(without port\) but received "app\.example\.com:8080"$/],
    ];
    try {
      await Promise.all(cases.map(async ([args, env, expected]) => {
        const { code, stderr } = await runServe(args, env);
        assert.equal(code, 2, `serve ${args.join(" ")}: ${stderr}`);
        assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
        assert.match(stderr.replace(/^streamcast serve: /, "").replace(/ \(see "streamcast serve --help"\)\n$/, ""), expected);
        for (const secret of [short, TOKEN, "MC4CAQAwBQYDK2Vw", keys.pem.split("\n")[1]]) assert.ok(!stderr.includes(secret), `a secret in: ${stderr}`);
      }));
    } finally {
      files.remove();
    }
  });
});

describe("streamcast serve with a static token and a JWT public key", { timeout: 90_000 }, () => {
  const files = tempDir();
  let keys: Issuer;
  let server: Serve;
  let port = 0;
  const sign = (claims: Record<string, unknown>, options = {}) => keys.sign(claims, { audience: AUDIENCE, issuer: ISSUER, ...options });

  before(async () => {
    keys = await issuer("ES256");
    port = await freePort();
    server = startServe([
      "--port", String(port), "--token-file", files.write("token", `${TOKEN}\n`), "--jwt-public-key", files.write("key.pem", keys.pem),
      "--jwt-audience", AUDIENCE, "--jwt-issuer", ISSUER, "--auth-subscribe",
    ]);
    await healthIs(port, "up");
  });

  after(async () => {
    await server?.stop();
    files.remove();
    const secrets = server.log.filter((line) => line.includes(TOKEN) || /eyJ[\w-]+\.[\w-]+\./.test(line));
    assert.deepEqual(secrets, [], "no token in the log");
  });

  async function subscribed(channel: string, token: string): Promise<SseClient> {
    const client = new SseClient(port, [channel], bearer(token));
    await client.ready();
    return client;
  }

  it("answers 401 with WWW-Authenticate: Bearer to a publish without a token or with a wrong one, naming neither", async () => {
    const wrong = [TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase(), "not-a-jwt", "a.b.c"];
    for (const headers of [{}, { authorization: `Basic ${btoa(`user:${TOKEN}`)}` }, ...wrong.map(bearer)]) {
      const answer = await publish(port, ch("closed"), "no", headers);
      assert.equal(answer.status, 401, JSON.stringify(answer.json));
      assert.match(String(answer.headers["www-authenticate"]), /^Bearer realm="streamcast"/);
      assert.match(String(answer.json.error), /^Invalid (Authorization|token): Expected a (valid )?bearer token but received/);
      assert.ok(!String(answer.json.error).includes(TOKEN.slice(0, 10)), "the error names no token");
    }
  });

  it("publishes and subscribes everywhere with the static token", async () => {
    const client = await subscribed(ch("any"), TOKEN);
    try {
      assert.equal((await publish(port, ch("any"), "with the static token", bearer(TOKEN))).status, 200);
      await client.received(["with the static token"]);
    } finally {
      client.close();
    }
  });

  it("lets a JWT publish and subscribe only on the channels its claims list, 403 on others", async () => {
    const room = (name: string) => `room-${RUN}:${name}`;
    const jwt = await sign({ sub: "alice", publish: [room("*")], subscribe: [room("*"), ch("lobby")] });
    const client = await subscribed(room("1"), jwt);
    try {
      assert.equal((await publish(port, room("1"), "from alice", bearer(jwt))).status, 200);
      await client.received(["from alice"]);
      const lobby = await publish(port, ch("lobby"), "not allowed", bearer(jwt));
      assert.equal(lobby.status, 403);
      assert.equal(lobby.json.error, `Invalid channel: Expected a channel the token may publish on but received "${ch("lobby")}"`);
      assert.match(String(lobby.headers["www-authenticate"]), /error="insufficient_scope"/);
      const denied = new SseClient(port, [ch("lobby"), ch("kitchen")], bearer(jwt));
      await within(denied.ended, 10_000, "the refused subscription to end");
      assert.equal(denied.status, 403);
      const none = await sign({ sub: "bob" }); // no claims: no channel
      assert.equal((await publish(port, room("1"), "no claims", bearer(none))).status, 403);
      assert.deepEqual(client.messages(), ["from alice"]);
    } finally {
      client.close();
    }
  });

  it("/healthz names the backbone to the static token and to a JWT whose healthz claim is true, the scheme only to any other JWT", async () => {
    const asked = async (token?: string) => (await request(port, "GET", "/healthz", undefined, token === undefined ? {} : bearer(token))).json.backbone;
    const full = await asked(TOKEN);
    assert.notEqual(full, "memory://***");
    assert.equal(await asked(await sign({ healthz: true })), full);
    assert.equal(await asked(await sign({ publish: ["*"], subscribe: ["*"] })), "memory://***", "a JWT that may use every channel");
    assert.equal(await asked(await sign({ healthz: true }, { audience: "another-service" })), "memory://***", "a JWT for another service");
    assert.equal(await asked(), "memory://***");
  });

  it("answers 401 to a subscription without a token", async () => {
    const anonymous = new SseClient(port, [ch("any")]);
    await within(anonymous.ended, 10_000, "the refused subscription to end");
    assert.equal(anonymous.status, 401);
  });

  it("answers 401 to an expired JWT, one for another audience or issuer, and one signed with another key", async () => {
    const claims = { publish: ["*"] };
    const other = await issuer("ES256");
    const cases: [string, string][] = [
      [await sign(claims, { expiresIn: -120 }), "has expired"],
      [await sign(claims, { audience: "another-service" }), "is for another audience"],
      [await sign(claims, { issuer: "https://elsewhere.test" }), "is from another issuer"],
      [await other.sign(claims, { audience: AUDIENCE, issuer: ISSUER }), "has a bad signature"],
      [await (await issuer("RS256")).sign(claims, { audience: AUDIENCE, issuer: ISSUER }), "could not be verified"],
    ];
    for (const [jwt, why] of cases) {
      const answer = await publish(port, ch("any"), "no", bearer(jwt));
      assert.equal(answer.status, 401, why);
      assert.equal(answer.json.error, `Invalid token: Expected a valid bearer token but received one that ${why}`);
      assert.match(String(answer.headers["www-authenticate"]), /error="invalid_token"/);
    }
    assert.equal((await publish(port, ch("any"), "yes", bearer(await sign(claims)))).status, 200, "the same claims, signed right");
  });
});

describe("streamcast serve with a JWKS URL", { timeout: 60_000 }, () => {
  let keys: Issuer;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let server: Serve;
  let port = 0;

  before(async () => {
    keys = await issuer("RS256");
    jwks = await serveJwks(keys.jwks);
    port = await freePort();
    server = startServe(["--port", String(port), "--jwks-url", jwks.url, "--jwt-audience", AUDIENCE]);
    await healthIs(port, "up");
  });
  after(async () => {
    await server?.stop();
    await jwks?.close();
  });

  it("verifies JWTs with the keys it fetches: 200 inside the claims, 403 outside, 401 from an unknown key", async () => {
    const jwt = await keys.sign({ publish: [ch("news")] }, { audience: AUDIENCE });
    assert.equal((await publish(port, ch("news"), "signed", bearer(jwt))).status, 200);
    assert.equal((await publish(port, ch("sport"), "signed", bearer(jwt))).status, 403);
    const stranger = await (await issuer("RS256", "unknown-key")).sign({ publish: ["*"] }, { audience: AUDIENCE });
    const answer = await publish(port, ch("news"), "forged", bearer(stranger));
    assert.equal(answer.status, 401);
    assert.match(String(answer.json.error), /is signed with an unknown key/);
    assert.ok(jwks.hits() >= 1, "the key set was fetched");
  });

  it("answers 503, not 401, while the key set cannot be fetched", async () => {
    const port = await freePort();
    const unreachable = startServe(["--port", String(port), "--jwks-url", `http://127.0.0.1:${await freePort()}/jwks.json`, "--jwt-audience", AUDIENCE]);
    try {
      await healthIs(port, "up");
      const answer = await publish(port, ch("news"), "signed", bearer(await keys.sign({ publish: ["*"] }, { audience: AUDIENCE })));
      assert.equal(answer.status, 503);
      assert.equal(answer.json.error, "Unavailable: the keys to verify the token with cannot be fetched");
    } finally {
      await unreachable.stop();
    }
  });
});

describe("streamcast serve: /healthz with a token", { timeout: 60_000 }, () => {
  it("names the backbone's user and host (masked as maskUri does) only to a caller with a valid token", async () => {
    const files = tempDir();
    const port = await freePort();
    const backbone = `127.0.0.1:${await freePort()}`; // nobody listens: connecting, and /healthz stays 200
    const server = startServe(["--port", String(port), "--token-file", files.write("token", TOKEN), "--uri", `redis://app:hunter2@${backbone}`]);
    try {
      await healthIs(port, "connecting").catch(() => healthIs(port, "down"));
      const asked = async (headers: Record<string, string>) => (await request(port, "GET", "/healthz", undefined, headers)).json.backbone;
      assert.equal(await asked({}), "redis://***");
      assert.equal(await asked(bearer(`${TOKEN}-wrong`)), "redis://***");
      assert.equal(await asked(bearer(TOKEN)), `redis://app:***@${backbone}`);
    } finally {
      await server.stop();
      files.remove();
    }
  });
});
