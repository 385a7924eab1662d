/**
 * The Kafka backbone against real brokers that `scripts/kafka.sh` starts: the
 * shared conformance suite through a TCP proxy that a broker of our own
 * advertises, real outages (the proxy refusing, cutting and stalling; the
 * broker stopped and started again while publishers keep publishing), a
 * reconnect that resumes where the link stood, run-time re-subscription,
 * plain kafkajs clients on both sides, several worker processes, and latency.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import process from "node:process";
import { fileURLToPath } from "node:url";
import kafkajs from "kafkajs";
import type { Admin } from "kafkajs";
import {
  AuthenticationError,
  Broadcast,
  type BroadcastOptions,
  ChannelError,
  ConfigError,
  type Frame,
  PayloadTooLargeError,
} from "../../mod.ts";
import { kafkaOptions } from "../../backends/kafka/config.ts";
import { FAST, runConformance } from "../fixtures/conformance.ts";
import { kafkaAdmin, proxiedBroker, sharedBroker, TestBroker, topicMembers } from "../fixtures/kafka.ts";
import type { TcpProxy } from "../fixtures/proxy.ts";
import {
  dedupe,
  type DroppedDetail,
  eventually,
  events,
  reachState,
  readEvents,
  readUntil,
  resyncs,
  sleep,
  uniqueChannel,
  within,
} from "../fixtures/support.ts";

runConformance("kafka://", async () => {
  const { broker, proxy, uri, direct } = await proxiedBroker();
  const admin = await kafkaAdmin(direct);
  return {
    uri,
    options: { connectTimeout: 5_000 },
    cut: () => proxy.cut(),
    restore: () => proxy.restore(),
    stall: () => proxy.stall(),
    subscribers: (channel) => topicMembers(admin, channel),
    outages: 50,
    close: async () => {
      await admin.disconnect();
      await proxy.stop();
      await broker.remove();
    },
  };
});

/** Timing for real outages: quick detection, quick reconnects. */
const OUTAGE: BroadcastOptions = { ...FAST, connectTimeout: 5_000, resyncSettle: 200 };

