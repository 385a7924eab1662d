/**
 * The request checks of `streamcast serve` on their own, fed web-standard
 * `Request`s as a `Request → Response` handler would feed them: `Host`,
 * `Origin` and bearer tokens. The command's own behaviour is tested through
 * real processes in tests/cli/ (serve_strangers_test.ts, serve_auth_test.ts and serve_cors_test.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { authorize, channelMatches, createAuthenticator } from "../../lib/sse/auth.ts";
import { checkHost, checkOrigin, isLoopback, isRefusal, parseOrigin } from "../../lib/sse/checks.ts";

const at = (host: string, headers: Record<string, string> = {}) =>
  new Request(`http://${host}/publish/news`, { method: "POST", headers: { host, ...headers } });

describe("serve's request checks on web-standard Requests", () => {
  it("tells loopback names from others", () => {
    for (const host of ["localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.255.0.9", "::1", "[::1]"]) assert.ok(isLoopback(host), host);
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "localhost.evil.example", "127.0.0.1.nip.io", "evil.example"]) assert.ok(!isLoopback(host), host);
  });

  it("refuses a foreign Host while listening on loopback, and takes any beyond it unless names are listed", () => {
    const loopback = { listen: "127.0.0.1", allowHosts: [] };
    assert.equal(checkHost(at("127.0.0.1:8080"), loopback), undefined);
    assert.equal(checkHost(at("evil.example"), loopback)?.status, 421);
    assert.equal(checkHost(at("evil.example"), { listen: "0.0.0.0", allowHosts: [] }), undefined);
    assert.equal(checkHost(at("evil.example"), { listen: "0.0.0.0", allowHosts: ["app.example.com"] })?.status, 421);
    assert.equal(checkHost(at("app.example.com:443"), { listen: "0.0.0.0", allowHosts: ["app.example.com"] }), undefined);
  });

  it("lets in the server's own origin and listed ones with CORS headers, and refuses others", () => {
    const policy = { allowOrigins: ["https://app.example.com"] };
    assert.deepEqual(checkOrigin(at("127.0.0.1:8080"), policy), { vary: "Origin" });
    const own = checkOrigin(at("127.0.0.1:8080", { origin: "http://127.0.0.1:8080" }), policy);
    assert.deepEqual(own, { vary: "Origin", "access-control-allow-origin": "http://127.0.0.1:8080" });
    const proxied = checkOrigin(at("serve.example.com", { origin: "https://serve.example.com" }), policy);
    assert.ok(!isRefusal(proxied), "a page behind a TLS proxy on the same host");
    assert.ok(!isRefusal(checkOrigin(at("127.0.0.1:8080", { origin: "https://app.example.com" }), policy)));
    for (const origin of ["http://127.0.0.1:8081", "https://app.example.com.evil.example", "null"]) {
      const refused = checkOrigin(at("127.0.0.1:8080", { origin }), policy);
      assert.ok(isRefusal(refused) && refused.status === 403, origin);
    }
    assert.equal(parseOrigin("https://App.Example.com/"), "https://app.example.com");
    assert.equal(parseOrigin("https://app.example.com/path"), undefined);
  });

  it("matches channel patterns: a name, or a prefix ending in *", () => {
    assert.ok(channelMatches("room:*", "room:1"));
    assert.ok(channelMatches("*", "anything"));
    assert.ok(channelMatches("news", "news"));
    assert.ok(!channelMatches("news", "news2"));
    assert.ok(!channelMatches("room:*", "roomy"));
  });

  it("authorizes a static token everywhere and nothing else, requiring none when none is configured", async () => {
    const token = "0123456789abcdef-static";
    const auth = createAuthenticator({ token, subscribe: false });
    const headers = (value?: string) => at("127.0.0.1", value === undefined ? {} : { authorization: value }).headers;
    assert.equal(await authorize(auth, headers(`Bearer ${token}`), "publish", ["news"]), undefined);
    assert.equal((await authorize(auth, headers(), "publish", ["news"]))?.status, 401);
    assert.equal((await authorize(auth, headers(`bearer ${token}x`), "publish", ["news"]))?.status, 401);
    assert.equal(await authorize(auth, headers(), "subscribe", ["news"]), undefined, "subscribing is open without --auth-subscribe");
    const open = createAuthenticator({ subscribe: false });
    assert.equal(await authorize(open, headers(), "publish", ["news"]), undefined);
  });

  it("refuses a JWT without exp, which would be valid forever", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const auth = createAuthenticator({ jwt: { publicKey: await exportSPKI(publicKey) }, subscribe: false });
    const forever = await new SignJWT({ publish: ["*"] }).setProtectedHeader({ alg: "ES256" }).sign(privateKey);
    const refused = await auth.authenticate(new Headers({ authorization: `Bearer ${forever}` }));
    assert.ok(isRefusal(refused) && refused.status === 401, "a token without exp was accepted");
    const expiring = await new SignJWT({ publish: ["*"] }).setProtectedHeader({ alg: "ES256" }).setExpirationTime("1h").sign(privateKey);
    assert.ok(!isRefusal(await auth.authenticate(new Headers({ authorization: `Bearer ${expiring}` }))));
  });
});
