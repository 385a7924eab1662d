/**
 * The consuming half of a Kafka link. kafkajs fixes a consumer's topics at
 * `run()` and never forgets one (`subscribe` only adds), so every change of
 * the topic set replaces the consumer: stop the old one (it leaves the
 * group), start a new one in the same group. Changes that arrive while one
 * replacement runs are folded into the next, so a burst of subscriptions
 * costs one or two replacements, not one each.
 *
 * Nothing is committed to Kafka. Where the link stands in each topic — the
 * next offset to read, per partition — is kept in {@linkcode Positions}, which
 * outlive the link: a new consumer (after a re-subscription, or the next link
 * of the same Broadcast) seeks to them as it joins, so it neither skips what
 * arrived in between nor repeats what was delivered. A topic seen for the
 * first time starts at its end, read before the consumer joins, so a message
 * published after `subscribe()` resolves is always received. In history
 * mode a subscription says where partition 0 starts (the core's position
 * wins over the connector's), and resolves with the offset before it.
 * Private to `backends/kafka/mod.ts`.
 *
 * @module
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import { type EventFrame, type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import type { Start } from "../../lib/contract/link.ts";
import { consumerConfig, type KafkaSettings } from "./config.ts";

/** Per topic, per partition: the next offset to read. */
export type Positions = Map<string, Map<number, string>>;

/** What the consumer needs from its link. */
export interface ConsumerParts {
  kafka: Kafka;
  admin: Admin;
  groupId: string;
  settings: KafkaSettings;
  /** Shared by every link of one Broadcast. */
  positions: Positions;
  /** History mode: events carry their offsets, and a resume position Kafka no longer keeps is a `gap`. */
  history: boolean;
  /** Creates the topics that do not exist yet. */
  ensureTopics(topics: string[]): Promise<void>;
  /** Hands a batch to the link's readable; false when the link is gone. */
  deliver(frames: Frame[]): Promise<boolean>;
  /** The consumer failed: the link is lost. */
  fail(error: unknown): void;
}

interface Waiter {
  topic: string;
  subscribed: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

/** The topics one link consumes, changed at run time. */
export class TopicConsumer {
  readonly #parts: ConsumerParts;
  readonly #wanted = new Set<string>();
  /** Topics this link asked for: the only positions a new link keeps. */
  readonly #claimed = new Set<string>();
  /** The current consumer's topics. */
  #reading = new Set<string>();
  /** Topics it still reads that were unsubscribed: filtered out until it is replaced. */
  #dropped = new Set<string>();
  /** History mode: where a topic's next consumer starts partition 0, as its subscription asked. */
  readonly #starts = new Map<string, Start>();
  /** History mode: the offset partition 0 of each topic the current consumer reads started at. */
  #started = new Map<string, string>();
  #consumer: Consumer | undefined;
  #waiters: Waiter[] = [];
  #busy = false;
  #busySince = 0;
  #lastFetch = 0;
  #delivering = 0;
  #pruned = false;
  #closed: unknown;

  constructor(parts: ConsumerParts) {
    this.#parts = parts;
  }

