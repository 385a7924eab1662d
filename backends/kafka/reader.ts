/**
 * History mode: reads partition 0 of a topic between two offsets, for the
 * core's catch-up, without touching the link's live consumer or its
 * positions. kafkajs reads only through group consumers, so the reader is a
 * consumer of its own, in a group of its own (deleted with the link's),
 * subscribed to the topics it was asked to read and paused between reads: a
 * read seeks partition 0 to where it starts, resumes it, and collects from
 * `eachBatch` until it has enough, then pauses it again. What the last batch
 * held beyond a read is kept for the next one, so a catch-up paging through a
 * backlog costs a fetch per batch, not one per page. Reads run one at a time.
 * Each read looks at the topic's epoch (its id) beside its offsets: a
 * position of another epoch is a `gap`. Records fetched are labelled with that
 * epoch only if the topic still has it once they are in (a topic id never
 * comes back, so they are of that topic); otherwise the read fails and the
 * catch-up reads again. Private to `backends/kafka/mod.ts`.
 *
 * @module
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";
import { fromLog, placeOf } from "../../lib/contract/position.ts";
import { consumerConfig, type KafkaSettings } from "./config.ts";
import { historyFields } from "./consumer.ts";
import type { TopicIds } from "./topic_ids.ts";

/** What the reader needs from its link. */
export interface ReaderParts {
  kafka: Kafka;
  admin: Admin;
  groupId: string;
  settings: KafkaSettings;
  /** Reads the topics' epochs. */
  ids: TopicIds;
  /** Creates the topics that do not exist yet. */
  ensureTopics(topics: string[]): Promise<void>;
  /** The reader is about to join `groupId`: the link deletes it as it closes, or a later link does. */
  grouped(groupId: string): void;
}

/** The read in progress: partition 0 of `topic` (of `epoch`) from `next` to `end`, at most `limit`. */
interface Pending {
  topic: string;
  epoch: string | undefined;
  next: bigint;
  end: bigint;
  limit: number;
  frames: EventFrame[];
  settle(error?: unknown): void;
}

/** Partition 0 of `topic` (of `epoch`) from `from` up to (not including) `to`, fetched but not handed out yet. */
interface Kept {
  topic: string;
  epoch: string | undefined;
  from: bigint;
  to: bigint;
  frames: EventFrame[];
}

export class HistoryReader {
  readonly #parts: ReaderParts;
  #queue: Promise<unknown> = Promise.resolve();
  #consumer: Consumer | undefined;
  #topics = new Set<string>();
  #pending: Pending | undefined;
  #kept: Kept | undefined;
  #closed: unknown;

  constructor(parts: ReaderParts) {
    this.#parts = parts;
  }

  /**
   * The events of partition 0 of `topic` with offsets past `after` (from the
   * log start when undefined) up to `upTo`, at most `limit`, oldest first;
   * `"gap"` when Kafka no longer keeps the offset after `after`, or `after`
   * is of a topic since made again (another epoch).
   */
  read(topic: string, after: string | undefined, upTo: string, limit: number): Promise<EventFrame[] | "gap"> {
    // Another backbone's position (a Redis stream ID, say) names nothing Kafka keeps.
    if (after !== undefined && !/^\d+$/.test(placeOf(after))) return Promise.resolve("gap");
    const start = after === undefined ? undefined : BigInt(placeOf(after)) + 1n;
    const read = this.#queue.then(() => this.#read(topic, after, start, BigInt(placeOf(upTo)), limit));
    this.#queue = read.catch(() => {});
    return read;
  }

  /** Stops the consumer; a read waiting, or any later one, rejects with `reason`. */
  async close(reason: unknown): Promise<void> {
    this.#closed ??= reason;
    this.#pending?.settle(reason);
    await this.#stop();
  }

  async #read(topic: string, after: string | undefined, start: bigint | undefined, end: bigint, limit: number): Promise<EventFrame[] | "gap"> {
    if (this.#closed !== undefined) throw this.#closed;
    const { admin, ids } = this.#parts;
    // Asked every time, kept or not: what Kafka deleted or made again is a gap, whatever this reader still holds.
    const [epochs, offsets] = await Promise.all([ids.epochs([topic]), admin.fetchTopicOffsets(topic)]);
    const epoch = epochs.get(topic);
    if (after !== undefined && !fromLog(after, epoch)) return "gap";
    const [p0] = offsets.filter(({ partition }) => partition === 0);
    const low = BigInt(p0?.low ?? 0);
    const high = BigInt(p0?.high ?? 0);
    if (start !== undefined && start < low) return "gap";
    let next = start ?? low;
    const last = end < high - 1n ? end : high - 1n;
    let frames: EventFrame[] = [];
    const kept = this.#kept;
    if (kept?.topic === topic && kept.epoch === epoch && next >= kept.from && next < kept.to) {
      // The last batch went on from where this read starts: what it held is exactly what comes next.
      frames = this.#take(kept, next, last, limit);
      if (frames.length >= limit) return frames;
      next = kept.to;
    }
    if (next > last) return frames;
    const fetched = await this.#fetch(topic, epoch, next, last, limit - frames.length);
    if ((await ids.epochs([topic])).get(topic) !== epoch) {
      this.#kept = undefined;
      throw new BackboneUnavailableError(`Kafka topic ${topic} was deleted and created again while it was read`);
    }
    return frames.concat(fetched);
  }

