/**
 * History mode in the core, on `memory://`: the option, event ids, `since`,
 * the gapless column of the fault matrix, and the default mode untouched.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Broadcast, ConfigError, type EventFrame, type Frame } from "../../mod.ts";
import { epochOf, isEpoch, placeOf } from "../../lib/contract/position.ts";
import { memoryHub } from "../../backends/memory/mod.ts";
import memory from "../../backends/memory/mod.ts";
import type { Link } from "../../lib/contract/link.ts";
import { FAST } from "../fixtures/conformance.ts";
import { type GaplessBreak, runGapless } from "../fixtures/gapless.ts";
import { runReplaced } from "../fixtures/replaced.ts";
import { readEvents, sleep, uniqueChannel } from "../fixtures/support.ts";

const hubName = () => uniqueChannel("hub").replace(/[^a-z0-9]/gi, "");

describe("history mode: the option", () => {
  it("is off by default: events carry no id, and since is refused", async () => {
    const broadcast = await Broadcast.connect(`memory://${hubName()}`, FAST);
    try {
      const reader = broadcast.subscribe("a").getReader();
      await broadcast.ready();
      await broadcast.publish("a", "x");
      const [frame] = await readEvents(reader, 1);
      assert.deepEqual(frame, { type: "event", channel: "a", message: "x" });
      assert.throws(() => broadcast.subscribe("a", { since: "oldest" }), (error: Error) =>
        error instanceof ConfigError && /subscribe option since/.test(error.message) && /history=/.test(error.message));
    } finally {
      await broadcast.disconnect();
    }
  });

  it("is turned on by the URI or by backendOptions, and bad values are named", () => {
    for (const uri of ["memory://?history=10", "memory://?history=10,30s", "memory://?history=1,7d"]) new Broadcast(uri);
    new Broadcast("memory://", { backendOptions: { history: 10 } });
    new Broadcast("memory://", { backendOptions: { history: { messages: 5, maxAge: 1000 } } });
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ["memory://?history=0", {}, /URI parameter history/],
      ["memory://?history=ten", {}, /URI parameter history.*"ten"/],
      ["memory://?history=10,3x", {}, /URI parameter history/],
      ["memory://?history=10&history=20", {}, /URI parameter history/],
      ["memory://", { history: -1 }, /backendOptions\.history/],
      ["memory://", { history: { messages: 10, extra: 1 } }, /backendOptions\.history/],
      ["memory://?history=10", { history: 10 }, /once/],
    ];
    for (const [uri, backendOptions, message] of bad) {
      assert.throws(() => new Broadcast(uri, { backendOptions }), (error: Error) => error instanceof ConfigError && message.test(error.message), uri);
    }
  });

  it("refuses a since that is not a position", () => {
    const broadcast = new Broadcast("memory://?history=10");
    for (const since of ["", "x", "1-", "-1", "01", 5]) {
      assert.throws(() => broadcast.subscribe("a", { since: since as string }), (error: Error) =>
        error instanceof ConfigError && /subscribe option since/.test(error.message), String(since));
    }
  });
});

describe("history mode on memory://", () => {
  it("events carry ordered ids; since starts right after one, at the oldest, or with what is new", async () => {
    const broadcast = await Broadcast.connect(`memory://${hubName()}?history=100`, FAST);
    try {
      const live = broadcast.subscribe("a").getReader();
      await broadcast.ready();
      for (let n = 0; n < 5; n++) await broadcast.publish("a", `m${n}`);
      const frames = await readEvents(live, 5);
      const ids = frames.map((f) => f.type === "event" ? f.id ?? "" : "");
      assert.deepEqual(ids.map(placeOf), ["1", "2", "3", "4", "5"]);
      const epochs = new Set(ids.map(epochOf));
      assert.equal(epochs.size, 1, "one epoch: the hub's");
      assert.ok(isEpoch(epochOf(ids[0]) ?? ""), `an epoch in ${ids[0]}`);
      const after2 = await readEvents(broadcast.subscribe("a", { since: ids[1] }).getReader(), 3);
      assert.deepEqual(after2.map((f) => f.type === "event" && f.message), ["m2", "m3", "m4"]);
      const oldest = await readEvents(broadcast.subscribe("a", { since: "oldest" }).getReader(), 5);
      assert.deepEqual(oldest.map((f) => f.type === "event" && f.message), ["m0", "m1", "m2", "m3", "m4"]);
      const fresh = broadcast.subscribe("a", { since: "new" }).getReader();
      await broadcast.publish("a", "m5");
      const [next] = await readEvents(fresh, 1);
      assert.equal(next.type === "event" && next.message, "m5");
    } finally {
      await broadcast.disconnect();
    }
  });

  it("a subscriber starting from a position while events flow gets the exact suffix, once each", async () => {
    const uri = `memory://${hubName()}?history=5000`;
    const [publisher, subscriber] = await Promise.all([0, 1].map(() => Broadcast.connect(uri, FAST)));
    try {
      const all: Frame[] = [];
      const reader = subscriber.subscribe("a").getReader();
      await subscriber.ready();
      let pumping = true;
      const pump = (async () => {
        for (let n = 0; pumping; n++) {
          await publisher.publish("a", `m${n}`);
          if (n % 7 === 0) await sleep(0);
        }
      })();
      const latecomers: { from: number; frames: Frame[]; stream: ReadableStream<Frame> }[] = [];
      for (let i = 0; i < 10; i++) {
        const { value } = await reader.read();
        all.push(value!);
        const from = all.length;
        const stream = subscriber.subscribe("a", { since: value!.type === "event" ? value!.id : "" });
        latecomers.push({ from, frames: [], stream });
        for (let k = 0; k < 30; k++) all.push((await reader.read()).value!);
      }
      pumping = false;
      await pump;
      const total = Number(placeOf((all.at(-1) as { id: string }).id));
      while (all.length < total) all.push((await reader.read()).value!);
      const messages = all.map((f) => f.type === "event" ? f.message : "resync");
      for (const late of latecomers) {
        const got = await readEvents(late.stream.getReader(), total - late.from, 10_000);
        assert.deepEqual(got.map((f) => f.type === "event" ? f.message : "resync"), messages.slice(late.from));
      }
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });

  it("a link lost while events are published resumes after the last event: no resync, nothing missed or twice", async () => {
    const name = hubName();
    const publisher = await Broadcast.connect(`memory://${name}?history=1000`, FAST);
    const { broadcast: subscriber, links } = await watched(`memory://${name}?history=1000`, 50);
    try {
      const reader = subscriber.subscribe("a").getReader();
      await subscriber.ready();
      await publisher.publish("a", "before");
      await links[0].close(); // the link is gone: 50 ms until the next
      await Promise.all(Array.from({ length: 100 }, (_, n) => publisher.publish("a", `during${n}`)));
      const frames = await readEvents(reader, 101);
      await publisher.publish("a", "after");
      frames.push(...await readEvents(reader, 1));
      assert.equal(links.length, 2, "one reconnect");
      assert.deepEqual(frames.map((f) => f.type === "event" ? f.message : f.reason), [
        "before",
        ...Array.from({ length: 100 }, (_, n) => `during${n}`),
        "after",
      ]);
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });

  it("a publish whose acknowledgement was lost is sent again, kept twice, and delivered once", async () => {
    const name = hubName();
    const publisher = await duplicatingPublisher(name);
    const subscriber = await Broadcast.connect(`memory://${name}?history=1000`, FAST);
    try {
      const reader = subscriber.subscribe("a").getReader();
      await subscriber.ready();
      await publisher.publish("a", "once");
      await publisher.publish("a", "next");
      const frames = await readEvents(reader, 2);
      await sleep(50);
      const history = await readEvents(subscriber.subscribe("a", { since: "oldest" }).getReader(), 2);
      assert.deepEqual(frames.map((f) => f.type === "event" && f.message), ["once", "next"]);
      assert.deepEqual(history.map((f) => f.type === "event" && f.message), ["once", "next"]);
      assert.deepEqual(frames.map((f) => f.type === "event" && placeOf(f.id!)), ["1", "3"], "the hub kept the copy, as 2");
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });

  it("a stream that starts after the original of a publish kept twice does not get its copy", async () => {
    const name = hubName();
    const publisher = await duplicatingPublisher(name);
    const subscriber = await Broadcast.connect(`memory://${name}?history=1000`, FAST);
    try {
      const live = subscriber.subscribe("a").getReader();
      await subscriber.ready();
      await publisher.publish("a", "once");
      await publisher.publish("a", "next");
      const [once] = await readEvents(live, 2); // "once" is 1, its copy 2, "next" 3
      const resumed = subscriber.subscribe("a", { since: once.type === "event" ? once.id : "" }).getReader();
      const got = await readEvents(resumed, 1);
      await subscriber.publish("a", "after");
      got.push(...await readEvents(resumed, 1));
      assert.deepEqual(got.map((f) => f.type === "event" ? f.message : f.reason), ["next", "after"]);
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });

  it("a slow subscriber refilled from after the original of a publish kept twice does not get its copy", async () => {
    const name = hubName();
    const publisher = await duplicatingPublisher(name);
    const subscriber = await Broadcast.connect(`memory://${name}?history=1000`, FAST);
    try {
      const slow = subscriber.subscribe("a", { highWaterMark: 4 }).getReader();
      await subscriber.ready();
      await publisher.publish("a", "once");
      const [first] = await readEvents(slow, 1); // it has "once", then stops reading
      assert.equal(first.type === "event" && placeOf(first.id!), "1");
      await publisher.publish("a", "next"); // the copy of "once" is kept as 2, "next" as 3
      for (let n = 0; n < 20; n++) await publisher.publish("a", `m${n}`);
      await sleep(100); // it overflowed: what it had not read comes again from history
      const rest = await readEvents(slow, 21);
      assert.deepEqual(rest.map((f) => f.type === "event" ? f.message : f.reason), ["next", ...Array.from({ length: 20 }, (_, n) => `m${n}`)]);
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });

  it("a stream that starts after a position its instance has not reached yet gets only what comes after it", async () => {
    const name = hubName();
    const publisher = await Broadcast.connect(`memory://${name}?history=1000`, FAST);
    const { broadcast: lagging, links } = await watched(`memory://${name}?history=1000`, 100);
    try {
      const own = lagging.subscribe("a").getReader();
      await lagging.ready();
      await links[0].close(); // it is away for 100 ms
      await Promise.all(Array.from({ length: 10 }, (_, n) => publisher.publish("a", `m${n + 1}`)));
      // A client that had m8 elsewhere comes to this instance, which has not caught up yet.
      const resumed = lagging.subscribe("a", { since: `${memoryHub(name).epoch}:8` }).getReader();
      await readEvents(own, 10);
      await publisher.publish("a", "m11");
      const got = await readEvents(resumed, 3);
      await sleep(50);
      assert.deepEqual(got.map((f) => f.type === "event" ? f.message : f.reason), ["m9", "m10", "m11"]);
    } finally {
      await Promise.all([publisher.disconnect(), lagging.disconnect()]);
    }
  });

  it("a stream that starts after a position this hub's log has not reached (forged, or issued before epochs) gets one resync frame (gap), then what comes", async () => {
    const name = hubName();
    const broadcast = await Broadcast.connect(`memory://${name}?history=100`, FAST);
    try {
      const own = broadcast.subscribe("a").getReader();
      await broadcast.ready();
      for (let n = 1; n <= 3; n++) await broadcast.publish("a", `m${n}`);
      await readEvents(own, 3);
      for (const since of [`${memoryHub(name).epoch}:70`, "70"]) {
        const gaps: unknown[] = [];
        const listener = (event: CustomEvent) => void gaps.push(event.detail);
        broadcast.addEventListener("resync", listener);
        const stale = broadcast.subscribe("a", { since });
        const next = [1, 2, 3].map((n) => `after ${since}: ${n}`);
        for (const message of next) await broadcast.publish("a", message);
        const got = await readEvents(stale.getReader(), 3, 10_000);
        broadcast.removeEventListener("resync", listener);
        assert.deepEqual(got.map((f) => f.type === "event" ? f.message : f.reason), ["gap", ...next], since);
        assert.deepEqual(gaps, [{ channels: 1, reason: "gap", channel: "a" }], since);
        assert.deepEqual(await stale.recovery, { recovered: false, reason: "unknown" }, since);
      }
    } finally {
      await broadcast.disconnect();
    }
  });

  it("a stream that starts after another hub's position gets one resync frame (gap), then this hub's log from its oldest", async () => {
    const [here, there] = [hubName(), hubName()];
    const broadcast = await Broadcast.connect(`memory://${here}?history=100`, FAST);
    const elsewhere = await Broadcast.connect(`memory://${there}?history=100`, FAST);
    try {
      const theirs = elsewhere.subscribe("a").getReader();
      await elsewhere.ready();
      for (let n = 1; n <= 2; n++) await elsewhere.publish("a", `x${n}`);
      const [, x2] = await readEvents(theirs, 2);
      for (let n = 1; n <= 3; n++) await broadcast.publish("a", `m${n}`);
      // A client that had x2 on the other hub comes here: its position means nothing in this hub's log.
      const stale = broadcast.subscribe("a", { since: x2.type === "event" ? x2.id : "" });
      const reader = stale.getReader();
      const got = await readEvents(reader, 3);
      await broadcast.publish("a", "m4");
      got.push(...await readEvents(reader, 1));
      assert.deepEqual(got.map((f) => f.type === "event" ? f.message : f.reason), ["gap", "m1", "m2", "m3", "m4"]);
      assert.deepEqual(await stale.recovery, { recovered: false, reason: "replaced" });
    } finally {
      await Promise.all([broadcast.disconnect(), elsewhere.disconnect()]);
    }
  });

  it("a link that comes back beyond retention: one resync frame (gap) per stream and a resync event, then the oldest kept", async () => {
    const name = hubName();
    const publisher = await Broadcast.connect(`memory://${name}?history=20`, FAST);
    const { broadcast: subscriber, links } = await watched(`memory://${name}?history=20`, 50);
    try {
      const readers = [subscriber.subscribe("a").getReader(), subscriber.subscribe("a").getReader()];
      await subscriber.ready();
      await publisher.publish("a", "before");
      const gaps: unknown[] = [];
      subscriber.addEventListener("resync", (event) => gaps.push(event.detail));
      await links[0].close();
      await Promise.all(Array.from({ length: 100 }, (_, n) => publisher.publish("a", `during${n}`)));
      for (const reader of readers) {
        const frames = await readEvents(reader, 21);
        assert.deepEqual(frames.map((f) => f.type === "event" ? f.message : f.reason), [
          "before",
          "gap",
          ...Array.from({ length: 20 }, (_, n) => `during${80 + n}`),
        ]);
      }
      assert.deepEqual(gaps, [{ channels: 1, reason: "gap", channel: "a" }]);
    } finally {
      await Promise.all([publisher.disconnect(), subscriber.disconnect()]);
    }
  });
});

runGapless({
  name: "memory://",
  options: FAST,
  uri: (history) => `memory://${hubName()}?history=${history}`,
  outages: { "a hub cut": hubOutage("cut"), "a hub that stalls (half-open)": hubOutage("stall") },
  retention: { slow: { history: "10000" }, byCount: { history: "50", published: 300 }, byAge: { history: "1000,100ms" } },
});

/** A hub of its own that the replaced-history column restarts: every test on it uses channels of its own. */
const restarted = hubName();

