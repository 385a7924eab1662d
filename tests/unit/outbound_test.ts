/**
 * The outbound half of the pipeline: publish() → TickBatcher →
 * ReplayBufferStream → LinkSink → a link's writable, moved from link to link.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BackboneUnavailableError, type EventFrame, type Link } from "../../mod.ts";
import { outboundBatch } from "../../lib/pipeline/outbound_batch.ts";
import { Pipeline } from "../../lib/pipeline/pipeline.ts";
import { ReplayBufferStream } from "../../lib/pipeline/replay_buffer_stream.ts";
import { type Deferred, deferred } from "../../lib/util/deferred.ts";
import { settle } from "../fixtures/clock.ts";

const frame = (message: string): EventFrame => ({ type: "event", channel: "c", message });

/** A link whose writable records batches; `fail()` makes pending and later writes reject, `hold()` keeps them pending. */
function link(): { link: Link; batches: string[][]; messages(): string[]; hold(): void; fail(error?: Error): void } {
  const batches: string[][] = [];
  let failure: Error | undefined;
  let held: { resolve(): void; reject(e: Error): void }[] | undefined;
  const writable = new WritableStream<EventFrame[]>({
    write(batch) {
      if (failure) throw failure;
      if (held) {
        return new Promise<void>((resolve, reject) => held!.push({ resolve, reject })).then(() => {
          batches.push(batch.map((f) => f.message));
        });
      }
      batches.push(batch.map((f) => f.message));
    },
  });
  return {
    link: { writable } as Link,
    batches,
    messages: () => batches.flat(),
    hold: () => void (held = []),
    fail(error = new Error("connection lost")) {
      failure = error;
      for (const h of held?.splice(0) ?? []) h.reject(error);
    },
  };
}

function outbound(replayBufferSize = 10_000, subscribing?: () => Promise<void> | undefined) {
  const log = { writeErrors: [] as unknown[], overflowed: [] as string[] };
  const pipeline = new Pipeline({
    replayBufferSize,
    subscribing,
    subscriberBuffer: 100,
    onWriteError: (error) => {
      log.writeErrors.push(error);
      pipeline.detach();
    },
    onReplayOverflow: (dropped) => log.overflowed.push(dropped.message),
    onFirstSubscriber: () => {},
    onLastSubscriber: () => {},
    onSubscriberOverflow: () => {},
  });
  return { pipeline, log, publish: (message: string) => pipeline.publish(frame(message)) };
}

