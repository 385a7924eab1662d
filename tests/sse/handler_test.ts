/**
 * The SSE handler (`streamcast/sse`) on memory://: in-process through
 * `fetch(Request)`, and behind a real server of whichever runtime runs the
 * test (Deno.serve under Deno, Bun.serve under Bun, node:http through
 * `nodeListener` under Node), directly and mounted in a Hono app. Its fan-out
 * costs per event, not per client: each event is encoded once however many
 * clients read it, a tick's events reach a client as one chunk, and idle
 * clients hold no timer of their own.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Hono } from "hono";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { Broadcast, type Frame } from "../../mod.ts";
import { memoryHub } from "../../backends/memory/mod.ts";
import { encodeFrame, nodeListener, sseHandler, type SseHandlerOptions } from "../../lib/sse/mod.ts";
import { activeTimers, eventually, sleep, uniqueChannel, within } from "../fixtures/support.ts";
import { EventReader, open } from "../fixtures/sse.ts";

/** A connected Broadcast on a hub of its own, a handler over it, and their teardown. */
async function setUp(options: SseHandlerOptions = {}) {
  const name = uniqueChannel("sse-hub");
  const broadcast = await Broadcast.connect(`memory://${name}`, { resyncSettle: 0 });
  const sse = sseHandler(broadcast, options);
  const close = async () => {
    sse.close();
    await broadcast.disconnect();
  };
  return { broadcast, sse, hub: memoryHub(name), close };
}

