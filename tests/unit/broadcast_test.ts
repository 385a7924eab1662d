import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryHub } from "../../backends/memory/mod.ts";
import { Broadcast, ChannelError, ClosedError, type Frame, PayloadTooLargeError } from "../../mod.ts";
import { events, readEvents, reachState } from "../fixtures/support.ts";

let hubs = 0;
const fresh = () => `memory://broadcast-${++hubs}`;

describe("Broadcast", () => {
  it("delivers a publish to a subscriber set up just before it", async () => {
    await using broadcast = await Broadcast.connect(fresh());
    const reader = broadcast.subscribe("policy").getReader();
    await broadcast.publish("policy", JSON.stringify({ id: 1 }));
    assert.deepEqual((await reader.read()).value, { type: "event", channel: "policy", message: '{"id":1}' });
  });

  it("publisher() is a WritableStream that publishes each string in order", async () => {
    await using broadcast = await Broadcast.connect(fresh());
    // Publishing never waits for subscribers, so this one holds everything:
    // how fast it reads is up to the runtime's scheduling.
    const reader = broadcast.subscribe("lines", { highWaterMark: 2_500 }).getReader();
    const received = readEvents(reader, 2_500);
    let next = 0;
    const source = new ReadableStream<string>({
      pull: (controller) => next < 2_500 ? controller.enqueue(`line ${next++}`) : controller.close(),
    });
    await source.pipeTo(broadcast.publisher("lines"));
    const got = events(await received);
    assert.deepEqual(got, Array.from({ length: 2_500 }, (_, i) => `line ${i}`));
  });

  it("publisher() fails the write of a chunk that is not a string, naming it, and sends nothing", async () => {
    await using broadcast = await Broadcast.connect(fresh());
    const reader = broadcast.subscribe("c").getReader();
    await broadcast.ready();
    const writer = broadcast.publisher("c").getWriter();
    await assert.rejects(writer.write(null as unknown as string), /Expected a well-formed string .* but received null/);
    await broadcast.publish("c", "after");
    assert.deepEqual((await reader.read()).value, { type: "event", channel: "c", message: "after" });
  });

  it("subscriber streams compose with pipeThrough", async () => {
    await using broadcast = await Broadcast.connect(fresh());
    const messages = broadcast.subscribe("c").pipeThrough(
      new TransformStream<Frame, string>({
        transform: (frame, controller) => {
          if (frame.type === "event") controller.enqueue(frame.message.toUpperCase());
        },
      }),
    ).getReader();
    await broadcast.publish("c", "shout");
    assert.equal((await messages.read()).value, "SHOUT");
  });

  it("refuses a bad channel or message with an error that names it", async () => {
    const broadcast = new Broadcast(fresh());
    assert.throws(() => broadcast.subscribe(""), (e: unknown) => e instanceof ChannelError && /Invalid channel: Expected a non-empty string but received ""/.test(e.message));
    await assert.rejects(broadcast.publish("", "x"), ChannelError);
    await assert.rejects(broadcast.publish("c", 42 as unknown as string), /Invalid message on channel "c": Expected a well-formed string .* but received number/);
  });

  it("refuses bad subscribe options, naming them", () => {
    const broadcast = new Broadcast(fresh());
    assert.throws(() => broadcast.subscribe("c", { highWaterMark: 0 }), /Invalid subscribe option highWaterMark: Expected >=1 but received 0/);
    assert.throws(() => broadcast.subscribe("c", { signal: "x" as never }), /Invalid subscribe option signal/);
  });

  it("refuses a Kafka channel Kafka cannot use as a topic, naming the rule", () => {
    const broadcast = new Broadcast("kafka://127.0.0.1:9092");
    assert.throws(() => broadcast.subscribe("no spaces"), /Invalid channel: Expected a Kafka topic name/);
  });

  it("refuses a message over Kafka's size limit at publish, naming its size and the limit", async () => {
    const broadcast = new Broadcast("kafka://127.0.0.1:9092", { backendOptions: { maxMessageBytes: 10 } });
    await assert.rejects(
      broadcast.publish("t", "éééééé"), // 6 characters, 12 UTF-8 bytes
      (error: unknown) => error instanceof PayloadTooLargeError && error.size === 12 && error.limit === 10 && /channel "t"/.test(error.message),
    );
    assert.equal(broadcast.stats.published, 0, "nothing was accepted");
    await broadcast.disconnect();
  });

  it("fires statechange events and reports state", async () => {
    const hub = fresh();
    const broadcast = new Broadcast(hub, { reconnect: { minDelay: 5, maxDelay: 10 }, resyncSettle: 5 });
    const states: string[] = [];
    broadcast.addEventListener("statechange", (e) => states.push(e.detail.state));
    assert.equal(broadcast.state, "idle");
    await broadcast.connect();
    memoryHub(new URL(hub).hostname).cut();
    await reachState(broadcast, "down");
    memoryHub(new URL(hub).hostname).restore();
    await reachState(broadcast, "up");
    await broadcast.disconnect();
    assert.deepEqual(states, ["connecting", "up", "down", "up", "closed"]);
    assert.equal(broadcast.stats.reconnects, 1);
  });

  it("is idle until connect() is called, connecting from the call until the first link is up", async () => {
    const hub = fresh();
    const broadcast = new Broadcast(hub);
    const states: string[] = [];
    broadcast.addEventListener("statechange", (e) => states.push(e.detail.state));
    const reader = broadcast.subscribe("c").getReader(); // allowed while idle: made once the link is up
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(broadcast.state, "idle", "nothing is connecting before connect() is called");
    assert.deepEqual(states, []);
    memoryHub(new URL(hub).hostname).stall(); // the first attempt hangs: the state stays connecting
    const connecting = broadcast.connect();
    assert.equal(broadcast.state, "connecting");
    assert.deepEqual(states, ["connecting"]);
    memoryHub(new URL(hub).hostname).restore();
    await connecting;
    await broadcast.ready();
    await broadcast.publish("c", "x");
    assert.deepEqual((await reader.read()).value, { type: "event", channel: "c", message: "x" });
    await broadcast.disconnect();
    assert.deepEqual(states, ["connecting", "up", "closed"]);
  });

  it("an idle broadcast disconnected goes from idle to closed, never connecting", async () => {
    const broadcast = new Broadcast(fresh());
    const states: string[] = [];
    broadcast.addEventListener("statechange", (e) => states.push(e.detail.state));
    const reader = broadcast.subscribe("c").getReader();
    assert.equal(broadcast.state, "idle");
    await broadcast.disconnect();
    assert.equal(broadcast.state, "closed");
    assert.deepEqual(states, ["closed"]);
    assert.equal((await reader.read()).done, true, "the stream made while idle ends cleanly");
    await assert.rejects(broadcast.connect(), ClosedError);
  });

  it("ready() waits for the link and for pending subscriptions", async () => {
    const broadcast = new Broadcast(fresh());
    let ready = false;
    const waiting = broadcast.ready().then(() => ready = true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(ready, false);
    await broadcast.connect();
    await waiting;
    await broadcast.disconnect();
    await assert.rejects(broadcast.ready(), ClosedError);
  });

  it("after disconnect: connect and publish reject, subscribe gives an errored stream", async () => {
    const broadcast = await Broadcast.connect(fresh());
    assert.deepEqual(await broadcast.disconnect(), { unsent: [] });
    await assert.rejects(broadcast.connect(), ClosedError);
    await assert.rejects(broadcast.publish("c", "x"), ClosedError);
    await assert.rejects(broadcast.subscribe("c").getReader().read(), ClosedError);
    assert.deepEqual(await broadcast.disconnect(), { unsent: [] }, "disconnect twice is harmless");
  });

  it("counts what it published and delivered", async () => {
    await using a = await Broadcast.connect("memory://stats");
    await using b = await Broadcast.connect("memory://stats");
    const reader = b.subscribe("c").getReader();
    await b.ready();
    await Promise.all(["1", "2", "3"].map((m) => a.publish("c", m)));
    await readEvents(reader, 3);
    assert.equal(a.stats.published, 3);
    assert.equal(b.stats.delivered, 3);
    assert.equal(a.stats.delivered, 0);
  });

  it("uri hides the password", () => {
    const broadcast = new Broadcast("redis://app:hunter2@cache:6379");
    assert.equal(broadcast.uri, "redis://app:***@cache:6379");
  });
});
