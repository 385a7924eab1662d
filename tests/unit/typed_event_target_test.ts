import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TypedEventTarget } from "../../lib/util/typed_event_target.ts";

interface Events {
  count: CustomEvent<{ total: number }>;
  reset: CustomEvent<{ reason: string }>;
}

class Counter extends TypedEventTarget<Events> {
  total = 0;
  add(): void {
    this.emit("count", { total: ++this.total });
  }
  reset(reason: string): void {
    this.total = 0;
    this.emit("reset", { reason });
  }
}

describe("TypedEventTarget", () => {
  it("hands a listener of a known type its typed CustomEvent, with no cast", () => {
    const counter = new Counter();
    const totals: number[] = [];
    counter.addEventListener("count", (event) => totals.push(event.detail.total));
    counter.addEventListener("reset", { handleEvent: (event) => totals.push(event.detail.reason.length) });
    counter.add();
    counter.add();
    counter.reset("abc");
    assert.deepEqual(totals, [1, 2, 3]);
  });

  it("removes a listener as any EventTarget does", () => {
    const counter = new Counter();
    let calls = 0;
    const listener = () => void calls++;
    counter.addEventListener("count", listener);
    counter.add();
    counter.removeEventListener("count", listener);
    counter.add();
    assert.equal(calls, 1);
  });

  it("still takes events by any name, and its options (once)", () => {
    const counter = new Counter();
    let calls = 0;
    counter.addEventListener("other", () => void calls++, { once: true });
    counter.dispatchEvent(new Event("other"));
    counter.dispatchEvent(new Event("other"));
    assert.equal(calls, 1);
  });
});