describe("kafka:// on a broker of its own: real outages, TLS, credentials", () => {
  let broker: TestBroker;
  let proxy: TcpProxy;
  let uri: string;
  let direct: string;
  const open: Broadcast[] = [];

  before(async () => {
    ({ broker, proxy, uri, direct } = await proxiedBroker());
  });
  after(async () => {
    await Promise.all(open.splice(0).map((b) => b.disconnect()));
    await proxy?.stop();
    await broker?.remove();
  });

  async function connect(count: number, target = uri): Promise<Broadcast[]> {
    const group = await Promise.all(Array.from({ length: count }, () => Broadcast.connect(target, OUTAGE)));
    open.push(...group);
    return group;
  }

  /**
   * Three subscribed instances; the first publishes m0, m1, … every 10 ms
   * before, during and after the outage. Nothing is lost, every stream stays
   * open, and each gets exactly one resync frame.
   */
  async function throughOutage(breakIt: () => Promise<void>, mend: () => Promise<void>): Promise<void> {
    const channel = uniqueChannel("outage");
    const group = await connect(3);
    const readers = group.map((b) => b.subscribe(channel).getReader());
    await Promise.all(group.map((b) => b.ready()));
    const publishing = (async () => {
      for (let n = 0; n < 90; n++) {
        await group[0].publish(channel, `m${n}`);
        if (n === 30) {
          await breakIt();
          await Promise.all(group.map((b) => reachState(b, "down", 10_000)));
        }
        if (n === 60) await mend();
        await sleep(10);
      }
    })();
    await publishing;
    await Promise.all(group.map((b) => reachState(b, "up", 30_000)));
    for (const [i, reader] of readers.entries()) {
      const frames = await readUntil(
        reader,
        (f) => dedupe(events(f)).length >= 90 && resyncs(f).length > 0,
        30_000,
        `instance ${i}: 90 events and a resync`,
      );
      assert.deepEqual(dedupe(events(frames)), Array.from({ length: 90 }, (_, n) => `m${n}`), `instance ${i}: every event, in order`);
      await sleep(300);
      assert.equal(resyncs(frames).length, 1, `instance ${i}: one resync frame`);
    }
    await Promise.all(group.map((b) => b.disconnect()));
  }

  it("the proxy cuts every connection and refuses new ones: nothing is lost", async () => {
    await throughOutage(() => proxy.cut(), () => proxy.restore());
  });

  it("the proxy stalls without closing: the probe notices and nothing is lost", async () => {
    await throughOutage(() => proxy.stall(), () => proxy.restore());
  });

  it("the broker is stopped and started again while a publisher keeps publishing: nothing is lost", async () => {
    await throughOutage(async () => void await broker.stop(), async () => void await broker.start());
  });

  it("a reconnect resumes where the link stood: what others published during the gap arrives after it", async () => {
    const channel = uniqueChannel("resume");
    const [subscriber] = await connect(1);
    const [publisher] = await connect(1, `kafka://${direct}`); // never cut
    const reader = subscriber.subscribe(channel).getReader();
    await subscriber.ready();
    await publisher.publish(channel, "before");
    assert.deepEqual(events(await readEvents(reader, 1, 10_000)), ["before"]);
    await proxy.cut();
    await reachState(subscriber, "down", 10_000);
    for (let n = 0; n < 20; n++) await publisher.publish(channel, `gap${n}`);
    assert.equal(publisher.stats.buffered, 0, "the publisher's path stayed up");
    await proxy.restore();
    await reachState(subscriber, "up", 30_000);
    await publisher.publish(channel, "after");
    const frames = await readUntil(reader, (f) => events(f).includes("after"), 15_000, "the gap's events and one after");
    assert.deepEqual(events(frames), [...Array.from({ length: 20 }, (_, n) => `gap${n}`), "after"]);
    if (resyncs(frames).length === 0) frames.push(...await readUntil(reader, (f) => resyncs(f).length > 0, 5_000, "a resync"));
    assert.equal(resyncs(frames).length, 1, "the resync frame still comes");
    await Promise.all([subscriber.disconnect(), publisher.disconnect()]);
  });

  it("TLS from the URI: tls=true with the broker's CA in ca= connects; without the CA the certificate is refused", async () => {
    const channel = uniqueChannel("tls");
    const [b] = await connect(1, `kafka://127.0.0.1:${broker.tlsPort}/?tls=true&ca=${encodeURIComponent(broker.caFile)}`);
    const reader = b.subscribe(channel).getReader();
    await b.ready();
    await b.publish(channel, "encrypted");
    assert.deepEqual(events(await readEvents(reader, 1, 10_000)), ["encrypted"]);
    await b.disconnect();
    await assert.rejects(
      Broadcast.connect(`kafka://127.0.0.1:${broker.tlsPort}/?tls=true`, { ...OUTAGE, reconnect: { maxRetries: 1 } }),
      (error: unknown) => /self-signed certificate/.test(String((error as Error).cause)),
    );
  });

  it("SASL/PLAIN and SCRAM credentials connect; wrong ones fail connect() at once, the password masked", async () => {
    const at = `127.0.0.1:${broker.saslPort}`;
    const good = [
      `kafka://streamcast:streamcast-secret@${at}`,
      `kafka://${at}/?sasl=scram-sha-256&user=streamcast&password=streamcast-secret`,
      `kafka://${at}/?sasl=scram-sha-512&user=streamcast&password=streamcast-secret`,
    ];
    for (const uri of good) {
      const channel = uniqueChannel("sasl");
      const [b] = await connect(1, uri);
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      await b.publish(channel, "authenticated");
      assert.deepEqual(events(await readEvents(reader, 1, 10_000)), ["authenticated"], uri);
      await b.disconnect();
    }
    for (const uri of [`kafka://streamcast:hunter2@${at}`, `kafka://${at}/?sasl=scram-sha-512&user=streamcast&password=hunter2`]) {
      const started = Date.now();
      await assert.rejects(
        Broadcast.connect(uri, OUTAGE),
        (error: unknown) => error instanceof AuthenticationError && !String(error.message).includes("hunter2") && /\*\*\*/.test(error.message),
      );
      assert.equal(Date.now() - started < 5_000, true, "no retrying");
    }
  });
});

