import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BackboneUnavailableError, ClosedError, type EventFrame } from "../mod.ts";
import { ReplayBufferStream } from "../lib/replay_buffer_stream.ts";
import { settle } from "./_clock.ts";

const frame = (message: string): EventFrame => ({ type: "event", channel: "c", message });

/** A sink that records batches; `fail()` makes pending and later writes reject, `hold()` keeps them pending. */
function sink() {
  const batches: string[][] = [];
  let failure: Error | undefined;
  let held: { resolve(): void; reject(e: Error): void }[] | undefined;
  const stream = new WritableStream<EventFrame[]>({
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
    stream,
    batches,
    messages: () => batches.flat(),
    hold: () => void (held = []),
    fail(error = new Error("connection lost")) {
      failure = error;
      for (const h of held?.splice(0) ?? []) h.reject(error);
    },
  };
}

describe("ReplayBufferStream", () => {
  it("passes broadcasts through in order, one batch per tick, while attached", async () => {
    const stage = new ReplayBufferStream();
    const out = sink();
    await stage.attach(out.stream);
    const sent = ["a", "b", "c"].map((m) => stage.publish(frame(m)));
    await Promise.all(sent);
    assert.deepEqual(out.batches, [["a", "b", "c"]]);
    assert.equal(stage.stats.published, 3);
    assert.equal(stage.stats.buffered, 0);
  });

  it("buffers while detached and resolves each publish at once", async () => {
    const stage = new ReplayBufferStream({ capacity: 10 });
    await stage.publish(frame("a"));
    await stage.publish(frame("b"));
    assert.equal(stage.buffered, 2);
    assert.equal(stage.stats.buffered, 2);
  });

  it("replays the buffer in order on attach, before anything published after", async () => {
    const stage = new ReplayBufferStream({ capacity: 10, replayBatch: 2 });
    for (const m of ["1", "2", "3"]) await stage.publish(frame(m));
    const out = sink();
    const replay = stage.attach(out.stream);
    const later = stage.publish(frame("4")); // during the replay: goes after it
    await replay;
    await later;
    assert.deepEqual(out.messages(), ["1", "2", "3", "4"]);
    assert.deepEqual(out.batches[0], ["1", "2"]); // replayBatch frames per write
    assert.equal(stage.stats.replayed, 4, "4 waited in the buffer behind the replay");
  });

  it("drops the oldest when full, counts it and reports each dropped broadcast", async () => {
    const dropped: string[] = [];
    const stage = new ReplayBufferStream({ capacity: 3, onOverflow: (f) => dropped.push(f.message) });
    for (const m of ["1", "2", "3", "4", "5"]) await stage.publish(frame(m));
    assert.deepEqual(dropped, ["1", "2"]);
    assert.equal(stage.stats.dropped, 2);
    const out = sink();
    await stage.attach(out.stream);
    assert.deepEqual(out.messages(), ["3", "4", "5"]);
  });

  it("with capacity 0 rejects publishes while down with BackboneUnavailableError", async () => {
    const stage = new ReplayBufferStream({ capacity: 0 });
    await assert.rejects(stage.publish(frame("x")), BackboneUnavailableError);
  });

  it("buffers again, first and in order, what was in flight when the link was lost", async () => {
    const errors: unknown[] = [];
    const stage = new ReplayBufferStream({ capacity: 10, onWriteError: (e) => errors.push(e) });
    const first = sink();
    await stage.attach(first.stream);
    first.hold();
    const inFlight = [stage.publish(frame("a")), stage.publish(frame("b"))];
    await settle();
    first.fail();
    await Promise.all(inFlight); // resolved: buffered, not lost
    await settle();
    assert.equal(errors.length, 1);
    assert.equal(stage.passing, false);
    await stage.publish(frame("c"));
    const second = sink();
    await stage.attach(second.stream);
    assert.deepEqual(second.messages(), ["a", "b", "c"]);
  });

  it("detach keeps in-flight broadcasts ahead of newer buffered ones", async () => {
    const stage = new ReplayBufferStream({ capacity: 10 });
    const first = sink();
    await stage.attach(first.stream);
    first.hold();
    const inFlight = stage.publish(frame("old"));
    await settle();
    stage.detach();
    await inFlight;
    await stage.publish(frame("new"));
    const second = sink();
    await stage.attach(second.stream);
    assert.deepEqual(second.messages(), ["old", "new"]);
  });

  it("close rejects later publishes and returns every unsent broadcast, oldest first", async () => {
    const stage = new ReplayBufferStream({ capacity: 10 });
    await stage.publish(frame("a"));
    await stage.publish(frame("b"));
    const unsent = stage.close(new ClosedError());
    assert.deepEqual(unsent.map((f) => f.message), ["a", "b"]);
    await assert.rejects(stage.publish(frame("c")), ClosedError);
  });

  it("keeps at most two batches in flight and gathers the rest into one", async () => {
    const stage = new ReplayBufferStream();
    const out = sink();
    await stage.attach(out.stream);
    out.hold();
    const sent: Promise<void>[] = [stage.publish(frame("1"))];
    await settle();
    sent.push(stage.publish(frame("2")));
    await settle();
    for (const m of ["3", "4", "5"]) {
      sent.push(stage.publish(frame(m)));
      await settle();
    }
    assert.equal(stage.congested, false);
    // Nothing acknowledged yet: batch 1 and 2 in flight, 3..5 gathered together.
    assert.equal(stage.stats.published, 0);
    out.fail(new Error("stop"));
    await Promise.all(sent);
    const second = sink();
    await stage.attach(second.stream);
    assert.deepEqual(second.batches, [["1", "2", "3", "4", "5"]]);
  });
});
