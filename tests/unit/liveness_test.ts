import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BackboneUnavailableError } from "../../mod.ts";
import { abortable } from "../../lib/util/abortable.ts";
import { watchLiveness } from "../../lib/connection/liveness.ts";
import { ManualClock } from "../fixtures/clock.ts";

describe("watchLiveness", () => {
  it("keeps probing while the backbone answers", async () => {
    const clock = new ManualClock();
    const life = new AbortController();
    let pings = 0;
    const watching = watchLiveness(async () => void pings++, life.signal, { interval: 100, timeout: 50, clock });
    await clock.advance(1_000);
    assert.equal(pings, 10);
    life.abort();
    assert.equal(await watching, undefined);
    assert.equal(clock.pending, 0, "no timer left behind");
  });

  it("condemns the link when a probe goes unanswered for the timeout", async () => {
    const clock = new ManualClock();
    const watching = watchLiveness(() => new Promise(() => {}), new AbortController().signal, {
      interval: 100,
      timeout: 50,
      clock,
    });
    let settled = false;
    watching.then(() => settled = true);
    await clock.advance(149);
    assert.equal(settled, false);
    await clock.advance(1);
    const error = await watching;
    assert.ok(error instanceof BackboneUnavailableError);
    assert.match(error.message, /did not answer a liveness probe within 50 ms/);
    assert.equal(clock.pending, 0);
  });

  it("passes on the error of a probe that fails", async () => {
    const clock = new ManualClock();
    const watching = watchLiveness(() => Promise.reject(new Error("socket closed")), new AbortController().signal, {
      interval: 10,
      timeout: 50,
      clock,
    });
    await clock.advance(10);
    assert.match(String(await watching), /socket closed/);
  });

  it("with interval 0 does not probe at all", async () => {
    const clock = new ManualClock();
    assert.equal(await watchLiveness(() => Promise.reject(new Error()), new AbortController().signal, { interval: 0, timeout: 1, clock }), undefined);
    assert.equal(clock.pending, 0);
  });
});

describe("abortable", () => {
  it("rejects with the abort reason when the signal aborts first, and passes results through otherwise", async () => {
    const controller = new AbortController();
    const pending = abortable(new Promise(() => {}), controller.signal);
    controller.abort(new Error("gave up waiting"));
    await assert.rejects(pending, /gave up waiting/);
    assert.equal(await abortable(Promise.resolve(7), new AbortController().signal), 7);
  });
});