  /** Takes from `kept` what lies from `from` to `last`, at most `limit`; it then keeps only what follows. */
  #take(kept: Kept, from: bigint, last: bigint, limit: number): EventFrame[] {
    const at = (i: number) => BigInt(placeOf(kept.frames[i].id!));
    let i = 0;
    while (i < kept.frames.length && at(i) < from) i++;
    let j = i;
    while (j < kept.frames.length && j - i < limit && at(j) <= last) j++;
    const taken = kept.frames.slice(i, j);
    kept.frames = kept.frames.slice(j);
    if (taken.length > 0) kept.from = BigInt(placeOf(taken[taken.length - 1].id!)) + 1n;
    return taken;
  }

  /** Seeks partition 0 to `next`, resumes it, and collects until `end` or `limit`. */
  async #fetch(topic: string, epoch: string | undefined, next: bigint, end: bigint, limit: number): Promise<EventFrame[]> {
    const consumer = await this.#reading(topic);
    const { requestTimeout, maxWaitTime } = this.#parts.settings;
    const frames: EventFrame[] = [];
    await new Promise<void>((resolve, reject) => {
      // Kafka answers a fetch of records it has at once: waiting this long means it stopped answering.
      const timer = setTimeout(() => {
        pending.settle(new BackboneUnavailableError(`Reading the history of Kafka topic ${topic} took over ${requestTimeout + 2 * maxWaitTime} ms`));
      }, requestTimeout + 2 * maxWaitTime);
      const pending: Pending = {
        topic,
        epoch,
        next,
        end,
        limit,
        frames,
        settle: (error) => {
          if (this.#pending !== pending) return;
          this.#pending = undefined;
          clearTimeout(timer);
          if (this.#consumer === consumer) consumer.pause([{ topic, partitions: [0] }]);
          if (error === undefined) resolve();
          else reject(error);
        },
      };
      this.#pending = pending;
      consumer.seek({ topic, partition: 0, offset: String(next) });
      consumer.resume([{ topic, partitions: [0] }]);
    });
    return frames;
  }

  /** A running consumer that reads `topic`: a new one, in the same group, when the topic is new to it. */
  async #reading(topic: string): Promise<Consumer> {
    if (this.#consumer !== undefined && this.#topics.has(topic)) return this.#consumer;
    await this.#stop();
    const topics = new Set([...this.#topics, topic]);
    const { kafka, groupId, settings, ensureTopics, grouped } = this.#parts;
    await ensureTopics([topic]);
    const consumer = kafka.consumer(consumerConfig(groupId, settings));
    this.#consumer = consumer;
    this.#topics = topics;
    const fail = (error: unknown) => {
      if (this.#consumer !== consumer) return;
      this.#pending?.settle(error);
      void this.#stop(); // the next read starts a new one
    };
    // Paused from the start: a partition is fetched only while a read asks for it.
    consumer.on(consumer.events.GROUP_JOIN, () => consumer.pause([...topics].map((topic) => ({ topic }))));
    consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
    consumer.on(consumer.events.DISCONNECT, () => fail(new BackboneUnavailableError("The Kafka history reader disconnected")));
    // Closed while starting: a step that completes afterwards would leave it connected.
    const abandoned = async () => {
      if (this.#consumer === consumer && this.#closed === undefined) return;
      await consumer.disconnect().catch(() => {});
      throw this.#closed ?? new BackboneUnavailableError("The Kafka history reader stopped while it started");
    };
    try {
      grouped(groupId);
      await consumer.connect();
      await abandoned();
      await consumer.subscribe({ topics: [...topics] });
      await abandoned();
      await consumer.run({ autoCommit: false, eachBatch: (payload) => this.#batch(consumer, payload) });
      await abandoned();
    } catch (error) {
      if (this.#consumer === consumer) void this.#stop();
      throw error;
    }
    return consumer;
  }

  #batch(consumer: Consumer, { batch }: EachBatchPayload): Promise<void> {
    const pending = this.#pending;
    const { topic, partition, messages } = batch;
    if (this.#consumer !== consumer || pending?.topic !== topic || partition !== 0) {
      if (this.#consumer === consumer) consumer.pause([{ topic, partitions: [partition] }]);
      return Promise.resolve();
    }
    let i = 0;
    for (; i < messages.length && pending.frames.length < pending.limit; i++) {
      const offset = BigInt(messages[i].offset);
      if (offset < pending.next) continue;
      if (offset > pending.end) break;
      pending.frames.push(frame(topic, pending.epoch, messages[i]));
      pending.next = offset + 1n;
    }
    const done = pending.frames.length >= pending.limit || pending.next > pending.end ||
      pending.next >= BigInt(batch.highWatermark);
    if (!done) return Promise.resolve(); // the next fetch goes on from after this batch
    const to = BigInt(batch.lastOffset()) + 1n;
    const rest = messages.slice(i).filter((message) => BigInt(message.offset) >= pending.next);
    this.#kept = { topic, epoch: pending.epoch, from: pending.next, to, frames: rest.map((message) => frame(topic, pending.epoch, message)) };
    pending.settle();
    return Promise.resolve();
  }

  async #stop(): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    this.#consumer = undefined; // its events are no longer ours
    this.#topics = new Set();
    await consumer.disconnect();
  }
}

/** An event of partition 0 as the live path builds it: its offset in the topic of `epoch` as id, origin from the header. */
function frame(topic: string, epoch: string | undefined, message: KafkaMessage): EventFrame {
  const value = message.value ? message.value.toString("utf8") : "";
  return { type: "event", channel: topic, message: value, ...historyFields(0, message, epoch) };
}
