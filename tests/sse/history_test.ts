/**
 * The SSE handler in history mode, on memory://: every event has an SSE id,
 * the stream's cursor over all its channels; a client that comes back with
 * it (Last-Event-ID, or ?since= after a page reload) receives what it
 * missed, then live events, with no resync event — on the same handler, on
 * another one (a worker restart), while its group keeps receiving events.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Broadcast } from "../../mod.ts";
import { type SseHandler, sseHandler, type SseHandlerOptions } from "../../lib/sse/mod.ts";
import { eventually, sleep, uniqueChannel, within } from "../fixtures/support.ts";
import { EventReader, open } from "../fixtures/sse.ts";

function setUp(history = 1000, options: SseHandlerOptions = {}) {
  const uri = `memory://${uniqueChannel("sse-history").replace(/[^a-z0-9]/gi, "")}?history=${history}`;
  const broadcasts: Broadcast[] = [];
  const handlers: SseHandler[] = [];
  /** A worker: a Broadcast and a handler over it. */
  const worker = async () => {
    const broadcast = await Broadcast.connect(uri, { resyncSettle: 0 });
    const sse = sseHandler(broadcast, { resyncSpread: 0, ...options });
    broadcasts.push(broadcast);
    handlers.push(sse);
    return { broadcast, sse };
  };
  const close = async () => {
    for (const sse of handlers) sse.close();
    await Promise.all(broadcasts.map((b) => b.disconnect()));
  };
  return { worker, close };
}

const publishAll = (broadcast: Broadcast, channel: string, messages: string[]) =>
  Promise.all(messages.map((message) => broadcast.publish(channel, message)));

/** A client that read `message` and went away: the id it would come back with. */
async function leaveAfter(sse: SseHandler, broadcast: Broadcast, message: string): Promise<string> {
  const client = await open(sse, ["a"]);
  await broadcast.publish("a", message);
  await eventually(() => client.messages().length === 1);
  await client.cancel();
  return client.lastEventId()!;
}

/** How many clients read on their own, not yet with their group (from /healthz). */
async function catchingUp(sse: SseHandler): Promise<number> {
  return (await (await sse.fetch(new Request("http://localhost/healthz"))).json()).catchingUp;
}