describe("kafka:// on the shared broker", () => {
  let broker: string;
  let admin: Admin;
  const open: Broadcast[] = [];

  before(async () => {
    broker = await sharedBroker();
    admin = await kafkaAdmin(broker);
  });
  after(async () => {
    await Promise.all(open.splice(0).map((b) => b.disconnect()));
    await admin?.disconnect(); // undefined when before() failed: its error is the one to see
  });

  async function connect(count: number, options?: BroadcastOptions): Promise<Broadcast[]> {
    const group = await Promise.all(Array.from({ length: count }, () => Broadcast.connect(`kafka://${broker}`, options)));
    open.push(...group);
    return group;
  }

  it("a plain kafkajs producer reaches a streamcast subscriber, and streamcast reaches a plain kafkajs consumer", async () => {
    const channel = uniqueChannel("interop");
    const [b] = await connect(1);
    const reader = b.subscribe(channel).getReader();
    await b.ready();
    const kafka = new kafkajs.Kafka({ brokers: [broker], logLevel: kafkajs.logLevel.NOTHING });
    const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId: `plain-${channel}`, maxWaitTimeInMs: 50 });
    const seen: string[] = [];
    try {
      await producer.connect();
      await producer.send({ topic: channel, messages: [{ value: "from kafkajs ✓" }] });
      assert.deepEqual(events(await readEvents(reader, 1, 10_000)), ["from kafkajs ✓"]);
      await consumer.connect();
      await consumer.subscribe({ topic: channel, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString("utf8")) });
      await b.publish(channel, '{"from":"streamcast"}');
      await eventually(() => seen.includes('{"from":"streamcast"}'), 15_000, "the plain consumer to receive it");
      assert.deepEqual(seen, ["from kafkajs ✓", '{"from":"streamcast"}'], "the value is the payload, no envelope");
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteGroups([`plain-${channel}`]).catch(() => {});
    }
  });

  it("each instance consumes in a group of its own, deleted on disconnect", async () => {
    const channel = uniqueChannel("groups");
    const group = await connect(2, { backendOptions: { groupIdPrefix: `streamcast-${channel}-` } });
    await Promise.all(group.map((b) => (b.subscribe(channel), b.ready())));
    const mine = async () => (await admin.listGroups()).groups.filter((g) => g.groupId.includes(channel));
    assert.equal((await mine()).length, 2);
    assert.equal(await topicMembers(admin, channel), 2);
    await Promise.all(group.map((b) => b.disconnect()));
    assert.deepEqual(await mine(), []);
  });

  it("subscribing and unsubscribing channels while events flow on another loses and repeats nothing there", async () => {
    const steady = uniqueChannel("steady");
    const [a, b] = await connect(2);
    const reader = b.subscribe(steady).getReader();
    await b.ready();
    const publishing = (async () => {
      for (let n = 0; n < 200; n++) {
        await a.publish(steady, `s${n}`);
        await sleep(5);
      }
    })();
    const churn = Array.from({ length: 4 }, (_, i) => uniqueChannel(`churn${i}`));
    for (let round = 0; round < 6; round++) {
      const controller = new AbortController();
      const streams = churn.map((channel) => b.subscribe(channel, { signal: controller.signal }).getReader());
      await b.ready();
      await a.publish(churn[round % 4], `c${round}`);
      assert.deepEqual(events(await readEvents(streams[round % 4], 1, 10_000)), [`c${round}`]);
      controller.abort();
      await sleep(50);
    }
    await publishing;
    const frames = await readEvents(reader, 200, 15_000);
    assert.deepEqual(events(frames), Array.from({ length: 200 }, (_, n) => `s${n}`), "all of them, once each, in order");
    assert.equal(resyncs(frames).length, 0);
  });

  it("a message published on an idle topic arrives within tens of milliseconds", async () => {
    const channel = uniqueChannel("latency");
    const [a, b] = await connect(2);
    const reader = b.subscribe(channel).getReader();
    await b.ready();
    const times: number[] = [];
    for (let n = 0; n < 7; n++) {
      await sleep(300); // idle: the consumer's fetch is parked at the broker
      const started = performance.now();
      await a.publish(channel, `t${n}`);
      await readEvents(reader, 1);
      times.push(performance.now() - started);
    }
    times.sort((x, y) => x - y);
    const median = times[3];
    console.log(`kafka idle-topic publish → receive: median ${median.toFixed(1)} ms, max ${times[6].toFixed(1)} ms`);
    assert.equal(median < 100, true, `median ${median.toFixed(1)} ms`);
  });

  it("three worker processes each receive every message from all of them", async () => {
    const channel = uniqueChannel("workers");
    const workers = [0, 1, 2].map(() => startWorker(`kafka://${broker}`, channel));
    try {
      await Promise.all(workers.map((w) => within(w.ready, 60_000, "a worker to be ready")));
      workers.forEach((w, i) => w.send(`publish 20 w${i}-`));
      for (const [i, worker] of workers.entries()) {
        await eventually(() => events(worker.frames).length >= 60, 20_000, `worker ${i} to receive 60 events`);
        for (let from = 0; from < 3; from++) {
          const got = events(worker.frames).filter((m) => m.startsWith(`w${from}-`));
          assert.deepEqual(got, Array.from({ length: 20 }, (_, n) => `w${from}-${n}`), `worker ${i} from worker ${from}`);
        }
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  });

  it("a message over maxMessageBytes is refused at publish; one the broker refuses is dropped and reported, and the link stays up", async () => {
    const dropped: DroppedDetail[] = [];
    // 1,600,000 UTF-8 bytes: over our limit in the first case, over the broker's 1 MiB in the second.
    const huge = "é".repeat(800_000);
    for (const maxMessageBytes of [1_000_000, 5_000_000]) {
      const channel = uniqueChannel("large");
      const [b] = await connect(1, { backendOptions: { maxMessageBytes } });
      b.addEventListener("dropped", (event) => dropped.push((event as CustomEvent<DroppedDetail>).detail));
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      await b.publish(channel, "before");
      if (maxMessageBytes < 1_600_000) {
        await assert.rejects(
          b.publish(channel, huge),
          (error: unknown) => error instanceof PayloadTooLargeError && error.size === 1_600_000 && error.limit === maxMessageBytes,
        );
      } else {
        await b.publish(channel, huge);
      }
      await b.publish(channel, "after");
      assert.deepEqual(events(await readEvents(reader, 2, 10_000)), ["before", "after"]);
      assert.equal(b.stats.reconnects, 0);
      assert.equal(b.stats.dropped, dropped.length);
    }
    assert.equal(dropped.length, 1, "only what the broker refused is dropped");
    const [{ channel, frame, source, direction }] = dropped;
    assert.deepEqual([frame.channel, source, direction], [channel, "backbone", "outbound"]);
    assert.match(channel, /^large-/);
    assert.match(String(dropped[0].reason), /larger than the max message size/);
  });

  it("a channel Kafka cannot use as a topic is refused with the rule", async () => {
    const [b] = await connect(1);
    assert.throws(() => b.subscribe("no spaces allowed"), (error: unknown) => error instanceof ChannelError && /Kafka topic name/.test(error.message));
    await assert.rejects(b.publish("x".repeat(250), "m"), ChannelError);
  });
});