describe("the SSE handler, in-process", () => {
  it("/healthz answers 503 while its Broadcast is idle (never connected), 200 once connected", async () => {
    const broadcast = new Broadcast(`memory://${uniqueChannel("sse-idle")}`, { resyncSettle: 0 });
    const sse = sseHandler(broadcast, { id: "w1" });
    try {
      const idle = await sse.fetch(new Request("http://localhost/healthz"));
      assert.deepEqual([idle.status, (await idle.json()).state], [503, "idle"]);
      await broadcast.connect();
      const up = await sse.fetch(new Request("http://localhost/healthz"));
      assert.deepEqual([up.status, (await up.json()).state], [200, "up"]);
    } finally {
      sse.close();
      await broadcast.disconnect();
    }
  });

  it("serves subscribe, publish and health, and names what it refuses", async () => {
    const { sse, close } = await setUp({ id: "w1" });
    try {
      const reader = await open(sse, ["policy"]);
      for (const message of ["a", "b\nwith a newline", "c"]) {
        const published = await sse.fetch(new Request("http://localhost/publish/policy", { method: "POST", body: message }));
        assert.equal(published.status, 200);
      }
      await eventually(() => reader.messages().length === 3);
      assert.deepEqual(reader.messages(), ["a", "b\nwith a newline", "c"]);
      assert.deepEqual(JSON.parse(reader.events[0].data), { worker: "w1", channels: ["policy"] });
      const health = await (await sse.fetch(new Request("http://localhost/healthz"))).json();
      assert.deepEqual([health.state, health.worker, health.clients, health.backbone], ["up", "w1", 1, "memory://***"]);
      const refusals: [Request, number, RegExp][] = [
        [new Request("http://localhost/subscribe"), 400, /^Invalid channel: Expected 1 to 64 \?channel= parameters but received 0$/],
        [new Request("http://localhost/subscribe?channel=policy", { method: "POST" }), 405, /^Invalid method: Expected GET/],
        [new Request("http://localhost/publish/", { method: "POST", body: "x" }), 400, /^Invalid channel: Expected a channel name/],
        [new Request("http://localhost/nowhere"), 404, /^Not found: GET \/nowhere$/],
        [new Request("http://localhost/healthz", { headers: { origin: "https://evil.example" } }), 403, /Origin/],
      ];
      for (const [request, status, error] of refusals) {
        const response = await sse.fetch(request);
        assert.equal(response.status, status, request.url);
        assert.match((await response.json()).error, error);
      }
    } finally {
      await close();
    }
  });

  it("a channel whose name holds a newline is not taken for two channels", async () => {
    const { broadcast, sse, close } = await setUp();
    try {
      const one = await open(sse, ["a\nb"]);
      const two = await open(sse, ["a", "b"]);
      await broadcast.publish("a", "to a");
      await broadcast.publish("a\nb", "to a-newline-b");
      await eventually(() => one.messages().length === 1 && two.messages().length === 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual([one.messages(), two.messages()], [["to a-newline-b"], ["to a"]]);
    } finally {
      await close();
    }
  });

  it("encodes each event once for all its clients, and writes a tick's events to a client as one chunk", async () => {
    let encoded = 0;
    const { broadcast, sse, close } = await setUp({ encode: (frame: Frame) => (frame.type === "event" && encoded++, encodeFrame(frame)) });
    try {
      const readers = await Promise.all(Array.from({ length: 50 }, (_, i) => open(sse, i % 5 === 0 ? ["a", "b"] : ["a"])));
      const before = readers.map((reader) => reader.chunks);
      const messages = Array.from({ length: 200 }, (_, i) => `m${i}`);
      await Promise.all(messages.map((message) => broadcast.publish("a", message)));
      await eventually(() => readers.every((reader) => reader.messages().length === 200), 10_000, "every client to get every message");
      for (const reader of readers) assert.deepEqual(reader.messages(), messages);
      assert.equal(encoded, 200, "one encoding per event, not per client");
      const chunks = readers.map((reader, i) => reader.chunks - before[i]);
      assert.ok(Math.max(...chunks) <= 10, `200 events published in one tick reached each client in a few chunks, not one each: ${Math.max(...chunks)}`);
    } finally {
      await close();
    }
  });

  it("gives a client that falls maxQueueBytes behind a resync event and closes it, leaving the others be", async () => {
    const { broadcast, sse, close } = await setUp({ maxQueueBytes: 64 * 1024 });
    try {
      const keeping = await open(sse, ["flood"]);
      const response = await sse.fetch(new Request("http://localhost/subscribe?channel=flood"));
      const stalled = response.body!; // never read while the flood lasts
      const big = "x".repeat(10_000);
      for (let i = 0; i < 20; i++) {
        await broadcast.publish("flood", big);
        await new Promise((resolve) => setTimeout(resolve, 5)); // a tick each: one chunk each
      }
      await eventually(() => keeping.messages().length === 20, 10_000, "the reading client to get everything");
      const health = await (await sse.fetch(new Request("http://localhost/healthz"))).json();
      assert.equal(health.slowClients.overflowed, 1);
      const late = new EventReader(stalled);
      await within(late.done, 5_000, "the slow client's stream to end");
      assert.deepEqual(late.events.at(-1), { event: "resync", data: JSON.stringify({ reason: "overflow", channel: "flood" }) });
      assert.ok(late.messages().length < 20, "it was dropped before it got everything");
      assert.equal(keeping.ended, false);
    } finally {
      await close();
    }
  });

  it("cuts off a client that overflowed and then stopped reading before it took all it holds", async () => {
    const { broadcast, sse, close } = await setUp({ maxQueueBytes: 64 * 1024, writeTimeout: 300 });
    try {
      const response = await sse.fetch(new Request("http://localhost/subscribe?channel=stuck"));
      const reader = response.body!.getReader();
      await reader.read(); // the hello; then it stops reading
      for (let i = 0; i < 20; i++) {
        await broadcast.publish("stuck", "x".repeat(10_000));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      for (let i = 0; i < 3; i++) await reader.read(); // below the bound again, but not all it holds
      await eventually(async () => (await (await sse.fetch(new Request("http://localhost/healthz"))).json()).slowClients.cutOff === 1, 5_000, "the client to be cut off");
      await assert.rejects(async () => {
        for (;;) if ((await reader.read()).done) break;
      }, /did not read what it was sent in time/);
      assert.equal(sse.clients, 0);
    } finally {
      await close();
    }
  });

  it("an event larger than maxQueueBytes still reaches a client that reads, though no read was pending when it came", async () => {
    const { broadcast, sse, close } = await setUp({ maxQueueBytes: 16 * 1024 });
    try {
      const response = await sse.fetch(new Request("http://localhost/subscribe?channel=big"));
      const reader = response.body!.getReader();
      const before = await readUntilReady(reader); // then busy elsewhere (say, writing to its socket) for a moment
      const big = "x".repeat(64 * 1024);
      await broadcast.publish("big", big);
      await sleep(100);
      const client = new EventReader(new ReadableStream({
        start: (controller) => controller.enqueue(new TextEncoder().encode(before)),
        pull: async (controller) => {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
      }));
      await eventually(() => client.messages().length === 1, 5_000, "the large event");
      await broadcast.publish("big", "small, after it");
      await eventually(() => client.messages().length === 2, 5_000, "the next event");
      assert.deepEqual(client.messages(), [big, "small, after it"]);
      assert.deepEqual(client.events.filter((e) => e.event === "resync"), [], "no resync: it was never behind");
      assert.equal(client.ended, false, "its stream goes on");
      assert.deepEqual((await (await sse.fetch(new Request("http://localhost/healthz"))).json()).slowClients, { overflowed: 0, cutOff: 0 });
      await client.cancel();
    } finally {
      await close();
    }
  });

  it("a client that does not read is still cut off after an event larger than maxQueueBytes", async () => {
    const { broadcast, sse, close } = await setUp({ maxQueueBytes: 16 * 1024, writeTimeout: 300 });
    try {
      const response = await sse.fetch(new Request("http://localhost/subscribe?channel=big"));
      const reader = response.body!.getReader();
      await readUntilReady(reader); // then it stops reading
      await broadcast.publish("big", "x".repeat(64 * 1024));
      await eventually(async () => (await (await sse.fetch(new Request("http://localhost/healthz"))).json()).slowClients.cutOff === 1, 5_000, "the client to be cut off");
      await assert.rejects(async () => {
        for (;;) if ((await reader.read()).done) break;
      }, /did not read what it was sent in time/);
      assert.equal(sse.clients, 0);
    } finally {
      await close();
    }
  });

  it("a refused Origin names the handler's allowOrigins option, or the setting a server built on it names (serve: its flag)", async () => {
    const wordings: [SseHandlerOptions, string][] = [[{}, "the allowOrigins option"], [{ settingNames: { allowOrigins: "--allow-origin" } }, "--allow-origin"]];
    for (const [options, named] of wordings) {
      const { sse, close } = await setUp(options);
      try {
        const answer = await sse.fetch(new Request("http://localhost/healthz", { headers: { origin: "https://evil.example" } }));
        assert.equal(answer.status, 403);
        assert.equal((await answer.json()).error, `Invalid Origin: Expected this server's own origin or one given with ${named} but received "https://evil.example"`);
      } finally {
        await close();
      }
    }
  });

  it("/healthz names the backbone only to the static token or a JWT whose healthz claim is true; any other caller sees the bare health", async () => {
    const token = "0123456789abcdef-health";
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwt = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: "ES256" }).setAudience("streamcast").setExpirationTime("5m").sign(privateKey);
    const { broadcast, sse, close } = await setUp({ auth: { token, jwt: { publicKey: await exportSPKI(publicKey), audience: "streamcast" }, subscribe: false } });
    try {
      const backbone = async (authorization?: string) => {
        const answer = await sse.fetch(new Request("http://localhost/healthz", { headers: authorization === undefined ? {} : { authorization } }));
        assert.equal(answer.status, 200);
        return (await answer.json()).backbone;
      };
      const bare = `${broadcast.uri.split(":")[0]}://***`;
      assert.notEqual(broadcast.uri, bare);
      assert.equal(await backbone(), bare, "no token");
      assert.equal(await backbone(`Bearer ${token}x`), bare, "a wrong token");
      assert.equal(await backbone(`Bearer ${await jwt({ publish: ["*"], subscribe: ["*"] })}`), bare, "a JWT that may use every channel, but not the details");
      assert.equal(await backbone(`Bearer ${await jwt({ healthz: "true" })}`), bare, "a claim that is not true");
      assert.equal(await backbone(`Bearer ${token}`), broadcast.uri, "the static token");
      assert.equal(await backbone(`Bearer ${await jwt({ healthz: true })}`), broadcast.uri, "a JWT with the claim");
    } finally {
      await close();
    }
  });

  it("refuses options it cannot use, naming them", async () => {
    const broadcast = await Broadcast.connect("memory://sse-options");
    try {
      const bad: [SseHandlerOptions, RegExp][] = [
        [{ allowOrigins: ["https://app.example.com/path"] }, /SSE handler option allowOrigins\.0: Expected an origin/],
        [{ host: { listen: 8080 as unknown as string } }, /SSE handler option host\.listen/],
        [{ keepAlive: 0 }, /SSE handler option keepAlive/],
        [{ base: "/events/" }, /SSE handler option base/],
        [{ settingNames: { allowOrigins: "" } }, /SSE handler option settingNames\.allowOrigins/],
      ];
      for (const [options, message] of bad) assert.throws(() => sseHandler(broadcast, options), message);
    } finally {
      await broadcast.disconnect();
    }
  });

  it("keeps idle streams alive from one timer, not one per client", async () => {
    const { sse, close } = await setUp({ keepAlive: 200 });
    try {
      const first = await open(sse, ["idle"]);
      const timers = activeTimers();
      const readers = await Promise.all(Array.from({ length: 100 }, () => open(sse, ["idle"])));
      await eventually(() => [first, ...readers].every((reader) => reader.comments >= 2), 5_000, "keep-alive comments on every idle stream");
      // One every keepAlive at most, not one every sweep round.
      const [comments, started] = [first.comments, performance.now()];
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const expected = (performance.now() - started) / 200;
      assert.ok(first.comments - comments <= expected + 1, `${first.comments - comments} keep-alives in ${expected * 200} ms at keepAlive 200`);
      // Node counts its timers; elsewhere the comments alone are checked.
      const now = activeTimers();
      if (timers !== undefined && now !== undefined) assert.ok(now - timers <= 1, `timers grew from ${timers} to ${now} for 100 clients`);
    } finally {
      await close();
    }
  });

  it("after a gap, sends every client a resync event and closes it within the spread", async () => {
    const { hub, sse, close } = await setUp({ resyncSpread: 200 });
    try {
      const readers = await Promise.all(Array.from({ length: 30 }, () => open(sse, ["gap"])));
      hub.cut();
      hub.restore();
      await within(Promise.all(readers.map((reader) => reader.done)), 10_000, "every stream to close after the gap");
      for (const reader of readers) assert.deepEqual(reader.events.at(-1), { event: "resync", data: JSON.stringify({ reason: "reconnect", channel: "gap" }) });
      assert.equal(sse.clients, 0);
    } finally {
      await close();
    }
  });
});

/** Reads a raw SSE stream until its `ready` event came; resolves with the text read. */
async function readUntilReady(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  while (!/^event: ready$/m.test(text)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`The stream ended before its ready event: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

/** Serves `fetch` on a free loopback port with this runtime's own server; resolves with its origin. */
async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<{ origin: string; close(): Promise<void> }> {
  const { Deno, Bun } = globalThis as unknown as {
    Deno?: { serve(options: { port: number; hostname: string; onListen(addr: { port: number }): void }, handler: typeof fetch): { shutdown(): Promise<void> } };
    Bun?: { serve(options: { port: number; hostname: string; fetch: typeof fetch }): { port: number; stop(force: boolean): void } };
  };
  if (Deno !== undefined) {
    let port = 0;
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: (addr) => port = addr.port }, fetch);
    return { origin: `http://127.0.0.1:${port}`, close: () => server.shutdown() };
  }
  if (Bun !== undefined) {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
    return { origin: `http://127.0.0.1:${server.port}`, close: async () => server.stop(true) };
  }
  const http = await import("node:http");
  const server = http.createServer(nodeListener(fetch));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const runtime = "Deno" in globalThis ? "Deno.serve" : "Bun" in globalThis ? "Bun.serve" : "node:http through nodeListener";

describe(`the SSE handler behind ${runtime}`, () => {
  const teardown: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of teardown.reverse()) await step();
  });

  for (const mounted of [false, true]) {
    it(`streams events published over HTTP to a client over HTTP, in order${mounted ? ", mounted in a Hono app" : ""}`, async () => {
      const { sse, close } = await setUp({ base: mounted ? "/events" : "" });
      teardown.push(close);
      let handler: (request: Request) => Response | Promise<Response> = sse.fetch;
      if (mounted) {
        const app = new Hono();
        app.get("/", (c) => c.text("the app's own page"));
        app.all("/events/*", (c) => sse.fetch(c.req.raw));
        handler = (request) => app.fetch(request);
      }
      const server = await listen(handler);
      teardown.push(server.close);
      const base = `${server.origin}${mounted ? "/events" : ""}`;
      const abort = new AbortController();
      const response = await fetch(`${base}/subscribe?channel=live`, { signal: abort.signal });
      teardown.push(async () => abort.abort());
      assert.equal(response.status, 200);
      const reader = new EventReader(response.body!);
      await reader.ready();
      const messages = Array.from({ length: 50 }, (_, i) => `over http ${i} ✓`);
      for (const message of messages) {
        const published = await fetch(`${base}/publish/live`, { method: "POST", body: message });
        assert.equal(published.status, 200);
        await published.body?.cancel();
      }
      await eventually(() => reader.messages().length === 50, 10_000, "every message over HTTP");
      assert.deepEqual(reader.messages(), messages);
      const tooBig = await fetch(`${base}/publish/live`, { method: "POST", body: "x".repeat(2 << 20) });
      assert.equal(tooBig.status, 413);
      await tooBig.body?.cancel();
      if (mounted) assert.equal(await (await fetch(`${server.origin}/`)).text(), "the app's own page");
      abort.abort();
      await eventually(() => sse.clients === 0, 5_000, "the handler to let go of a client that left");
    });
  }
});
