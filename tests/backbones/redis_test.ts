/**
 * The Redis backbone: the shared conformance suite through a TCP proxy in
 * front of the Redis at 127.0.0.1:6379, then real outages (CLIENT KILL, a
 * redis-server of our own killed and restarted, a proxy that refuses, cuts and
 * stalls), interop with redis-cli, credentials, TLS and several processes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { AuthenticationError, Broadcast, type BroadcastOptions, ConfigError, type Frame, GiveUpError } from "../../mod.ts";
import { redis } from "../../backends/redis/mod.ts";
import { eventFrame } from "../../lib/contract/frame.ts";
import { runConformance } from "../fixtures/conformance.ts";
import { TcpProxy } from "../fixtures/proxy.ts";
import { admin, type Admin, lineReader, makeCertificates, RedisServer, redisCli, redisCliSubscriber } from "../fixtures/redis.ts";
import {
  connectorContext,
  dedupe,
  droppedEvents,
  eventually,
  events,
  nextEvent,
  readUntil,
  resyncs,
  sleep,
  uniqueChannel,
  within,
} from "../fixtures/support.ts";

const REDIS = { host: "127.0.0.1", port: 6379 };

// Whatever the server does, nothing may go unhandled: checked by the last test.
const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));
process.on("uncaughtException", (error) => unhandled.push(error));

runConformance("redis://", async () => {
  const proxy = new TcpProxy(REDIS);
  const port = await proxy.start();
  const direct = await admin(REDIS.port);
  return {
    uri: `redis://127.0.0.1:${port}`,
    cut: () => proxy.cut(),
    restore: () => proxy.restore(),
    stall: () => proxy.stall(),
    subscribers: (channel) => direct.numsub(channel),
    outages: 50,
    close: async () => {
      await proxy.stop();
      await direct.close();
    },
  };
});

/**
 * Timing for real outages: every instance must be re-subscribed before the
 * publisher replays, so the settle time is well above the largest backoff.
 */
const OUTAGE: BroadcastOptions = {
  reconnect: { minDelay: 10, maxDelay: 50 },
  resyncSettle: 400,
  liveness: { interval: 100, timeout: 300 },
  connectTimeout: 2_000,
};

interface Outage {
  uri: string;
  options?: BroadcastOptions;
  /** Breaks the path; resolves once the instances can tell (or once it is broken). */
  breakIt(group: Broadcast[]): Promise<void>;
  /** Mends it. */
  restore(): Promise<void>;
}

/**
 * Three instances, each subscribed; the first publishes `m0`, `m1`, … every few
 * milliseconds before, during and after the outage. Every stream stays open,
 * gets exactly one resync, and receives, in order, everything published while
 * the publisher was down and everything published once all were back.
 */