describe("the outbound pipeline", () => {
  it("passes broadcasts through in order, one batch per tick, while attached", async () => {
    const { pipeline, publish } = outbound();
    const out = link();
    await pipeline.send(out.link);
    await Promise.all(["a", "b", "c"].map(publish));
    assert.deepEqual(out.batches, [["a", "b", "c"]]);
    assert.equal(pipeline.stats.published, 3);
    assert.equal(pipeline.stats.buffered, 0);
  });

  it("gathers its counters in one place: a frame the backbone refused is dropped, not published", async () => {
    const { pipeline, publish } = outbound(10);
    await publish("kept"); // buffered: no link yet
    const out = link();
    await pipeline.send(out.link);
    await publish("refused");
    pipeline.backboneDropped("outbound"); // what the backend reports for it through its context
    pipeline.backboneDropped("inbound");
    assert.deepEqual(pipeline.stats, { published: 1, delivered: 0, buffered: 1, replayed: 1, dropped: 2, resyncs: 0, refilled: 0 });
  });

  it("buffers while detached and resolves each publish at once", async () => {
    const { pipeline, publish } = outbound(10);
    await publish("a");
    await publish("b");
    assert.equal(pipeline.backlog, 2);
    assert.equal(pipeline.stats.buffered, 2);
  });

  it("replays the buffer in order on attach, before anything published after", async () => {
    const { pipeline, publish } = outbound(10);
    for (const m of ["1", "2", "3"]) await publish(m);
    const out = link();
    const replay = pipeline.send(out.link);
    const later = publish("4"); // during the replay: goes after it
    await replay;
    await later;
    assert.deepEqual(out.messages(), ["1", "2", "3", "4"]);
    assert.equal(pipeline.stats.replayed >= 3, true);
  });

  it("holds the replay while subscriptions are in flight, then sends it in order with what was published meanwhile", async () => {
    let inFlight: Deferred<void> | undefined = deferred();
    const { pipeline, publish } = outbound(10, () => inFlight?.promise);
    for (const m of ["1", "2"]) await publish(m);
    const out = link();
    const replay = pipeline.send(out.link);
    await settle();
    assert.deepEqual(out.messages(), [], "nothing goes out while a subscription is in flight");
    await publish("3"); // kept behind the replay
    assert.equal(pipeline.backlog, 3);
    const subscribed = inFlight;
    inFlight = undefined;
    subscribed.resolve();
    await replay;
    assert.deepEqual(out.messages(), ["1", "2", "3"]);
    await publish("4");
    assert.deepEqual(out.messages(), ["1", "2", "3", "4"]);
  });

  it("a link lost while its replay is held leaves the buffer whole for the next link", async () => {
    let inFlight: Deferred<void> | undefined = deferred();
    const { pipeline, publish } = outbound(10, () => inFlight?.promise);
    for (const m of ["1", "2"]) await publish(m);
    const first = link();
    const replay = pipeline.send(first.link);
    await settle();
    pipeline.detach();
    const subscribed = inFlight; // a lost link ends what was in flight on it
    inFlight = undefined;
    subscribed.resolve();
    await replay;
    assert.deepEqual(first.messages(), []);
    assert.equal(pipeline.backlog, 2);
    const second = link();
    await pipeline.send(second.link);
    assert.deepEqual(second.messages(), ["1", "2"]);
  });

  it("drops the oldest when full, counts it and reports each dropped broadcast", async () => {
    const { pipeline, publish, log } = outbound(3);
    for (const m of ["1", "2", "3", "4", "5"]) await publish(m);
    assert.deepEqual(log.overflowed, ["1", "2"]);
    assert.equal(pipeline.stats.dropped, 2);
    const out = link();
    await pipeline.send(out.link);
    assert.deepEqual(out.messages(), ["3", "4", "5"]);
  });

  it("with the buffer disabled rejects publishes while down with BackboneUnavailableError", async () => {
    const { publish } = outbound(0);
    await assert.rejects(publish("x"), BackboneUnavailableError);
  });

  it("buffers again, first and in order, what was in flight when the link was lost", async () => {
    const { pipeline, publish, log } = outbound(10);
    const first = link();
    await pipeline.send(first.link);
    first.hold();
    const inFlight = [publish("a"), publish("b")];
    await settle();
    first.fail();
    await Promise.all(inFlight); // resolved: buffered, not lost
    await settle();
    assert.equal(log.writeErrors.length, 1);
    await publish("c");
    assert.equal(pipeline.backlog, 3, "the link is let go of: a publish is buffered behind the two given back");
    const second = link();
    await pipeline.send(second.link);
    assert.deepEqual(second.messages(), ["a", "b", "c"]);
  });

  it("a detach keeps batches in flight and queued ahead of newer buffered ones", async () => {
    const { pipeline, publish } = outbound(10);
    const first = link();
    await pipeline.send(first.link);
    first.hold();
    const sent = [publish("old1")];
    await settle();
    sent.push(publish("old2"));
    await settle();
    sent.push(publish("old3")); // queued behind two in flight
    await settle();
    pipeline.detach();
    sent.push(publish("new"));
    await Promise.all(sent);
    const second = link();
    await pipeline.send(second.link);
    assert.deepEqual(second.messages(), ["old1", "old2", "old3", "new"]);
  });

  it("a link attached right after a detach still gets the old batches first", async () => {
    const { pipeline, publish } = outbound(10);
    const first = link();
    await pipeline.send(first.link);
    first.hold();
    const sent = ["1", "2", "3", "4"].map(publish);
    await settle();
    pipeline.detach();
    const second = link();
    const replay = pipeline.send(second.link); // no tick in between
    sent.push(publish("5"));
    await replay;
    await Promise.all(sent);
    assert.deepEqual(second.messages(), ["1", "2", "3", "4", "5"]);
  });

  it("end() flushes what is queued; drain() returns what was never sent, oldest first", async () => {
    const { pipeline, publish } = outbound(10);
    await publish("a");
    const b = publish("b");
    await pipeline.end();
    await b;
    assert.deepEqual(pipeline.drain().map((f) => f.message), ["a", "b"]);
    assert.deepEqual(pipeline.drain(), []);
  });

  it("keeps at most two batches in flight; the rest wait, in order", async () => {
    const { pipeline, publish } = outbound();
    const out = link();
    await pipeline.send(out.link);
    out.hold();
    const sent: Promise<void>[] = [];
    for (const m of ["1", "2", "3", "4", "5"]) {
      sent.push(publish(m));
      await settle();
    }
    assert.equal(pipeline.congested, true);
    assert.equal(pipeline.stats.published, 0, "nothing acknowledged yet");
    out.fail(new Error("stop"));
    await Promise.all(sent);
    const second = link();
    await pipeline.send(second.link);
    assert.deepEqual(second.batches, [["1", "2", "3", "4", "5"]]);
  });
});

describe("the outbound stage on its own", () => {
  it("a replay that meets the end of the stream leaves its frames for drain()", async () => {
    const stage = new ReplayBufferStream({ capacity: 10 });
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    const first = reader.read(); // a pipe is always reading
    await writer.write(outboundBatch([frame("1")]));
    await writer.write(outboundBatch([frame("2")]));
    const attached = stage.attach(new WritableStream()); // the supervisor, after the settle time
    const closing = writer.close(); // disconnect, in the same tick
    const marker = (await first).value;
    assert.ok(marker && "attach" in marker);
    marker.reached();
    await attached;
    await closing;
    let sent = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      if ("frames" in read.value) sent += read.value.frames.length;
    }
    assert.equal(sent + stage.drain().length, 2, "every buffered frame is replayed or returned as unsent");
  });
});
