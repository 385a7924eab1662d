import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryHub } from "../../backends/memory/mod.ts";
import { AuthenticationError, BackboneUnavailableError, type Frame, GiveUpError, type Link } from "../../mod.ts";
import { Pipeline } from "../../lib/pipeline/pipeline.ts";
import { Subscriptions } from "../../lib/connection/subscriptions.ts";
import { type State, Supervisor, type SupervisorOptions } from "../../lib/connection/supervisor.ts";
import { ManualClock, settle } from "../fixtures/clock.ts";

const CONNECT_TIMEOUT = 99_999; // distinct, so backoff delays can be told apart from it

/** A supervisor over a memory hub whose connects can be made to fail or to wait. */
function harness(options: Partial<SupervisorOptions> = {}) {
  const clock = new ManualClock();
  const hub = memoryHub(`supervisor-${Math.random()}`);
  const log = { states: [] as State[], attempts: [] as unknown[], resyncs: 0, failed: undefined as unknown };
  let failures: unknown[] = [];
  let holdSubscribe: Promise<void> | undefined;
  const subscriptions = new Subscriptions({ onError: (link, error) => supervisor.lost(link, error) });
  const pipeline: Pipeline = new Pipeline({
    replayBufferSize: 100,
    subscriberBuffer: 100,
    onWriteError: (error) => supervisor.lostCurrent(error),
    onReplayOverflow: () => {},
    onFirstSubscriber: (channel) => subscriptions.want(channel),
    onLastSubscriber: (channel) => subscriptions.unwant(channel),
    onSubscriberOverflow: () => {},
  });
  const frames: Frame[] = [];
  pipeline.subscribe("news").pipeTo(new WritableStream({ write: (frame) => void frames.push(frame) })).catch(() => {});
  const supervisor: Supervisor = new Supervisor({
    reconnect: { enabled: true, maxRetries: 0, minDelay: 100, maxDelay: 1_000 },
    liveness: { interval: 0, timeout: 50 },
    resyncOnReconnect: true,
    resyncSettle: 300,
    connectTimeout: CONNECT_TIMEOUT,
    clock,
    random: () => 0.5, // jitter neutral: delays are exact
    ...options,
  }, {
    open: async (): Promise<Link> => {
      if (failures.length > 0) throw failures.shift();
      const link = await hub.connect();
      const subscribe = link.subscribe.bind(link);
      link.subscribe = async (channel) => {
        await holdSubscribe;
        return subscribe(channel);
      };
      return link;
    },
    pipeline,
    subscriptions,
    report: {
      state: (state) => log.states.push(state),
      attemptFailed: (error) => log.attempts.push(error),
      resynced: () => log.resyncs++,
      failed: (error) => log.failed = error,
    },
  });
  const backoffs = () => clock.delays.filter((d) => d !== CONNECT_TIMEOUT && d !== 300);
  return {
    clock,
    hub,
    supervisor,
    log,
    frames,
    pipeline,
    backoffs,
    failNext: (...errors: unknown[]) => failures = errors,
    hold(): () => void {
      let release!: () => void;
      holdSubscribe = new Promise((resolve) => release = resolve);
      return () => {
        holdSubscribe = undefined;
        release();
      };
    },
  };
}

const refused = () => new BackboneUnavailableError("refused");

