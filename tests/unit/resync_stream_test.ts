import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EventFrame, Frame } from "../../mod.ts";
import { ResyncStream } from "../../lib/pipeline/resync_stream.ts";

const event = (message: string): EventFrame => ({ type: "event", channel: "a", message });

async function take(reader: ReadableStreamDefaultReader<Frame[]>, batches: number): Promise<Frame[][]> {
  const out: Frame[][] = [];
  for (let i = 0; i < batches; i++) out.push((await reader.read()).value!);
  return out;
}

describe("ResyncStream", () => {
  it("passes batches of events through unchanged", async () => {
    const stage = new ResyncStream();
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    writer.write([event("1"), event("2")]);
    writer.write([event("3")]);
    assert.deepEqual(await take(reader, 2), [[event("1"), event("2")], [event("3")]]);
  });

  it("injects one resync frame per channel after a gap, in order with the events", async () => {
    const stage = new ResyncStream();
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    const read = take(reader, 3);
    await writer.write([event("before")]);
    stage.gap();
    assert.equal(stage.inGap, true);
    assert.equal(stage.resync(["a", "b"]), 2);
    await writer.write([event("after")]);
    const [first, second, third] = await read;
    assert.deepEqual(first, [event("before")]);
    assert.deepEqual(second, [
      { type: "resync", channel: "a", reason: "reconnect" },
      { type: "resync", channel: "b", reason: "reconnect" },
    ]);
    assert.deepEqual(third, [event("after")]);
    assert.equal(stage.inGap, false);
  });

  it("injects nothing without a gap, and once per gap however many drops it held", () => {
    const stage = new ResyncStream();
    assert.equal(stage.resync(["a"]), 0);
    stage.gap();
    stage.gap();
    stage.gap();
    assert.equal(stage.resync(["a"]), 1);
    assert.equal(stage.resync(["a"]), 0);
    assert.equal(stage.resyncs, 1);
  });

  it("forgive closes a gap without a frame (resync on reconnect disabled)", () => {
    const stage = new ResyncStream();
    stage.gap();
    stage.forgive();
    assert.equal(stage.inGap, false);
    assert.equal(stage.resync(["a"]), 0);
  });

  it("accepts batches from one link after another", async () => {
    const stage = new ResyncStream();
    const reader = stage.readable.getReader();
    const read = take(reader, 2);
    for (const message of ["first link", "second link"]) {
      let sent = false;
      const link = new ReadableStream<EventFrame[]>({
        pull(controller) {
          if (sent) return controller.error(new Error("lost"));
          sent = true;
          controller.enqueue([event(message)]);
        },
      });
      await assert.rejects(link.pipeTo(stage.writable, { preventAbort: true, preventClose: true }), /lost/);
    }
    assert.deepEqual((await read).flat().map((f) => f.type === "event" && f.message), ["first link", "second link"]);
  });
});

describe("ResyncStream: resync frames from a link that lives on (a cluster's shard mended)", () => {
  const on = (channel: string, message: string): EventFrame => ({ type: "event", channel, message });
  const reconnect = (channel: string): Frame => ({ type: "resync", channel, reason: "reconnect" });

  it("passes each on, told once per channel, and the frames it injects itself are not told", async () => {
    const told: string[] = [];
    const stage = new ResyncStream({ onLinkResync: (channel) => told.push(channel) > 0 });
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    const read = take(reader, 2);
    await writer.write([on("a", "1"), reconnect("a"), on("a", "2"), on("b", "1")]);
    stage.gap();
    stage.resync(["a", "b"]);
    assert.deepEqual(await read, [[on("a", "1"), reconnect("a"), on("a", "2"), on("b", "1")], [reconnect("a"), reconnect("b")]]);
    assert.deepEqual(told, ["a"], "only the link's own frame");
  });

  it("holds them back when told so (resyncs on reconnect turned off), the events around them kept", async () => {
    const stage = new ResyncStream({ onLinkResync: () => false });
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    const read = take(reader, 1);
    await writer.write([on("a", "1"), reconnect("a"), on("a", "2")]);
    assert.deepEqual(await read, [[on("a", "1"), on("a", "2")]]);
  });
});

describe("ResyncStream: a link's resync frame while a gap is open", () => {
  it("is left out: the frame that closes the gap stands for it", async () => {
    const told: string[] = [];
    const stage = new ResyncStream({ onLinkResync: (channel) => told.push(channel) > 0 });
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    const read = take(reader, 2);
    stage.gap();
    await writer.write([{ type: "resync", channel: "a", reason: "reconnect" }, event("1")]);
    stage.resync(["a"]);
    assert.deepEqual(await read, [[event("1")], [{ type: "resync", channel: "a", reason: "reconnect" }]]);
    assert.deepEqual(told, []);
  });
});
