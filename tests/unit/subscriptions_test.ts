/**
 * The one owner of subscription state, against a scripted link whose answers
 * arrive when the test says: interleavings that a real backbone produces only
 * now and then happen here every time.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryHub } from "../../backends/memory/mod.ts";
import { Broadcast, type Link } from "../../mod.ts";
import { Subscriptions } from "../../lib/connection/subscriptions.ts";
import { deferred, type Deferred } from "../../lib/util/deferred.ts";
import { settle } from "../fixtures/clock.ts";
import { events, readEvents, within } from "../fixtures/support.ts";

/** A link whose every request waits until answered; `log` lists requests in order. */
function scripted() {
  const log: string[] = [];
  const pending: { request: string; answer: Deferred<void> }[] = [];
  const ask = (request: string) => {
    log.push(request);
    const answer = deferred();
    pending.push({ request, answer });
    return answer.promise;
  };
  const link = { subscribe: (c: string) => ask(`+${c}`), unsubscribe: (c: string) => ask(`-${c}`) } as unknown as Link;
  return {
    link,
    log,
    /** Answers the oldest pending request (with `error`, if given). */
    async answer(error?: unknown) {
      const next = pending.shift();
      assert.ok(next, "a request is pending");
      if (error === undefined) next.answer.resolve();
      else next.answer.reject(error);
      await settle();
      return next.request;
    },
    get pending() {
      return pending.map((p) => p.request);
    },
  };
}

describe("Subscriptions", () => {
  it("a subscribe asked for while the channel's unsubscribe is in flight is sent after its answer", async () => {
    const link = scripted();
    const subscriptions = new Subscriptions();
    subscriptions.want("c");
    const attached = subscriptions.attach(link.link);
    await link.answer();
    await attached;
    subscriptions.unwant("c");
    subscriptions.want("c");
    assert.deepEqual(link.pending, ["-c"], "nothing overlaps the unsubscribe");
    assert.equal(subscriptions.inSync, false);
    await link.answer();
    assert.deepEqual(link.pending, ["+c"]);
    await link.answer();
    assert.equal(subscriptions.inSync, true);
    assert.deepEqual(link.log, ["+c", "-c", "+c"]);
  });

  it("churn while a request is in flight ends where the wants are, with no request overlapping another", async () => {
    const link = scripted();
    const subscriptions = new Subscriptions();
    await Promise.all([subscriptions.attach(link.link)]);
    for (let round = 0; round < 5; round++) {
      subscriptions.want("c");
      subscriptions.unwant("c");
      subscriptions.want("c");
      while (link.pending.length > 0) {
        assert.equal(link.pending.length, 1);
        await link.answer();
      }
      assert.equal(subscriptions.inSync, true);
    }
    subscriptions.unwant("c");
    while (link.pending.length > 0) await link.answer();
    assert.equal(link.log.at(-1), "-c");
  });

  it("an answer from a link that is no longer current is ignored", async () => {
    const old = scripted();
    const subscriptions = new Subscriptions();
    subscriptions.want("c");
    const first = subscriptions.attach(old.link);
    first.catch(() => {});
    const next = scripted();
    const second = subscriptions.attach(next.link);
    await old.answer(new Error("lost")); // late, and from the old link
    await next.answer();
    await within(second, 1_000, "the new link to be in sync");
    assert.equal(subscriptions.inSync, true);
  });

  it("a failed request on the current link is reported once, and detaches it", async () => {
    const link = scripted();
    const errors: unknown[] = [];
    const subscriptions = new Subscriptions({ onError: (_, error) => errors.push(error) });
    await subscriptions.attach(link.link);
    subscriptions.want("c");
    await link.answer(new Error("NOPERM"));
    assert.equal(errors.length, 1);
    assert.equal(subscriptions.whenInSync(), undefined, "no link: nothing to wait for");
  });

  it("a link whose subscribe throws instead of rejecting fails like one that rejects", async () => {
    const errors: unknown[] = [];
    const subscriptions = new Subscriptions({ onError: (_, error) => errors.push(error) });
    const link = {
      subscribe: () => {
        throw new Error("thrown");
      },
      unsubscribe: async () => {},
    } as unknown as Link;
    await subscriptions.attach(link);
    subscriptions.want("c");
    await settle();
    assert.equal(errors.length, 1);
    assert.equal(subscriptions.whenInSync(), undefined);
  });

  it("whenInSync waits for the subscriptions in flight, and lets go when the link goes", async () => {
    const link = scripted();
    const subscriptions = new Subscriptions();
    await subscriptions.attach(link.link);
    subscriptions.want("c");
    const waiting = subscriptions.whenInSync();
    assert.ok(waiting);
    subscriptions.detach();
    await within(waiting, 1_000, "the waiter to be let go");
  });
});

describe("Broadcast under churn", () => {
  it("a subscribe that settles after its link was lost cannot wedge publish or ready", async () => {
    const hub = memoryHub("wedge");
    let held: Deferred<void> | undefined = deferred();
    const firstSubscribe = held;
    const backend = () => ({
      open: async (): Promise<Link> => {
        const link = await hub.connect();
        const subscribe = link.subscribe.bind(link);
        link.subscribe = async (channel) => {
          const hold = held;
          held = undefined;
          if (hold) await hold.promise; // the first subscribe is held, then rejected
          return subscribe(channel);
        };
        return link;
      },
    });
    const options = { backend, reconnect: { minDelay: 5, maxDelay: 10 }, resyncSettle: 5, liveness: { interval: 0, timeout: 100 } };
    await using broadcast = await Broadcast.connect("memory://wedge", options);
    const a = broadcast.subscribe("a").getReader(); // its subscribe is held
    await settle();
    hub.cut();
    hub.restore();
    await within(new Promise<void>((resolve) => {
      broadcast.addEventListener("statechange", (event) => event.detail.state === "up" && resolve());
    }), 2_000, "the next link");
    firstSubscribe.reject(new Error("the old link's answer, late"));
    await settle();
    const b = broadcast.subscribe("b").getReader();
    await within(broadcast.publish("b", "through"), 2_000, "publish");
    await within(broadcast.ready(), 2_000, "ready");
    assert.deepEqual(events(await readEvents(b, 1)), ["through"]);
    await within(broadcast.publish("a", "a too"), 2_000, "publish on a");
    assert.deepEqual(events(await readEvents(a, 1)).filter((m) => m === "a too"), ["a too"]);
  });

  it("connect() after a give-up while running rejects with the GiveUpError", async () => {
    const hub = memoryHub("giveup-reconnect");
    const broadcast = await Broadcast.connect("memory://giveup-reconnect", {
      reconnect: { maxRetries: 2, minDelay: 5, maxDelay: 10 },
      liveness: { interval: 0, timeout: 100 },
    });
    const gaveUp = new Promise((resolve) => broadcast.addEventListener("giveup", resolve, { once: true }));
    hub.cut();
    await within(gaveUp, 2_000, "the give-up");
    await assert.rejects(broadcast.connect(), (error: Error) => error.name === "GiveUpError");
    hub.restore();
    await broadcast.disconnect();
  });
});