describe("Supervisor", () => {
  it("backoff grows exponentially from minDelay to maxDelay and resets after a good connection", async () => {
    const h = harness();
    h.failNext(...Array.from({ length: 6 }, refused));
    const started = h.supervisor.start();
    await h.clock.advance(10_000);
    await started;
    assert.equal(h.log.attempts.length, 6);
    assert.deepEqual(h.backoffs(), [100, 200, 400, 800, 1_000, 1_000]);
    assert.equal(h.supervisor.reconnects, 0, "failed attempts before the first link are no reconnect");
    h.hub.cut();
    h.hub.restore();
    await h.clock.advance(100);
    assert.equal(h.supervisor.state, "up");
    assert.equal(h.supervisor.reconnects, 1);
    assert.deepEqual(h.backoffs().slice(6), [100], "the first retry after a good connection waits minDelay again");
    await h.supervisor.stop();
  });

  it("gives up after maxRetries consecutive failures, with the last error as cause", async () => {
    const h = harness({ reconnect: { enabled: true, maxRetries: 3, minDelay: 100, maxDelay: 1_000 } });
    const last = refused();
    h.failNext(refused(), refused(), last, refused());
    const started = h.supervisor.start();
    started.catch(() => {}); // examined below, after time has moved on
    await h.clock.advance(10_000);
    const error = await started.then(() => undefined, (e) => e);
    assert.ok(error instanceof GiveUpError, String(error));
    assert.equal(error.cause, last);
    assert.equal(h.supervisor.state, "failed");
    assert.ok(h.log.failed instanceof GiveUpError);
    assert.equal(h.log.attempts.length, 3);
  });

  it("fails at once, without retrying, on what retrying cannot fix", async () => {
    const h = harness();
    h.failNext(new AuthenticationError("wrong password"));
    await assert.rejects(h.supervisor.start(), AuthenticationError);
    assert.equal(h.log.attempts.length, 1);
    assert.deepEqual(h.backoffs(), []);
  });

  it("with reconnect disabled a drop fails for good and nothing retries", async () => {
    const h = harness({ reconnect: { enabled: false, maxRetries: 0, minDelay: 100, maxDelay: 1_000 } });
    await h.supervisor.start();
    h.hub.cut();
    await settle();
    assert.equal(h.supervisor.state, "failed");
    assert.ok(h.log.failed instanceof BackboneUnavailableError);
    h.hub.restore();
    await h.clock.advance(10_000);
    assert.equal(h.supervisor.state, "failed");
  });

  it("the resync waits for every channel to be re-subscribed, then for the settle time", async () => {
    const h = harness();
    await h.supervisor.start();
    const release = h.hold();
    h.hub.cut();
    h.hub.restore();
    await h.clock.advance(1_000); // backoff done; the re-subscription is held
    assert.equal(h.supervisor.state, "down");
    assert.equal(h.log.resyncs, 0);
    release();
    await settle();
    assert.equal(h.supervisor.state, "up");
    await h.clock.advance(299);
    assert.equal(h.log.resyncs, 0, "not before the settle time");
    await h.clock.advance(1);
    assert.equal(h.log.resyncs, 1);
    assert.deepEqual(h.frames, [{ type: "resync", channel: "news", reason: "reconnect" }]);
    await h.supervisor.stop();
  });

  it("replays what was buffered while down only after the settle time", async () => {
    const h = harness();
    await h.supervisor.start();
    h.hub.cut();
    await h.pipeline.publish({ type: "event", channel: "news", message: "kept" });
    h.hub.restore();
    await h.clock.advance(100);
    assert.equal(h.supervisor.state, "up");
    assert.equal(h.pipeline.backlog, 1);
    await h.clock.advance(300);
    assert.equal(h.pipeline.backlog, 0);
    assert.equal(h.pipeline.stats.replayed, 1);
    await h.supervisor.stop();
  });

  it("is idle until started, then connecting until the first link is up", async () => {
    const h = harness();
    assert.equal(h.supervisor.state, "idle");
    h.hub.stall();
    const started = h.supervisor.start();
    assert.equal(h.supervisor.state, "connecting");
    h.hub.restore();
    await h.clock.advance(0);
    await started;
    assert.deepEqual(h.log.states, ["connecting", "up"]);
    await h.supervisor.stop();
  });

  it("an unanswered liveness probe is a drop, detected within interval + timeout", async () => {
    const h = harness({ liveness: { interval: 1_000, timeout: 500 } });
    await h.supervisor.start();
    h.hub.stall();
    await h.clock.advance(1_499);
    assert.equal(h.supervisor.state, "up");
    await h.clock.advance(1);
    assert.equal(h.supervisor.state, "down");
    h.hub.restore();
    await h.clock.advance(1_000);
    assert.equal(h.supervisor.state, "up");
    await h.supervisor.stop();
  });

  it("abandons a connection attempt that hangs, after connectTimeout", async () => {
    const h = harness({ connectTimeout: 2_000 });
    h.hub.stall();
    const started = h.supervisor.start();
    await h.clock.advance(2_000);
    assert.match(String((h.log.attempts[0] as Error)?.message), /No connection to the backbone within 2000 ms/);
    h.hub.restore();
    await h.clock.advance(100);
    await started;
    assert.equal(h.supervisor.state, "up");
    await h.supervisor.stop();
  });

  it("stop holds no timer and leaves no link open", async () => {
    const h = harness({ liveness: { interval: 1_000, timeout: 500 } });
    await h.supervisor.start();
    await h.supervisor.stop();
    await settle();
    assert.equal(h.clock.pending, 0);
    assert.equal(h.hub.connections, 0);
    assert.equal(h.supervisor.state, "closed");
  });
});
