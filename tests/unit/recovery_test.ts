/**
 * What a subscription that starts at a position says of itself (`recovery`),
 * on memory:// in history mode: recovered, or not and why; and what a
 * position issued before epochs gets.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Broadcast, type Frame } from "../../mod.ts";
import { memoryHub } from "../../backends/memory/mod.ts";
import { epochOf, placeOf } from "../../lib/contract/position.ts";
import { FAST } from "../fixtures/conformance.ts";
import { readEvents, uniqueChannel } from "../fixtures/support.ts";

const hubName = () => uniqueChannel("hub").replace(/[^a-z0-9]/gi, "");

/** A hub of its own with `count` events on channel "a" (`m1`…), and their ids. */
async function withEvents(count: number, history = 100): Promise<{ broadcast: Broadcast; name: string; ids: string[] }> {
  const name = hubName();
  const broadcast = await Broadcast.connect(`memory://${name}?history=${history}`, FAST);
  const reader = broadcast.subscribe("a").getReader();
  await broadcast.ready();
  for (let n = 1; n <= count; n++) await broadcast.publish("a", `m${n}`);
  const frames = await readEvents(reader, count);
  await reader.cancel();
  return { broadcast, name, ids: frames.map((f) => f.type === "event" ? f.id! : "") };
}

const text = (frames: Frame[]) => frames.map((f) => f.type === "event" ? f.message : `<${f.reason}>`);

describe("recovery: whether a stream that starts at a position got everything after it", () => {
  it("a position the log keeps: recovered, and exactly what came after it", async () => {
    const { broadcast, ids } = await withEvents(5);
    try {
      const stream = broadcast.subscribe("a", { since: ids[2] });
      assert.deepEqual(text(await readEvents(stream.getReader(), 2)), ["m4", "m5"]);
      assert.deepEqual(await stream.recovery, { recovered: true });
    } finally {
      await broadcast.disconnect();
    }
  });

  it("the last position, the oldest, or what is new: recovered", async () => {
    const { broadcast, ids } = await withEvents(3);
    try {
      for (const since of [ids[2], "oldest", "new", undefined]) {
        const stream = broadcast.subscribe("a", since === undefined ? {} : { since });
        assert.deepEqual(await stream.recovery, { recovered: true }, String(since));
        await stream.cancel();
      }
    } finally {
      await broadcast.disconnect();
    }
  });

  it("a position from before the hub restarted (another epoch): not recovered, replaced; a resync frame (gap), then the new log", async () => {
    const { broadcast, name, ids } = await withEvents(3);
    try {
      memoryHub(name).restart();
      for (const message of ["n1", "n2"]) await broadcast.publish("a", message);
      await broadcast.ready();
      const stream = broadcast.subscribe("a", { since: ids[1] });
      assert.deepEqual(text(await readEvents(stream.getReader(), 2)), ["<gap>", "n1", "n2"]);
      assert.deepEqual(await stream.recovery, { recovered: false, reason: "replaced" });
    } finally {
      await broadcast.disconnect();
    }
  });

  it("a position beyond retention: not recovered, gap; a resync frame (gap), then the oldest kept", async () => {
    const { broadcast, ids } = await withEvents(20, 5);
    try {
      const stream = broadcast.subscribe("a", { since: ids[0] });
      assert.deepEqual(text(await readEvents(stream.getReader(), 5)), ["<gap>", "m16", "m17", "m18", "m19", "m20"]);
      assert.deepEqual(await stream.recovery, { recovered: false, reason: "gap" });
    } finally {
      await broadcast.disconnect();
    }
  });

  it("a position of this log it never reached: not recovered, unknown; a resync frame (gap), then what comes", async () => {
    const { broadcast, ids } = await withEvents(3);
    try {
      const stream = broadcast.subscribe("a", { since: `${epochOf(ids[0])}:99` });
      const reader = stream.getReader();
      assert.deepEqual(await stream.recovery, { recovered: false, reason: "unknown" });
      await broadcast.publish("a", "m4");
      assert.deepEqual(text(await readEvents(reader, 1)), ["<gap>", "m4"]);
    } finally {
      await broadcast.disconnect();
    }
  });

  it("a stream cancelled before it knew: not recovered (unreadable)", async () => {
    const { broadcast, ids } = await withEvents(3);
    try {
      const stream = broadcast.subscribe("a", { since: `${epochOf(ids[0])}:99` }); // waits for the log to reach 99
      await stream.cancel();
      assert.deepEqual(await stream.recovery, { recovered: false, reason: "unreadable" });
    } finally {
      await broadcast.disconnect();
    }
  });
});

describe("a position issued before epochs (a bare place, such as \"3\")", () => {
  it("is read as that place in the hub's log now: recovered, exactly what came after it", async () => {
    const { broadcast, ids } = await withEvents(5);
    try {
      assert.equal(placeOf(ids[2]), "3");
      const stream = broadcast.subscribe("a", { since: "3" });
      assert.deepEqual(text(await readEvents(stream.getReader(), 2)), ["m4", "m5"]);
      assert.deepEqual(await stream.recovery, { recovered: true });
    } finally {
      await broadcast.disconnect();
    }
  });

  it("beyond retention it is a gap, as before", async () => {
    const { broadcast } = await withEvents(20, 5);
    try {
      const stream = broadcast.subscribe("a", { since: "1" });
      assert.deepEqual(text(await readEvents(stream.getReader(), 5)), ["<gap>", "m16", "m17", "m18", "m19", "m20"]);
      assert.deepEqual(await stream.recovery, { recovered: false, reason: "gap" });
    } finally {
      await broadcast.disconnect();
    }
  });

  it("after a restart it is still read as a place in the new log: with no epoch, nothing tells the logs apart", async () => {
    const { broadcast, name } = await withEvents(3);
    try {
      memoryHub(name).restart();
      for (const message of ["n1", "n2", "n3"]) await broadcast.publish("a", message);
      await broadcast.ready();
      const stream = broadcast.subscribe("a", { since: "2" }); // issued before epochs, by the old log
      assert.deepEqual(text(await readEvents(stream.getReader(), 1)), ["n3"]);
      assert.deepEqual(await stream.recovery, { recovered: true });
    } finally {
      await broadcast.disconnect();
    }
  });
});
