/**
 * The consuming half of a Kafka link. kafkajs fixes a consumer's topics at
 * `run()` and never forgets one (`subscribe` only adds), so every change of
 * the topic set replaces the consumer: stop the old one (it leaves the
 * group), start a new one in the same group. Changes that arrive while one
 * replacement runs are folded into the next, so a burst of subscriptions
 * costs one or two replacements, not one each.
 *
 * Nothing is committed to Kafka. Where the link stands in each topic — the
 * next offset to read, per partition, and the topic's epoch — is kept in
 * `Positions` (`positions.ts`), which outlive the link: a new consumer (after
 * a re-subscription, or the next link of the same Broadcast) seeks to them as
 * it joins, so it neither skips what arrived in between nor repeats what was
 * delivered. Offsets never carry over to a topic deleted and created again
 * (another epoch): the consumer starts at the new topic's first offsets,
 * after one resync frame (`gap`) in history mode. A topic seen for the first
 * time starts at its end, read before the consumer joins, so a message
 * published after `subscribe()` resolves is always received. In history mode a subscription says where partition 0 starts (the
 * core's position wins over the connector's), and resolves with the position
 * before it; events carry their topic's epoch in their ids.
 *
 * kafkajs fetches by topic name, so a topic deleted and made again under a
 * running consumer is read on as if it were the same. The consumer looks
 * again at its topics' epochs before it delivers after a rejoin (kafkajs
 * rejoins when a topic's partitions went away) or after offsets that jump,
 * and at each `verify()` (the link's ping); another epoch loses the link.
 * Private to `backends/kafka/mod.ts`.
 *
 * @module
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import { type EventFrame, type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import type { Start } from "../../lib/contract/link.ts";
import { atPlace } from "../../lib/contract/position.ts";
import { consumerConfig, type KafkaSettings } from "./config.ts";
import { keepWithin, type Positions, positionBefore, startIn } from "./positions.ts";
import type { TopicIds } from "./topic_ids.ts";

/** What the consumer needs from its link. */
export interface ConsumerParts {
  kafka: Kafka;
  admin: Admin;
  groupId: string;
  settings: KafkaSettings;
  /** Shared by every link of one Broadcast. */
  positions: Positions;
  /** Reads the topics' epochs. */
  ids: TopicIds;
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
  /** History mode: the position before the one where the current consumer started partition 0 of each topic (none before offset 0). */
  #started = new Map<string, string | undefined>();
  /** The current consumer rejoined its group: its topics' epochs are looked at again before it delivers. */
  #rejoined = false;
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
   * stood, or the end; after a position of a topic since made again: at the
   * first offset, after a resync frame), and it resolves with the position
   * before the one it starts at (none when that is the first offset, 0).
   */
  async subscribe(topic: string, start: Start = "new"): Promise<string | void> {
    this.#wanted.add(topic);
    this.#claimed.add(topic);
    if (this.#parts.history) this.#starts.set(topic, start);
    await this.#wait(topic, true);
    const before = this.#started.get(topic);
    if (this.#parts.history && before !== undefined) return before;
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

  /**
   * Rejects when a topic the consumer reads is no longer the one its position
   * is in: deleted (and not made again yet), or made again (another epoch).
   */
  async verify(): Promise<void> {
    const { positions, ids } = this.#parts;
    const topics = [...this.#started.keys()].filter((topic) => positions.has(topic)); // not those unsubscribed since
    this.#rejoined = false;
    const epochs = await ids.epochs(topics);
    for (const topic of topics) {
      const epoch = positions.get(topic)?.epoch;
      if (epoch !== undefined && epochs.get(topic) !== epoch) {
        throw new BackboneUnavailableError(`Kafka topic ${topic} was deleted and created again`);
      }
    }
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
   * Reads where each new topic ends now, and its epoch: its consumer starts
   * there. In history mode partition 0 starts where its subscription asked
   * instead: right after a position, at the log start, or (new) where the
   * link stood; a position of a topic since made again (another epoch), by
   * the subscription or kept by the link, means the first offset, after a
   * resync frame (`gap`).
   */
  async #locate(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const { admin, positions, ensureTopics, ids, history } = this.#parts;
    await ensureTopics(topics);
    const [epochs, logs] = await ids.around(topics, () => Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic))));
    topics.forEach((topic, i) => {
      const start = this.#starts.get(topic);
      this.#starts.delete(topic);
      if (!this.#wanted.has(topic)) return;
      const log = { epoch: epochs.get(topic), partitions: logs[i] };
      positions.set(topic, startIn(log, positions.get(topic), start, history));
    });
  }

  /**
   * Checks each topic's position against what Kafka keeps before the
   * consumer starts there: a position in a topic since made again (another
   * epoch) goes on from the new topic's first offsets, one Kafka deleted
   * (retention) from the oldest kept. In history mode either is told with one
   * resync frame (`gap`) before the topic's next event.
   */
  async #check(topics: string[]): Promise<void> {
    const { admin, positions, history, deliver, ids } = this.#parts;
    const kept = topics.filter((topic) => positions.has(topic));
    const [epochs, logs] = await ids.around(kept, () => Promise.all(kept.map((topic) => admin.fetchTopicOffsets(topic))));
    const gaps: string[] = [];
    kept.forEach((topic, i) => {
      const at = positions.get(topic)!;
      keepWithin(at, { epoch: epochs.get(topic), partitions: logs[i] }, history);
      if (at.gap) gaps.push(topic);
    });
    if (gaps.length === 0) return;
    // Not awaited: the link is read only once subscribed; queued first, it goes out before any message.
    void deliver(gaps.map((topic) => resyncFrame(topic, "gap"))).then((delivered) => {
      // Owed still when the link went first: the next link's consumer tells it.
      if (!delivered) return;
      for (const topic of gaps) {
        const at = positions.get(topic);
        if (at !== undefined) at.gap = false;
      }
    });
  }

  async #start(topics: string[]): Promise<void> {
    await this.#check(topics);
    const { kafka, groupId, settings, positions } = this.#parts;
    // Before it runs (its batches move the positions on), after the check (a start deleted or replaced moved on).
    this.#started = new Map(topics.map((topic) => [topic, positionBefore(positions.get(topic))]));
    this.#rejoined = false;
    const consumer = kafka.consumer(consumerConfig(groupId, settings));
    this.#consumer = consumer;
    let assigned: Record<string, number[]> = {};
    let joined = false;
    const current = () => this.#consumer === consumer && this.#closed === undefined;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      assigned = payload.memberAssignment;
      // kafkajs rejoins when a topic's partitions went away, deleted perhaps: look before delivering.
      if (joined && current()) this.#rejoined = true;
      joined = true;
      // Seek before the first fetch: the consumer resumes exactly where the link stood.
      for (const [topic, partitions] of Object.entries(assigned)) {
        const at = positions.get(topic);
        for (const partition of partitions) {
          const offset = at?.offsets.get(partition);
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
    const { positions, history } = this.#parts;
    const expected = positions.get(topic)?.offsets.get(partition);
    // Offsets that jump: compaction, or a topic made again whose end kafkajs skipped to.
    if (this.#rejoined || (expected !== undefined && BigInt(messages[0].offset) > BigInt(expected))) {
      try {
        await this.verify();
      } catch (error) {
        if (this.#consumer === consumer) this.#parts.fail(error);
        return;
      }
      if (this.#consumer !== consumer || !this.#wanted.has(topic) || this.#dropped.has(topic)) return;
    }
    const at = positions.get(topic);
    const frames: EventFrame[] = messages.map((message) => ({
      type: "event",
      channel: topic,
      message: message.value ? message.value.toString("utf8") : "",
      ...history && historyFields(partition, message, at?.epoch),
    }));
    const next = String(BigInt(messages[messages.length - 1].offset) + 1n);
    this.#delivering++;
    try {
      if (await this.#parts.deliver(frames)) positions.get(topic)?.offsets.set(partition, next);
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
 * offset in the topic of `epoch` as id (an event of another partition has
 * none: offsets of two partitions are not in one order); and its publisher's
 * origin, when given.
 */
export function historyFields(partition: number, message: KafkaMessage, epoch: string | undefined): { id?: string; origin?: string } {
  const origin = message.headers?.origin?.toString();
  return { ...partition === 0 && { id: atPlace(epoch, message.offset) }, ...origin !== undefined && { origin } };
}