  /**
   * Resolves once the consumer has joined with `topic`'s partitions assigned.
   * In history mode partition 0 starts at `start` (`"new"`: where the link
   * stood, or the end), and it resolves with the offset before the one it
   * starts at (none when that is the first offset, 0).
   */
  async subscribe(topic: string, start: Start = "new"): Promise<string | void> {
    this.#wanted.add(topic);
    this.#claimed.add(topic);
    if (this.#parts.history) this.#starts.set(topic, start);
    await this.#wait(topic, true);
    const at = this.#started.get(topic);
    if (this.#parts.history && at !== undefined && at !== "0") return String(BigInt(at) - 1n);
  }

  /** Stops delivering `topic` at once; resolves once the consumer no longer reads it. */
  unsubscribe(topic: string): Promise<void> {
    this.#wanted.delete(topic);
    this.#claimed.delete(topic);
    if (this.#reading.has(topic)) this.#dropped.add(topic);
    this.#parts.positions.delete(topic); // a later subscription starts afresh
    return this.#wait(topic, false);
  }

  /**
   * Why the consumer looks stuck at `now`, or undefined: a replacement
   * (requests and a join) that took longer than a session timeout plus a
   * request timeout, or a running consumer whose last fetch ended longer ago
   * than its fetch wait plus a request timeout, while it was not waiting for
   * the link to take a batch.
   */
  stalled(now: number): string | undefined {
    const { maxWaitTime, requestTimeout, sessionTimeout } = this.#parts.settings;
    if (this.#busy && now - this.#busySince > sessionTimeout + requestTimeout) {
      return `changing the consumer's topics has taken ${now - this.#busySince} ms`;
    }
    if (this.#consumer === undefined || this.#reading.size === 0 || this.#delivering > 0) return undefined;
    if (now - this.#lastFetch > maxWaitTime + requestTimeout) return `the consumer has not fetched for ${now - this.#lastFetch} ms`;
    return undefined;
  }

  /** Stops the consumer (it leaves the group); pending subscriptions reject with `reason`. */
  async close(reason: unknown): Promise<void> {
    this.#closed ??= reason;
    this.#wanted.clear();
    this.#settle();
    await this.#stop();
  }

  #wait(topic: string, subscribed: boolean): Promise<void> {
    if (this.#closed !== undefined) {
      return subscribed ? Promise.reject(this.#closed) : Promise.resolve();
    }
    const promise = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ topic, subscribed, resolve, reject });
    });
    this.#settle();
    this.#kick();
    return promise;
  }

  #settle(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      const { topic, subscribed } = waiter;
      if (this.#closed !== undefined) {
        if (subscribed) waiter.reject(this.#closed);
        else waiter.resolve();
      } else if (subscribed === this.#delivers(topic)) {
        waiter.resolve();
      } else if (subscribed !== this.#wanted.has(topic)) {
        waiter.resolve(); // superseded by a later call for the same topic
      } else {
        return true;
      }
      return false;
    });
  }

