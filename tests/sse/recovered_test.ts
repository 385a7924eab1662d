/**
 * What the `ready` event says of a resume, in history mode: a client that
 * comes back with a cursor (`Last-Event-ID`, or `?since=`) is told, before
 * anything else of its stream, whether it got everything after it
 * (`recovered: true`) or not, with the reason per channel (`recovered:
 * false`, `reasons`); a client that does not resume is told nothing of the
 * kind. The same cases on memory:// and on the Redis at 127.0.0.1:6379.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Broadcast } from "../../mod.ts";
import { memoryHub } from "../../backends/memory/mod.ts";
import { type SseHandler, sseHandler } from "../../lib/sse/mod.ts";
import { admin, type Admin } from "../fixtures/redis.ts";
import { eventually, sleep, uniqueChannel, within } from "../fixtures/support.ts";
import { EventReader, open } from "../fixtures/sse.ts";

/** A backbone in history mode, as these cases need it. */
interface Backbone {
  name: string;
  /** A URI of the backbone in history mode, the same for every worker of one test. */
  uri(): string;
  /** Publishes on `channel` past a cursor, and trims what it published beyond retention. */
  trim(channel: string, publish: (message: string) => Promise<void>): Promise<void>;
  /** Makes `channel`'s log again (another epoch): deletes it, or restarts the backbone without persistence. */
  replace(channel: string, uri: string): Promise<void>;
  before?(): Promise<void>;
  after?(): Promise<void>;
}

/** A worker: a Broadcast of `uri` and a handler over it; `close` ends every one made. */
function workers(uri: string) {
  const made: { broadcast: Broadcast; sse: SseHandler }[] = [];
  return {
    async worker() {
      const broadcast = await Broadcast.connect(uri, { resyncSettle: 0 });
      const one = { broadcast, sse: sseHandler(broadcast, { resyncSpread: 0, id: "w" }) };
      made.push(one);
      return one;
    },
    async close() {
      for (const { sse } of made) sse.close();
      await Promise.all(made.map(({ broadcast }) => broadcast.disconnect()));
    },
  };
}

/** A client of `channels` that comes back with `cursor`, read until its ready event. */
async function resume(sse: SseHandler, channels: string[], cursor: string): Promise<EventReader> {
  return await open(sse, channels, undefined, { "last-event-id": cursor });
}

/** A client of `channels` that read `messages` as they were published, and left: the cursor it comes back with. */
async function leaveAfter(sse: SseHandler, broadcast: Broadcast, channels: string[], messages: [string, string][]): Promise<string> {
  const client = await open(sse, channels);
  for (const [channel, message] of messages) await broadcast.publish(channel, message);
  await eventually(() => client.messages().length === messages.length);
  await client.cancel();
  return client.lastEventId()!;
}

const ready = (client: EventReader) => JSON.parse(client.events.find((e) => e.event === "ready")!.data);
const names = (client: EventReader) => client.events.map((e) => e.event);

function runRecovered(backbone: Backbone): void {
  describe(`the SSE ready event after a resume, ${backbone.name} history mode`, () => {
    if (backbone.before) before(backbone.before);
    if (backbone.after) after(backbone.after);

    it("a client that comes back within what history keeps is told recovered: true, before what it missed", async () => {
      const a = uniqueChannel("rec-a");
      const { worker, close } = workers(backbone.uri());
      try {
        const { broadcast, sse } = await worker();
        const cursor = await leaveAfter(sse, broadcast, [a], [[a, "m0"]]);
        await broadcast.publish(a, "m1");
        // No client of [a] left: it founds its group where it stands.
        const founder = await resume(sse, [a], cursor);
        await eventually(() => founder.messages().length === 1, 10_000, "what it missed");
        assert.deepEqual(ready(founder), { worker: "w", channels: [a], recovered: true });
        assert.deepEqual(names(founder), ["ready", "message"], "ready first, then what it missed");
        // Its group is there now: the next one reads on its own until it stands where the group stands.
        const joining = await resume(sse, [a], cursor);
        await eventually(() => joining.messages().length === 1, 10_000, "what it missed");
        assert.deepEqual(ready(joining), { worker: "w", channels: [a], recovered: true });
        assert.deepEqual(names(joining), ["ready", "message"]);
        await broadcast.publish(a, "m2");
        await eventually(() => founder.messages().length === 2 && joining.messages().length === 2, 10_000, "the live event to both");
        assert.deepEqual(joining.messages(), ["m1", "m2"]);
        await Promise.all([founder.cancel(), joining.cancel()]);
      } finally {
        await close();
      }
    });

    it("beyond what history keeps on one channel of two: recovered: false, the reason for that channel only, then its resync event", async () => {
      const [a, b] = [uniqueChannel("rec-a"), uniqueChannel("rec-b")];
      const { worker, close } = workers(backbone.uri());
      try {
        const { broadcast, sse } = await worker();
        const cursor = await leaveAfter(sse, broadcast, [a, b], [[a, "a0"], [b, "b0"]]);
        await broadcast.publish(a, "a1");
        await backbone.trim(b, (message) => broadcast.publish(b, message));
        const back = new EventReader((await sse.fetch(new Request(
          `http://localhost/subscribe?channel=${encodeURIComponent(a)}&channel=${encodeURIComponent(b)}`,
          { headers: { "last-event-id": cursor } },
        ))).body!);
        await within(back.done, 10_000, "the stream to close after its resync event");
        assert.deepEqual(ready(back), { worker: "w", channels: [a, b], recovered: false, reasons: { [b]: "gap" } });
        assert.equal(names(back)[0], "ready", "ready comes first");
        const resyncs = back.events.filter((e) => e.event === "resync").map((e) => JSON.parse(e.data));
        assert.deepEqual(resyncs, [{ reason: "gap", channel: b }]);
      } finally {
        await close();
      }
    });

    it("a cursor of a log made again since (another epoch): recovered: false, reason replaced, then a resync event", async () => {
      const a = uniqueChannel("rec-a");
      const uri = backbone.uri();
      const { worker, close } = workers(uri);
      try {
        const first = await worker();
        const cursor = await leaveAfter(first.sse, first.broadcast, [a], [[a, "old0"]]);
        await first.broadcast.publish(a, "old1");
        await backbone.replace(a, uri);
        const fresh = await worker(); // as a worker restarted meanwhile
        await fresh.broadcast.publish(a, "new0");
        const back = new EventReader((await fresh.sse.fetch(new Request(
          `http://localhost/subscribe?channel=${encodeURIComponent(a)}`,
          { headers: { "last-event-id": cursor } },
        ))).body!);
        await within(back.done, 10_000, "the stream to close after its resync event");
        assert.deepEqual(ready(back), { worker: "w", channels: [a], recovered: false, reasons: { [a]: "replaced" } });
        assert.deepEqual(names(back), ["ready", "resync"]);
        assert.deepEqual(back.messages(), [], "nothing of the new log taken for what came after the cursor");
      } finally {
        await close();
      }
    });
  });
}

