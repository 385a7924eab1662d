import * as v from "valibot";
import type { Clock } from "../util/clock.ts";
import { systemClock } from "../util/clock.ts";
import { ConfigError, configIssue } from "../contract/errors.ts";
import { milliseconds, notAnObject, toConfigIssues } from "../contract/config.ts";
import type { Backend } from "../contract/link.ts";
import { isPosition } from "../contract/position.ts";

/** How a Broadcast behaves; every time is in milliseconds. */
export interface BroadcastOptions {
  /** Reconnecting after the backbone drops. */
  reconnect?: {
    /** Reconnect; false is the legacy mode: a drop ends every subscriber stream. @default {true} */
    enabled?: boolean;
    /** Consecutive failed attempts before giving up; 0 retries forever. @default {0} */
    maxRetries?: number;
    /**
     * The first and smallest delay between attempts, at least 1: the delays
     * double from it, and from 0 they would never grow. @default {500}
     */
    minDelay?: number;
    /**
     * The largest delay between attempts, at least 1: how often a backbone
     * that stays away is tried, each failed attempt firing `error`. @default {30000}
     */
    maxDelay?: number;
  };
  /** Outbound broadcasts kept while down; oldest dropped on overflow; 0 disables. @default {10000} */
  replayBufferSize?: number;
  /** Send every subscriber a resync frame after a gap. @default {true} */
  resyncOnReconnect?: boolean;
  /** Wait after reconnecting before replay and resync, so peers can re-subscribe. @default {2000} */
  resyncSettle?: number;
  /** Active probe of the link: a probe unanswered within `timeout` is a drop; interval 0 disables. */
  liveness?: {
    /** Time between probes. @default {5000} */
    interval?: number;
    /** How long a probe may go unanswered. @default {3000} */
    timeout?: number;
  };
  /** How far a subscriber may lag, in events, once a tick is over, before its backlog is dropped. @default {1000} */
  subscriberBuffer?: number;
  /** How long one connection attempt (connect and re-subscribe) may take. @default {10000} */
  connectTimeout?: number;
  /** Settings passed to the backend, e.g. a Kafka consumer group prefix. @default {{}} */
  backendOptions?: Record<string, unknown>;
  /** A backend to use instead of the one the URI's scheme names; called once, for the Broadcast's connector. */
  backend?: Backend;
  /** The clock behind every delay, injected by tests. @default {systemClock} */
  clock?: Clock;
  /** Randomness for backoff jitter, injected by tests. @default {Math.random} */
  random?: () => number;
}

const integer = v.integer<number, (issue: v.IntegerIssue<number>) => string>(
  (issue) => `Expected an integer but received ${issue.received}`,
);
const count = v.pipe(v.number(), integer, v.minValue(0));

const millis = milliseconds(0);
const positive = milliseconds(1);
const fn = v.custom<(...args: never[]) => unknown>(
  (input) => typeof input === "function",
  (issue) => `Expected a function but received ${issue.received}`,
);

const OptionsSchema = v.pipe(
  v.strictObject({
    reconnect: v.optional(
      v.strictObject({
        enabled: v.optional(v.boolean(), true),
        maxRetries: v.optional(count, 0),
        // From 0 the backoff never grows (0 × 2^n): a dead backbone would be retried in a tight loop.
        minDelay: v.optional(positive, 500),
        maxDelay: v.optional(positive, 30_000),
      }),
      {},
    ),
    replayBufferSize: v.optional(count, 10_000),
    resyncOnReconnect: v.optional(v.boolean(), true),
    resyncSettle: v.optional(millis, 2_000),
    liveness: v.optional(
      v.strictObject({ interval: v.optional(millis, 5_000), timeout: v.optional(positive, 3_000) }),
      {},
    ),
    subscriberBuffer: v.optional(v.pipe(v.number(), integer, v.minValue(1)), 1_000),
    connectTimeout: v.optional(positive, 10_000),
    backendOptions: v.optional(v.record(v.string(), v.unknown()), {}),
    backend: v.optional(fn),
    clock: v.optional(
      v.custom<Clock>(
        (input) => typeof (input as Clock)?.now === "function" && typeof (input as Clock)?.delay === "function",
        (issue) => `Expected an object with now() and delay() but received ${issue.received}`,
      ),
      systemClock,
    ),
    random: v.optional(fn, () => Math.random),
  }),
  v.forward(
    v.check(
      (input) => input.reconnect.minDelay <= input.reconnect.maxDelay,
      (issue) => `Expected a value >= reconnect.minDelay but received ${issue.input.reconnect.maxDelay}`,
    ),
    ["reconnect", "maxDelay"],
  ),
);

/** Options with every default filled in. */
export type ResolvedOptions = Required<Omit<BroadcastOptions, "backend" | "reconnect" | "liveness">> & {
  reconnect: Required<NonNullable<BroadcastOptions["reconnect"]>>;
  liveness: Required<NonNullable<BroadcastOptions["liveness"]>>;
  backend?: Backend;
  random: () => number;
};

/** Validates `options` and fills in the defaults; throws `ConfigError` naming every problem. */
export function parseOptions(options: BroadcastOptions = {}): ResolvedOptions {
  notAnObject(options, "options");
  // valibot takes an array for an object: refuse one where an object is expected.
  for (const key of ["reconnect", "liveness", "backendOptions"] as const) {
    if (Array.isArray(options[key])) notAnObject(options[key], `option ${key}`);
  }
  const result = v.safeParse(OptionsSchema, options);
  if (!result.success) throw new ConfigError(toConfigIssues(result.issues, (path) => `option ${path}`));
  return result.output as ResolvedOptions;
}

const SubscribeOptionsSchema = v.strictObject({
  signal: v.optional(v.instance(AbortSignal)),
  highWaterMark: v.optional(v.pipe(v.number(), integer, v.minValue(1))),
  since: v.optional(v.pipe(
    v.string(),
    v.check((since) => since === "new" || since === "oldest" || isPosition(since), "Expected an event's id, \"oldest\" or \"new\""),
  )),
});

/**
 * Validates the options of one `subscribe` call; throws `ConfigError` naming
 * the problem. A stream starts at a position (`since`) in history mode only.
 */
export function parseSubscribeOptions<T extends { signal?: AbortSignal; highWaterMark?: number; since?: string }>(
  options: T,
  historyMode: boolean,
): T {
  notAnObject(options, "subscribe options");
  const result = v.safeParse(SubscribeOptionsSchema, options);
  if (!result.success) throw new ConfigError(toConfigIssues(result.issues, (path) => `subscribe option ${path}`));
  if (options.since !== undefined && options.since !== "new" && !historyMode) {
    const expected = `"new" (a stream starts at a position in history mode only: add ?history=<messages> to the URI)`;
    throw new ConfigError([configIssue("subscribe option since", expected, JSON.stringify(options.since))]);
  }
  return options;
}