const range = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe("the SSE handler in history mode", () => {
  it("gives every event an id; a client that comes back with it gets what it missed, then live events, and no resync", async () => {
    const { worker, close } = setUp();
    try {
      const { broadcast, sse } = await worker();
      const first = await open(sse, ["a"]);
      assert.ok(first.events[0].id, "the ready event has an id");
      await publishAll(broadcast, "a", range("m", 0, 10));
      await eventually(() => first.messages().length === 10);
      assert.ok(first.events.filter((e) => e.event === "message").every((e) => e.id), "every event has an id");
      const last = first.lastEventId()!;
      await first.cancel();
      await publishAll(broadcast, "a", range("m", 10, 20)); // while it is away
      const back = await open(sse, ["a"], undefined, { "last-event-id": last });
      await broadcast.publish("a", "m20");
      await eventually(() => back.messages().length === 11, 5_000, "what it missed and the live event");
      await sleep(50);
      assert.deepEqual(back.messages(), range("m", 10, 21));
      assert.deepEqual(back.events.filter((e) => e.event === "resync"), []);
    } finally {
      await close();
    }
  });

  it("one cursor for all of a stream's channels; ?since= resumes a reloaded page the same way", async () => {
    const { worker, close } = setUp();
    try {
      const { broadcast, sse } = await worker();
      const first = await open(sse, ["a", "b"]);
      await publishAll(broadcast, "a", ["a0", "a1"]);
      await publishAll(broadcast, "b", ["b0"]);
      await eventually(() => first.messages().length === 3);
      const cursor = first.lastEventId()!;
      assert.equal(cursor.split(",").length, 2, `a position per channel: ${cursor}`);
      await first.cancel();
      await publishAll(broadcast, "b", ["b1", "b2"]);
      await publishAll(broadcast, "a", ["a2"]);
      const response = await sse.fetch(new Request(`http://localhost/subscribe?channel=a&channel=b&since=${encodeURIComponent(cursor)}`));
      const back = new EventReader(response.body!);
      await eventually(() => back.messages().length === 3, 5_000, "what it missed on both channels");
      await sleep(50);
      assert.deepEqual(back.messages().sort(), ["a2", "b1", "b2"]);
      assert.deepEqual(back.events.filter((e) => e.event === "resync"), []);
      await back.cancel();
    } finally {
      await close();
    }
  });

  it("through a worker restart: a client of the old worker resumes on a new one", async () => {
    const { worker, close } = setUp();
    try {
      const old = await worker();
      const client = await open(old.sse, ["a"]);
      await publishAll(old.broadcast, "a", range("m", 0, 5));
      await eventually(() => client.messages().length === 5);
      old.sse.close(); // the worker goes away; its stream ends
      await within(client.done, 5_000, "the old worker's stream to end");
      await old.broadcast.disconnect();
      const fresh = await worker();
      await publishAll(fresh.broadcast, "a", range("m", 5, 10)); // published while the client reconnects
      const back = await open(fresh.sse, ["a"], undefined, { "last-event-id": client.lastEventId()! });
      await publishAll(fresh.broadcast, "a", range("m", 10, 12));
      await eventually(() => back.messages().length === 7, 5_000, "what it missed, then live");
      await sleep(50);
      assert.deepEqual(back.messages(), range("m", 5, 12));
      assert.deepEqual(back.events.filter((e) => e.event === "resync"), []);
    } finally {
      await close();
    }
  });

  it("a client that comes back while its group keeps receiving events catches up, then joins the group", async () => {
    const { worker, close } = setUp(100_000);
    try {
      const { broadcast, sse } = await worker();
      const staying = await open(sse, ["a"]);
      const leaving = await open(sse, ["a"]);
      await publishAll(broadcast, "a", range("m", 0, 50));
      await eventually(() => leaving.messages().length === 50);
      const last = leaving.lastEventId()!;
      await leaving.cancel();
      let pumping = true;
      let n = 50;
      const pump = (async () => {
        while (pumping) {
          await publishAll(broadcast, "a", range("m", n, n + 20));
          n += 20;
          await sleep(1);
        }
      })();
      await sleep(30);
      const back = await open(sse, ["a"], undefined, { "last-event-id": last });
      await sleep(100);
      pumping = false;
      await pump;
      await eventually(() => back.messages().length === n - 50 && staying.messages().length === n, 10_000, "every message to both");
      await sleep(50);
      assert.deepEqual(back.messages(), range("m", 50, n), "exactly what came after its id, once each, in order");
      assert.deepEqual(staying.messages(), range("m", 0, n));
      assert.equal(await catchingUp(sse), 0, "it joined its group: no client reads on its own");
    } finally {
      await close();
    }
  });

  it("a new client does not get the history that a client who came back founded its group with", async () => {
    const { worker, close } = setUp(100_000);
    try {
      const { broadcast, sse } = await worker();
      const last = await leaveAfter(sse, broadcast, "m0"); // the group is gone with its last client
      await publishAll(broadcast, "a", range("m", 1, 3000));
      // The first founds the group at m0; the second comes while it reads its history.
      const [back, fresh] = await Promise.all([open(sse, ["a"], undefined, { "last-event-id": last }), open(sse, ["a"])]);
      await broadcast.publish("a", "live");
      await eventually(() => back.messages().at(-1) === "live" && fresh.messages().at(-1) === "live", 10_000, "the live event to both");
      assert.deepEqual(fresh.messages(), ["live"], "only what was published after it came");
      assert.deepEqual(back.messages(), [...range("m", 1, 3000), "live"]);
      assert.equal(await catchingUp(sse), 0, "the new client joined the group once it was live");
    } finally {
      await close();
    }
  });

  it("a client within retention is not resynced because the client that founded its group came back beyond it", async () => {
    const { worker, close } = setUp(10);
    try {
      const { broadcast, sse } = await worker();
      const staleId = await leaveAfter(sse, broadcast, "m0");
      await publishAll(broadcast, "a", range("m", 1, 40)); // far more than is kept
      const recent = await open(sse, ["a"]);
      await broadcast.publish("a", "m40");
      await eventually(() => recent.messages().length === 1);
      const recentId = recent.lastEventId()!;
      await recent.cancel(); // no group left
      await broadcast.publish("a", "m41"); // within retention for the recent one
      // Both come back at once (say, after a worker restart): the stale one founds the group.
      const [a, b] = await Promise.all([
        sse.fetch(new Request("http://localhost/subscribe?channel=a", { headers: { "last-event-id": staleId } })),
        sse.fetch(new Request("http://localhost/subscribe?channel=a", { headers: { "last-event-id": recentId } })),
      ]);
      const staleBack = new EventReader(a.body!);
      const recentBack = new EventReader(b.body!);
      await within(staleBack.done, 5_000, "the stale client to be resynced and closed");
      await broadcast.publish("a", "m42");
      await eventually(() => recentBack.messages().length === 2, 5_000, "both events to the recent client");
      await sleep(50);
      assert.deepEqual(recentBack.events.filter((e) => e.event === "resync"), [], "no resync for a client within retention");
      assert.equal(recentBack.ended, false, "its stream goes on");
      assert.deepEqual(recentBack.messages(), ["m41", "m42"]);
    } finally {
      await close();
    }
  });

  it("a client that falls maxQueueBytes behind is closed with no resync event, and coming back misses nothing", async () => {
    const { worker, close } = setUp(10_000, { maxQueueBytes: 64 * 1024 });
    try {
      const { broadcast, sse } = await worker();
      const response = await sse.fetch(new Request("http://localhost/subscribe?channel=a"));
      const reader = response.body!.getReader();
      const big = "x".repeat(10_000);
      const sent = range(`${big}-`, 0, 20);
      for (const message of sent) {
        await broadcast.publish("a", message);
        await sleep(5); // a tick each: one chunk each, and the queue overflows
      }
      const slow = new EventReader(new ReadableStream({ pull: async (c) => { const r = await reader.read(); if (r.done) c.close(); else c.enqueue(r.value); } }));
      await within(slow.done, 5_000, "the slow client's stream to end");
      assert.deepEqual(slow.events.filter((e) => e.event === "resync"), [], "no resync event in history mode");
      assert.ok(slow.messages().length < 20, "it was let go before it got everything");
      const back = await open(sse, ["a"], undefined, { "last-event-id": slow.lastEventId()! });
      await eventually(() => slow.messages().length + back.messages().length === 20, 5_000, "the rest");
      assert.deepEqual([...slow.messages(), ...back.messages()], sent);
      assert.deepEqual(back.events.filter((e) => e.event === "resync"), []);
    } finally {
      await close();
    }
  });

  it("beyond what history keeps: one resync event, whose id starts the channel anew, so coming back with it is not a gap again", async () => {
    const { worker, close } = setUp(10);
    try {
      const { broadcast, sse } = await worker();
      const last = await leaveAfter(sse, broadcast, "m0");
      await publishAll(broadcast, "a", range("m", 1, 50)); // far more than is kept
      const response = await sse.fetch(new Request("http://localhost/subscribe?channel=a", { headers: { "last-event-id": last } }));
      const gapped = new EventReader(response.body!);
      await within(gapped.done, 5_000, "the stream to close after its resync event");
      const resync = gapped.events.filter((e) => e.event === "resync");
      assert.equal(resync.length, 1);
      assert.equal(JSON.parse(resync[0].data).reason, "gap");
      const again = await open(sse, ["a"], undefined, { "last-event-id": resync[0].id! });
      await broadcast.publish("a", "live");
      await eventually(() => again.messages().includes("live"));
      assert.deepEqual(again.events.filter((e) => e.event === "resync"), []);
    } finally {
      await close();
    }
  });

  it("a Last-Event-ID that is not a cursor of these channels is a resync event for each, and the stream goes on", async () => {
    const { worker, close } = setUp();
    try {
      const { broadcast, sse } = await worker();
      for (const bad of ["x", "1,2", "1-", "new,new"]) {
        const client = await open(sse, ["a"], undefined, { "last-event-id": bad });
        assert.deepEqual(client.events.filter((e) => e.event === "resync").map((e) => JSON.parse(e.data)), [{ reason: "gap", channel: "a" }], bad);
        await broadcast.publish("a", bad);
        await eventually(() => client.messages().includes(bad));
        await client.cancel();
      }
    } finally {
      await close();
    }
  });

  it("in pub/sub mode events have no id and Last-Event-ID is ignored", async () => {
    const broadcast = await Broadcast.connect(`memory://${uniqueChannel("sse-plain").replace(/[^a-z0-9]/gi, "")}`);
    const sse = sseHandler(broadcast);
    try {
      const client = await open(sse, ["a"], undefined, { "last-event-id": "5" });
      await broadcast.publish("a", "x");
      await eventually(() => client.messages().length === 1);
      assert.deepEqual(client.events.map((e) => [e.event, e.id]), [["ready", undefined], ["message", undefined]]);
    } finally {
      sse.close();
      await broadcast.disconnect();
    }
  });
});