runReplaced({
  name: "memory://",
  options: FAST,
  uri: () => `memory://${restarted}?history=1000`,
  cases: { "a hub restart": { replace: async () => memoryHub(restarted).restart() } },
});

/** An outage of a hub of its own: `act` breaks it, `restore()` mends it. */
function hubOutage(act: "cut" | "stall"): GaplessBreak {
  const name = hubName();
  return {
    uri: () => `memory://${name}?history=10000`,
    break: async () => memoryHub(name)[act](),
    restore: async () => memoryHub(name).restore(),
  };
}

/** A Broadcast whose links are kept in `links`, to be closed by the test; it reconnects after `delay` ms. */
async function watched(uri: string, delay: number): Promise<{ broadcast: Broadcast; links: Link[] }> {
  const links: Link[] = [];
  const broadcast = await Broadcast.connect(uri, {
    ...FAST,
    reconnect: { minDelay: delay, maxDelay: delay },
    backend: (url, context) => {
      const connector = memory(url, context);
      return { open: async (signal) => links[links.push(await connector.open(signal)) - 1] };
    },
  });
  return { broadcast, links };
}

/** A publisher whose first batch reaches the hub but whose answer is lost with the connection: the hub keeps it twice. */
function duplicatingPublisher(name: string): Promise<Broadcast> {
  let lost = 0;
  return Broadcast.connect(`memory://${name}?history=1000`, {
    ...FAST,
    backend: (uri, context) => {
      const connector = memory(uri, context);
      return {
        open: async (signal) => {
          const link = await connector.open(signal);
          const writer = link.writable.getWriter();
          const writable = new WritableStream<EventFrame[]>({
            write: async (batch) => {
              await writer.write(batch);
              if (lost++ > 0) return;
              await link.close();
              throw new Error("connection lost before the answer");
            },
          });
          return withWritable(link, writable);
        },
      };
    },
  });
}

/** `link` writing through `writable` instead. */
function withWritable(link: Link, writable: WritableStream<EventFrame[]>): Link {
  return {
    readable: link.readable,
    writable,
    subscribe: (channel, start) => link.subscribe(channel, start),
    unsubscribe: (channel) => link.unsubscribe(channel),
    ping: () => link.ping(),
    close: () => link.close(),
    read: (channel, after, upTo, limit) => link.read!(channel, after, upTo, limit),
  };
}