describe("kafka:// URIs", () => {
  it("take SASL and TLS from query parameters and never print the password", () => {
    const { client } = kafkaOptions(new URL("kafka://a:9093/?brokers=a:9093,b:9094&sasl=scram-sha-512&user=app&password=s3cret&tls=true"), {});
    assert.deepEqual(client.brokers, ["a:9093", "b:9094"]);
    assert.equal(client.ssl, true);
    assert.deepEqual(client.sasl, { mechanism: "scram-sha-512", username: "app", password: "s3cret" });
    const plain = kafkaOptions(new URL("kafka://app:pw@k1"), { clientId: "svc" }).client;
    assert.deepEqual(plain.brokers, ["k1:9092"]);
    assert.deepEqual(plain.sasl, { mechanism: "plain", username: "app", password: "pw" }, "credentials alone mean SASL/PLAIN");
    assert.equal(kafkaOptions(new URL("kafka://k1:9092"), {}).client.sasl, undefined);
    assert.throws(
      () => kafkaOptions(new URL("kafka://k1:9092/?sasl=gssapi&user=u&password=s3cret"), { groupIdPrefix: "bad prefix", nope: 1 }),
      (error: unknown) =>
        error instanceof ConfigError && error.issues.length === 3 && !error.message.includes("s3cret") &&
        /sasl= one of plain, scram-sha-256, scram-sha-512/.test(error.message),
    );
  });

  it("a Broadcast on a malformed Kafka configuration fails at once with ConfigError", async () => {
    await assert.rejects(
      Broadcast.connect("kafka://127.0.0.1:1/?sasl=plain&password=hunter2"),
      (error: unknown) => error instanceof ConfigError && !String(error).includes("hunter2"),
    );
  });
});

interface Worker {
  ready: Promise<void>;
  frames: Frame[];
  send(line: string): void;
  stop(): Promise<void>;
}

function startWorker(uri: string, channel: string): Worker {
  const script = fileURLToPath(new URL("../entries/worker_kafka.ts", import.meta.url));
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  const args = deno ? ["run", "-A", "--no-check", script] : ["--import", "tsx", script];
  const child = spawn(process.execPath, args, {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, STREAMCAST_URI: uri, STREAMCAST_CHANNEL: channel },
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let markReady!: () => void;
  const worker: Worker = {
    ready: new Promise((resolve) => markReady = resolve),
    frames: [],
    send: (line) => child.stdin!.write(`${line}\n`),
    async stop() {
      child.stdin!.end("quit\n");
      await within(exited, 10_000, "a worker to exit").catch(() => child.kill("SIGKILL"));
    },
  };
  let buffered = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const message = JSON.parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      if (message.ready) markReady();
      if (message.frame) worker.frames.push(message.frame);
    }
  });
  return worker;
}