  #kick(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#busySince = Date.now();
    void this.#loop();
  }

  async #loop(): Promise<void> {
    try {
      await new Promise((resolve) => setTimeout(resolve, 0)); // fold a burst of calls into one change
      while (this.#closed === undefined && (this.#dropped.size > 0 || !sameSet(this.#wanted, this.#reading))) {
        await this.#replace();
      }
    } catch (error) {
      if (this.#closed === undefined) this.#parts.fail(error);
    } finally {
      this.#busy = false; // in the same turn as the last check: no change slips through
    }
  }

  async #replace(): Promise<void> {
    const { positions } = this.#parts;
    if (!this.#pruned) {
      // Positions of channels the previous link had but this one never asked for are stale.
      for (const topic of positions.keys()) if (!this.#claimed.has(topic)) positions.delete(topic);
      this.#pruned = true;
    }
    await this.#locate([...this.#wanted].filter((topic) => !positions.has(topic) || this.#starts.has(topic)));
    await this.#stop();
    this.#reading = new Set();
    this.#dropped.clear();
    this.#settle();
    const topics = [...this.#wanted].filter((topic) => positions.has(topic));
    if (topics.length === 0 || this.#closed !== undefined) return;
    await this.#start(topics);
    this.#settle();
  }

  /**
   * Reads where each new topic ends now: its consumer starts there. In
   * history mode partition 0 starts where its subscription asked instead:
   * right after a position, at the log start, or (new) where the link stood.
   */
  async #locate(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const { admin, positions, ensureTopics } = this.#parts;
    await ensureTopics(topics);
    const ends = await Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic)));
    topics.forEach((topic, i) => {
      const start = this.#starts.get(topic);
      this.#starts.delete(topic);
      if (!this.#wanted.has(topic)) return;
      const at = positions.get(topic) ?? new Map(ends[i].map(({ partition, high }) => [partition, high]));
      positions.set(topic, at);
      if (start === "oldest") at.set(0, ends[i].find(({ partition }) => partition === 0)?.low ?? "0");
      else if (start !== undefined && start !== "new") at.set(0, String(BigInt(start.after) + 1n));
    });
  }

  /**
   * History mode: a topic whose resume position Kafka deleted (retention) gets
   * one resync frame (`gap`), then resumes at the oldest offset kept.
   */
  async #checkRetention(topics: string[]): Promise<void> {
    const { admin, positions, history, deliver } = this.#parts;
    if (!history) return;
    const kept = topics.filter((topic) => positions.has(topic));
    const offsets = await Promise.all(kept.map((topic) => admin.fetchTopicOffsets(topic)));
    const gaps: Frame[] = [];
    kept.forEach((topic, i) => {
      const at = positions.get(topic)!;
      let gap = false;
      for (const { partition, low } of offsets[i]) {
        const position = at.get(partition);
        if (position === undefined || BigInt(position) >= BigInt(low)) continue;
        at.set(partition, low);
        gap = true;
      }
      if (gap) gaps.push(resyncFrame(topic, "gap"));
    });
    // Not awaited: the link is read only once subscribed; queued first, it goes out before any message.
    if (gaps.length > 0) void deliver(gaps);
  }

  async #start(topics: string[]): Promise<void> {
    await this.#checkRetention(topics);
    const { kafka, groupId, settings, positions } = this.#parts;
    // Before it runs (its batches move the positions on), after the retention check (a deleted start moved on).
    this.#started = new Map(topics.map((topic) => [topic, positions.get(topic)?.get(0) ?? "0"]));
    const consumer = kafka.consumer(consumerConfig(groupId, settings));
    this.#consumer = consumer;
    let assigned: Record<string, number[]> = {};
    const current = () => this.#consumer === consumer && this.#closed === undefined;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      assigned = payload.memberAssignment;
      // Seek before the first fetch: the consumer resumes exactly where the link stood.
      for (const [topic, partitions] of Object.entries(assigned)) {
        const at = positions.get(topic);
        for (const partition of partitions) {
          const offset = at?.get(partition);
          if (offset !== undefined) consumer.seek({ topic, partition, offset });
        }
      }
    });
    consumer.on(consumer.events.FETCH, () => {
      this.#lastFetch = Date.now();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (current()) this.#parts.fail(payload.error);
    });
    consumer.on(consumer.events.DISCONNECT, () => {
      if (current()) this.#parts.fail(new BackboneUnavailableError("The Kafka consumer disconnected"));
    });
    // Closed while starting: a step that completes afterwards would leave it connected.
    const abandoned = async () => {
      if (current()) return false;
      await consumer.disconnect().catch(() => {});
      return true;
    };
    await consumer.connect();
    if (await abandoned()) return;
    await consumer.subscribe({ topics });
    if (await abandoned()) return;
    await consumer.run({
      autoCommit: false,
      eachBatch: (payload) => this.#batch(consumer, payload),
    });
    if (await abandoned()) return;
    this.#lastFetch = Date.now();
    const missing = topics.filter((topic) => !(assigned[topic]?.length > 0));
    if (missing.length > 0) {
      throw new BackboneUnavailableError(`Kafka assigned no partition of ${missing.join(", ")} to the consumer`);
    }
    this.#reading = new Set(topics);
    // Unsubscribed and subscribed again while it joined: its position is gone, so replace it again.
    for (const topic of topics) if (!positions.has(topic)) this.#dropped.add(topic);
  }

  /** Whether the consumer reads `topic` and its events are delivered. */
  #delivers(topic: string): boolean {
    return this.#reading.has(topic) && !this.#dropped.has(topic);
  }

  async #batch(consumer: Consumer, { batch }: EachBatchPayload): Promise<void> {
    const { topic, partition, messages } = batch;
    if (this.#consumer !== consumer || !this.#wanted.has(topic) || this.#dropped.has(topic)) return;
    if (messages.length === 0) return;
    const frames: EventFrame[] = messages.map((message) => ({
      type: "event",
      channel: topic,
      message: message.value ? message.value.toString("utf8") : "",
      ...this.#parts.history && historyFields(partition, message),
    }));
    const next = String(BigInt(messages[messages.length - 1].offset) + 1n);
    this.#delivering++;
    try {
      if (await this.#parts.deliver(frames)) this.#parts.positions.get(topic)?.set(partition, next);
    } finally {
      this.#delivering--;
    }
  }

  async #stop(): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    this.#consumer = undefined; // its events are no longer ours
    await consumer.disconnect();
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const item of a) if (!b.has(item)) return false;
  return true;
}

/**
 * History mode: an event of partition 0, where streamcast publishes, has its
 * offset as id (an event of another partition has none: offsets of two
 * partitions are not in one order); and its publisher's origin, when given.
 */
export function historyFields(partition: number, message: KafkaMessage): { id?: string; origin?: string } {
  const origin = message.headers?.origin?.toString();
  return { ...partition === 0 && { id: message.offset }, ...origin !== undefined && { origin } };
}