describe("the SSE ready event of a stream that does not resume", () => {
  const memory = () => `memory://${uniqueChannel("sse-rec").replace(/[^a-z0-9]/gi, "")}`;

  it("a client with no cursor gets no recovered field, in history mode and in pub/sub mode", async () => {
    for (const uri of [`${memory()}?history=100`, memory()]) {
      const { worker, close } = workers(uri);
      try {
        const { sse } = await worker();
        const client = await open(sse, ["a", "b"]);
        assert.deepEqual(ready(client), { worker: "w", channels: ["a", "b"] }, uri);
        await client.cancel();
      } finally {
        await close();
      }
    }
  });

  it("a Last-Event-ID that is not a cursor of these channels: recovered: false, reason unknown for each, and the stream goes on", async () => {
    const { worker, close } = workers(`${memory()}?history=100`);
    try {
      const { broadcast, sse } = await worker();
      const client = await resume(sse, ["a", "b"], "1");
      assert.deepEqual(ready(client), { worker: "w", channels: ["a", "b"], recovered: false, reasons: { a: "unknown", b: "unknown" } });
      await broadcast.publish("a", "goes on");
      await eventually(() => client.messages().includes("goes on"));
      await client.cancel();
    } finally {
      await close();
    }
  });

  it("a cursor that starts a channel anew (new) asks nothing of it: that channel is recovered", async () => {
    const { worker, close } = workers(`${memory()}?history=100`);
    try {
      const { broadcast, sse } = await worker();
      const cursor = await leaveAfter(sse, broadcast, ["a"], [["a", "a0"]]);
      await broadcast.publish("a", "a1");
      await broadcast.publish("b", "b0"); // not asked for: b starts with what is new
      const client = await resume(sse, ["a", "b"], `${cursor},new`);
      await eventually(() => client.messages().length === 1);
      assert.deepEqual(ready(client), { worker: "w", channels: ["a", "b"], recovered: true });
      await sleep(50);
      assert.deepEqual(client.messages(), ["a1"]);
      await client.cancel();
    } finally {
      await close();
    }
  });
});

// memory://: ten events kept per channel, thirty more trim what a cursor had; a hub restart makes every log again.
runRecovered({
  name: "memory://",
  uri: () => `memory://${uniqueChannel("sse-rec").replace(/[^a-z0-9]/gi, "")}?history=10`,
  trim: async (_channel, publish) => {
    for (let i = 0; i < 30; i++) await publish(`trimmed${i}`);
  },
  replace: async (_channel, uri) => memoryHub(new URL(uri).hostname).restart(),
});

// Redis: the shared server; a stream trimmed to nothing past the cursor, or deleted and made again by the next publish.
let redis: Admin;
runRecovered({
  name: "redis://",
  uri: () => "redis://127.0.0.1:6379?history=1000",
  before: async () => void (redis = await admin()),
  after: () => redis.close(),
  trim: async (channel, publish) => {
    await publish("trimmed"); // after the cursor: what it misses
    await redis.send(["XTRIM", channel, "MAXLEN", "0"]);
    await publish("after the trim");
  },
  replace: async (channel) => void await redis.send(["DEL", channel]),
});