async function throughOutage(outage: Outage): Promise<void> {
  const channel = uniqueChannel("outage");
  const options = { ...OUTAGE, ...outage.options };
  const group = await Promise.all([0, 1, 2].map(() => Broadcast.connect(outage.uri, options)));
  try {
    const readers = group.map((b) => b.subscribe(channel).getReader());
    await Promise.all(group.map((b) => b.ready()));
    const [publisher] = group;
    const mustArrive: number[] = [];
    let next = 0;
    let pumping = true;
    const pump = (async () => {
      while (pumping) {
        const n = next++;
        if (publisher.state !== "up") mustArrive.push(n); // buffered: it must be replayed
        await publisher.publish(channel, `m${n}`);
        await sleep(3);
      }
    })();
    await sleep(100);
    await outage.breakIt(group);
    await sleep(150); // the publisher keeps publishing into its buffer
    await outage.restore();
    await eventually(() => group.every((b) => b.stats.reconnects >= 1 && b.state === "up"), 10_000, "every instance back up");
    const seen: Frame[][] = [];
    for (const reader of readers) seen.push(await readUntil(reader, (f) => resyncs(f).length > 0, 10_000, "a resync frame"));
    const backAt = next;
    await sleep(100);
    pumping = false;
    await pump;
    const last = `m${next - 1}`;
    assert.ok(mustArrive.length > 0, "something was published during the outage");
    for (const [i, reader] of readers.entries()) {
      const frames = [...seen[i], ...await readUntil(reader, (f) => events(f).includes(last), 10_000, `${last}`)];
      const got = dedupe(events(frames)).map((m) => Number(m.slice(1)));
      assert.equal(resyncs(frames).length, 1, `instance ${i}: one resync frame`);
      assert.deepEqual(got, [...got].sort((a, b) => a - b), `instance ${i}: in publish order`);
      const missing = [...mustArrive, ...range(backAt, next)].filter((n) => !got.includes(n));
      assert.deepEqual(missing, [], `instance ${i}: everything buffered or published after the outage arrived`);
    }
  } finally {
    await Promise.all(group.map((b) => b.disconnect()));
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

describe("redis:// through real outages", () => {
  let direct: Admin;
  let server: RedisServer;
  let proxy: TcpProxy;
  before(async () => {
    direct = await admin(REDIS.port);
    server = await RedisServer.start();
    proxy = new TcpProxy(REDIS);
    await proxy.start();
  });
  after(async () => {
    await direct?.close();
    await server.kill();
    await proxy?.stop();
  });

  it("CLIENT KILL of every streamcast connection", async () => {
    const name = `sc-kill-${Math.random().toString(36).slice(2, 8)}`;
    await throughOutage({
      uri: `redis://${REDIS.host}:${REDIS.port}`,
      // A longer first backoff keeps the instances down for a while after the kill.
      options: { backendOptions: { clientName: name }, reconnect: { minDelay: 150, maxDelay: 200 } },
      breakIt: async (group) => {
        assert.equal(await direct.kill(name), 6, "two connections per instance");
        await eventually(() => group.every((b) => b.state === "down"), 5_000, "every instance down");
      },
      restore: async () => {},
    });
  });

  it("a redis-server killed and restarted on the same port while publishers publish", async () => {
    await throughOutage({
      uri: `redis://127.0.0.1:${server.port}`,
      breakIt: async (group) => {
        await server.kill();
        await eventually(() => group.every((b) => b.state === "down"), 5_000, "every instance down");
      },
      restore: () => server.restart(),
    });
  });

  it("a proxy that refuses new connections for a while", async () => {
    let failed = 0;
    await throughOutage({
      uri: `redis://127.0.0.1:${proxy.port}`,
      breakIt: async (group) => {
        group[0].addEventListener("error", () => failed++);
        await proxy.cut();
        await eventually(() => failed >= 3, 5_000, "three refused attempts");
      },
      restore: () => proxy.restore(),
    });
  });

  it("a proxy that stalls: found by the liveness probe", async () => {
    await throughOutage({
      uri: `redis://127.0.0.1:${proxy.port}`,
      breakIt: async (group) => {
        await proxy.stall();
        await eventually(() => group.every((b) => b.state === "down"), 5_000, "the probe to find the stall");
      },
      restore: () => proxy.restore(),
    });
  });
});

describe("redis:// wire format, credentials and TLS", () => {
  it("redis-cli PUBLISH reaches a streamcast subscriber, as a plain message", async () => {
    const channel = uniqueChannel("interop");
    await using b = await Broadcast.connect(`redis://${REDIS.host}:${REDIS.port}`, OUTAGE);
    const reader = b.subscribe(channel).getReader();
    await b.ready();
    assert.equal((await redisCli(["PUBLISH", channel, "héllo {\"id\":1}"])).trim(), "1");
    const frames = await readUntil(reader, (f) => events(f).length > 0, 5_000, "the redis-cli message");
    assert.deepEqual(frames, [{ type: "event", channel, message: "héllo {\"id\":1}" }]);
  });

  it("a streamcast publish reaches redis-cli SUBSCRIBE, as a plain message", async () => {
    const channel = uniqueChannel("interop");
    const cli = await redisCliSubscriber(channel);
    try {
      await using b = await Broadcast.connect(`redis://${REDIS.host}:${REDIS.port}`, OUTAGE);
      await b.publish(channel, "plain text, no envelope");
      assert.equal(await within(cli.next(), 5_000, "redis-cli to print the message"), "plain text, no envelope");
    } finally {
      cli.stop();
    }
  });

  it("a bad database or backend option fails connect at once with ConfigError", async () => {
    const cases: [string, BroadcastOptions, RegExp][] = [
      [`redis://${REDIS.host}:${REDIS.port}/cache`, {}, /URI database/],
      [`redis://${REDIS.host}:${REDIS.port}`, { backendOptions: { resp: 4 } }, /backendOptions\.resp/],
      [`redis://${REDIS.host}:${REDIS.port}`, { backendOptions: { clientName: "has space" } }, /backendOptions\.clientName/],
      [`rediss://${REDIS.host}:${REDIS.port}?ca=/nonexistent/ca.pem`, {}, /URI ca/],
    ];
    for (const [uri, extra, message] of cases) {
      await assert.rejects(Broadcast.connect(uri, { ...OUTAGE, ...extra }), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    }
  });

  it("over RESP2 too, the liveness PING is answered on a subscribed connection", async () => {
    const channel = uniqueChannel("resp2");
    const options = { ...OUTAGE, liveness: { interval: 20, timeout: 500 }, backendOptions: { resp: 2 } };
    await using b = await Broadcast.connect(`redis://${REDIS.host}:${REDIS.port}`, options);
    const reader = b.subscribe(channel).getReader();
    await b.ready();
    let changes = 0;
    b.addEventListener("statechange", () => changes++);
    await sleep(300); // about fifteen probes while subscribed
    await b.publish(channel, "still up");
    assert.deepEqual(events(await readUntil(reader, (f) => events(f).length > 0)), ["still up"]);
    assert.equal(changes, 0, "no probe went unanswered");
  });

  describe("a server with an ACL user and a default password", () => {
    let server: RedisServer;
    before(async () => {
      server = await RedisServer.start([
        "--requirepass", "default-s3cret",
        "--user", "app", "on", ">app-s3cret", "~*", "&*", "+@all",
        "--user", "narrow", "on", ">narrow-s3cret", "~*", "&allowed-*", "+@all",
      ]);
    });
    after(() => server.kill());

    it("user and password from the URI, and password only, both work", async () => {
      for (const credentials of ["app:app-s3cret", ":default-s3cret"]) {
        const channel = uniqueChannel("auth");
        await using b = await Broadcast.connect(`redis://${credentials}@127.0.0.1:${server.port}/2`, OUTAGE);
        const reader = b.subscribe(channel).getReader();
        await b.ready();
        await b.publish(channel, credentials);
        assert.deepEqual(events(await readUntil(reader, (f) => events(f).length > 0)), [credentials]);
      }
    });

    it("a wrong password fails connect at once with AuthenticationError, never printing the password", async () => {
      for (const credentials of ["app:wr0ng-pass@", ":wr0ng-pass@", ""]) {
        const b = new Broadcast(`redis://${credentials}127.0.0.1:${server.port}`, OUTAGE);
        let attempts = 0;
        b.addEventListener("error", () => attempts++);
        const started = Date.now();
        const error = await b.connect().then(() => assert.fail("connected"), (error: unknown) => error);
        assert.ok(error instanceof AuthenticationError, String(error));
        assert.equal(attempts, 1, "no retry");
        assert.equal(Date.now() - started < 2_000, true);
        assert.equal(b.state, "failed");
        assert.doesNotMatch(`${error.message} ${(error.cause as Error)?.message} ${b.uri}`, /wr0ng-pass/);
        await b.disconnect();
      }
    });

    it("a broadcast Redis refuses (an ACL without the channel) is dropped and reported, not retried forever", async () => {
      await using b = await Broadcast.connect(`redis://narrow:narrow-s3cret@127.0.0.1:${server.port}`, OUTAGE);
      const dropped = droppedEvents(b);
      const channel = uniqueChannel("allowed");
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      await b.publish("forbidden", "refused");
      await b.publish(channel, "fine");
      assert.deepEqual(events(await readUntil(reader, (f) => events(f).length > 0)), ["fine"]);
      assert.equal(dropped.length, 1);
      assert.deepEqual({ ...dropped[0], reason: undefined, frame: undefined }, {
        channel: "forbidden",
        frame: undefined,
        source: "backbone",
        direction: "outbound",
        reason: undefined,
      });
      assert.match(String((dropped[0].reason as Error).message), /^NOPERM/);
      assert.equal(b.stats.dropped, 1);
      assert.equal(b.stats.reconnects, 0, "the link was not dropped for it");
    });

    it("a PUBLISH refused with NOPERM reaches the connector's context as outbound, and the link write resolves", async () => {
      const { context, dropped } = connectorContext();
      const connector = redis(new URL(`redis://narrow:narrow-s3cret@127.0.0.1:${server.port}`), context);
      const link = await connector.open(AbortSignal.timeout(5_000));
      try {
        const channel = uniqueChannel("allowed");
        await link.subscribe(channel);
        const writer = link.writable.getWriter();
        const batch = [eventFrame(channel, "first"), eventFrame("forbidden", "refused"), eventFrame(channel, "last")];
        await within(writer.write(batch), 5_000, "the write to resolve");
        assert.deepEqual(dropped.map(({ frame, direction }) => [frame, direction]), [[batch[1], "outbound"]]);
        assert.match(String((dropped[0].reason as Error).message), /^NOPERM/);
        const reader = link.readable.getReader();
        const received: string[] = [];
        while (received.length < 2) {
          const { value = [] } = await within(reader.read(), 5_000, "the allowed messages");
          received.push(...value.flatMap((frame) => frame.type === "event" ? [frame.message] : []));
        }
        assert.deepEqual(received, ["first", "last"]);
      } finally {
        await link.close();
        await connector.close?.();
      }
    });

    it("a SUBSCRIBE Redis refuses fails the broadcast with AuthenticationError", async () => {
      const b = await Broadcast.connect(`redis://narrow:narrow-s3cret@127.0.0.1:${server.port}`, OUTAGE);
      const giveup = nextEvent(b, "giveup", 5_000);
      const reader = b.subscribe("forbidden").getReader();
      const { error } = await giveup;
      assert.ok(error instanceof AuthenticationError, String(error));
      await assert.rejects(reader.read(), AuthenticationError);
      await b.disconnect();
    });
  });

  describe("rediss:// with a self-signed certificate", () => {
    let certs: Awaited<ReturnType<typeof makeCertificates>>;
    let server: RedisServer;
    before(async () => {
      certs = await makeCertificates();
      server = await RedisServer.start(
        ["--tls-cert-file", certs.cert, "--tls-key-file", certs.key, "--tls-ca-cert-file", certs.ca, "--tls-auth-clients", "no"],
        { tls: true },
      );
    });
    after(async () => {
      await server.kill();
      await certs?.remove();
    });

    it("the CA comes from the URI's ca parameter or from backendOptions.tls", async () => {
      const { readFile } = await import("node:fs/promises");
      const ways: [string, BroadcastOptions][] = [
        [`rediss://localhost:${server.port}?ca=${encodeURIComponent(certs.ca)}`, {}],
        [`rediss://localhost:${server.port}`, { backendOptions: { tls: { ca: await readFile(certs.ca, "utf8") } } }],
      ];
      for (const [uri, extra] of ways) {
        const channel = uniqueChannel("tls");
        await using b = await Broadcast.connect(uri, { ...OUTAGE, ...extra });
        const reader = b.subscribe(channel).getReader();
        await b.ready();
        await b.publish(channel, "over TLS");
        assert.deepEqual(events(await readUntil(reader, (f) => events(f).length > 0)), ["over TLS"]);
      }
    });

    it("without the CA the server's certificate is refused", async () => {
      await assert.rejects(
        Broadcast.connect(`rediss://localhost:${server.port}`, { ...OUTAGE, reconnect: { maxRetries: 1 } }),
        (error: unknown) => error instanceof GiveUpError && /certificate/.test(String((error.cause as Error)?.message)),
      );
    });
  });
});

describe("redis:// against a server that misbehaves", () => {
  it("a server that answers garbage fails the attempt, loudly and without crashing", async () => {
    const garbage = net.createServer((socket) => socket.end("%%% not RESP %%%\r\n"));
    await new Promise<void>((resolve) => garbage.listen(0, "127.0.0.1", resolve));
    const { port } = garbage.address() as net.AddressInfo;
    try {
      const b = new Broadcast(`redis://127.0.0.1:${port}`, { ...OUTAGE, reconnect: { maxRetries: 2, minDelay: 10, maxDelay: 20 } });
      const errors: unknown[] = [];
      b.addEventListener("error", (event) => errors.push((event as CustomEvent).detail.error));
      await assert.rejects(b.connect(), GiveUpError);
      assert.equal(errors.length, 2);
      await b.disconnect();
    } finally {
      garbage.close();
    }
  });
});

describe("redis:// connections given up", () => {
  it("a link abandoned while it connects leaves no connection open on the server", async () => {
    // node-redis 6 goes on connecting a client destroyed during connect(), and keeps that socket for good.
    const direct = await admin(REDIS.port);
    const clientName = uniqueChannel("abandoned");
    try {
      for (const history of [false, true]) {
        const { context } = connectorContext();
        const connector = redis(new URL("redis://127.0.0.1:6379"), { ...context, settings: { clientName }, ...history && { history: { messages: 10 } } });
        const abandon = new AbortController();
        const opening = connector.open(abandon.signal);
        abandon.abort(new Error("abandoned"));
        await assert.rejects(opening, /abandoned/);
      }
      await sleep(500);
      const list = await direct.send<string>(["CLIENT", "LIST"]);
      assert.deepEqual(list.split("\n").filter((line) => line.includes(`name=${clientName}:`)), []);
    } finally {
      await direct.kill(clientName);
      await direct.close();
    }
  });
});

describe("redis:// across processes", () => {
  it("three worker processes each receive every message, through a server restart", async () => {
    const server = await RedisServer.start();
    const channel = uniqueChannel("workers");
    const uri = `redis://127.0.0.1:${server.port}`;
    // Separate processes on a loaded 2-core machine re-subscribe further apart than
    // instances in one process: a settle time that covers the skew, as in production.
    const options = { ...OUTAGE, resyncSettle: 1_500 };
    const workers = [0, 1, 2].map(() => startWorker(uri, channel, options));
    const main = await Broadcast.connect(uri, options);
    try {
      await Promise.all(workers.map((w) => within(w.ready, 30_000, "a worker to be ready")));
      for (let n = 0; n < 20; n++) await main.publish(channel, `m${n}`);
      await Promise.all(workers.map((w) => w.received("m19")));
      await server.kill();
      await eventually(() => main.state === "down", 5_000, "the main process to notice");
      for (let n = 20; n < 40; n++) await main.publish(channel, `m${n}`);
      for (let n = 0; n < 10; n++) workers[0].send(`publish w${n}`);
      await workers[0].published("w9");
      await server.restart();
      await Promise.all(workers.map((w) => w.resynced()));
      for (let n = 40; n < 60; n++) await main.publish(channel, `m${n}`);
      for (let n = 0; n < 10; n++) workers[1].send(`publish x${n}`);
      for (const [i, worker] of workers.entries()) {
        await worker.received("m59", "w9", "x9");
        const got = dedupe(events(worker.frames));
        for (const prefix of ["m", "w", "x"]) {
          const count = prefix === "m" ? 60 : 10;
          assert.deepEqual(got.filter((m) => m[0] === prefix), range(0, count).map((n) => `${prefix}${n}`), `worker ${i}: ${prefix}*`);
        }
        assert.equal(resyncs(worker.frames).length, 1, `worker ${i}: one resync frame`);
        assert.equal(worker.ended, false, `worker ${i}: its stream stayed open`);
      }
    } finally {
      await main.disconnect();
      await Promise.all(workers.map((w) => w.stop()));
      await server.kill();
    }
  });
});

describe("redis:// leaves nothing unhandled", () => {
  it("no unhandled rejection or uncaught exception in any test above", async () => {
    await sleep(100);
    assert.deepEqual(unhandled, []);
  });
});

interface Worker {
  ready: Promise<void>;
  frames: Frame[];
  ended: boolean;
  send(line: string): void;
  received(...messages: string[]): Promise<void>;
  published(message: string): Promise<void>;
  resynced(): Promise<void>;
  stop(): Promise<void>;
}

function startWorker(uri: string, channel: string, options: BroadcastOptions): Worker {
  const script = fileURLToPath(new URL("../entries/worker_redis.ts", import.meta.url));
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  const args = deno ? ["run", "-A", "--no-check", script] : ["--import", "tsx", script];
  const child = spawn(process.execPath, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, STREAMCAST_URI: uri, STREAMCAST_CHANNEL: channel, STREAMCAST_OPTIONS: JSON.stringify(options) },
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let stderr = "";
  child.stderr!.on("data", (chunk) => stderr = (stderr + chunk).slice(-2_000));
  const lines = lineReader(child);
  const published: string[] = [];
  const log: string[] = [];
  let markReady!: () => void;
  const worker: Worker = {
    ready: new Promise((resolve) => markReady = resolve),
    frames: [],
    ended: false,
    send: (line) => child.stdin!.write(`${line}\n`),
    received: (...messages) =>
      eventually(() => messages.every((m) => events(worker.frames).includes(m)), 15_000, `a worker to receive ${messages}`)
        .catch((error) => {
          const got = worker.frames.map((f) => f.type === "event" ? f.message : `<${f.type}>`).join(" ");
          throw new Error(`${error.message}; it got: ${got}; its log: ${log.join(" ")}; its stderr: ${stderr}`);
        }),
    published: (message) => eventually(() => published.includes(message), 10_000, `a worker to publish ${message}`),
    resynced: () => eventually(() => resyncs(worker.frames).length > 0, 15_000, "a worker's resync frame"),
    async stop() {
      child.stdin!.end("quit\n");
      await within(exited, 5_000, "a worker to exit").catch(() => child.kill("SIGKILL"));
    },
  };
  (async () => {
    for (;;) {
      const line = await lines.next();
      const message = JSON.parse(line);
      if (!message.frame) log.push(line);
      if (message.ready) markReady();
      if (message.frame) worker.frames.push(message.frame);
      if (message.ended) worker.ended = true;
      if (message.published) published.push(message.published);
      if (message.bye) return;
    }
  })().catch(() => {});
  return worker;
}
