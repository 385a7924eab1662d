/**
 * The publishing half of a Kafka link: topics created on first use, one
 * `sendBatch` per batch of frames, every record on partition 0 (so one
 * instance's order holds on a topic of several partitions), the value the
 * message as UTF-8. A message Kafka cannot carry is dropped and reported to
 * the core once the batch is through, never retried forever. Private to
 * `backends/kafka/mod.ts`.
 *
 * @module
 */
import { utf8Exceeds, utf8Length } from "../../lib/util/utf8_length.ts";
import kafkajs from "kafkajs";
import type { Admin, Kafka, Message, Producer } from "kafkajs";
import { PayloadTooLargeError } from "../../lib/contract/errors.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { KafkaSettings } from "./config.ts";

export class TopicProducer {
  /** The kafkajs producer: its owner connects and disconnects it. */
  readonly client: Producer;
  readonly #admin: Admin;
  readonly #settings: KafkaSettings;
  readonly #dropped: (frame: EventFrame, reason: unknown) => void;
  readonly #topics = new Set<string>(); // known to exist
  #sendingSince: number | undefined;

  constructor(driver: Kafka, admin: Admin, settings: KafkaSettings, dropped: (frame: EventFrame, reason: unknown) => void) {
    this.#admin = admin;
    this.#settings = settings;
    this.#dropped = dropped;
    this.client = driver.producer({
      allowAutoTopicCreation: false,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
  }

  /** Why publishing looks stuck at `now` (a send waiting longer than a request timeout), or undefined. */
  stalled(now: number): string | undefined {
    const since = this.#sendingSince;
    if (since !== undefined && now - since > this.#settings.requestTimeout) return `a publish has waited ${now - since} ms`;
    return undefined;
  }

  /**
   * Sends `batch`; rejects when Kafka could not be reached (the link is
   * lost). What Kafka cannot carry is reported once the rest is sent: a lost
   * link has the whole batch sent again.
   */
  async publish(batch: readonly EventFrame[]): Promise<void> {
    const limit = this.#settings.maxMessageBytes;
    const dropped: [EventFrame, unknown][] = [];
    const byTopic = new Map<string, EventFrame[]>();
    for (const frame of batch) {
      const { channel, message } = frame;
      if (utf8Exceeds(message, limit)) {
        const size = utf8Length(message);
        dropped.push([frame, new PayloadTooLargeError(`A message on channel ${JSON.stringify(channel)}`, size, limit)]);
        continue;
      }
      let frames = byTopic.get(channel);
      if (frames === undefined) byTopic.set(channel, frames = []);
      frames.push(frame);
    }
    if (byTopic.size > 0) await this.#sendAll(byTopic, dropped);
    for (const [frame, reason] of dropped) this.#dropped(frame, reason);
  }

  async #sendAll(byTopic: Map<string, EventFrame[]>, dropped: [EventFrame, unknown][]): Promise<void> {
    this.#sendingSince = Date.now();
    try {
      await this.ensureTopics([...byTopic.keys()]);
      try {
        await this.#send([...byTopic]);
      } catch (error) {
        if (!tooLarge(error)) throw error;
        // The broker refused the batch: send one message at a time, dropping those it refuses.
        for (const [topic, frames] of byTopic) {
          for (const frame of frames) {
            await this.#send([[topic, [frame]]]).catch((error) => {
              if (!tooLarge(error)) throw error;
              dropped.push([frame, error]);
            });
          }
        }
      }
    } finally {
      this.#sendingSince = undefined;
    }
  }

  /** Creates the topics not known to exist yet, with the broker's defaults or the settings'. */
  async ensureTopics(topics: string[]): Promise<void> {
    const todo = topics.filter((topic) => !this.#topics.has(topic));
    if (todo.length === 0) return;
    const { numPartitions, replicationFactor, requestTimeout } = this.#settings;
    // Resolves false when they exist already: either way they are there.
    await this.#admin.createTopics({
      topics: todo.map((topic) => ({ topic, numPartitions, replicationFactor })),
      waitForLeaders: true,
      timeout: requestTimeout,
    });
    for (const topic of todo) this.#topics.add(topic);
  }

  async #send(byTopic: [string, EventFrame[]][]): Promise<void> {
    await this.client.sendBatch({
      acks: -1,
      topicMessages: byTopic.map(([topic, frames]) => ({
        topic,
        // History mode: who published it, as a header, so that a copy sent twice is delivered once.
        messages: frames.map(({ message, origin }): Message => ({ value: message, partition: 0, ...origin && { headers: { origin } } })),
      })),
    });
  }
}

/** Whether Kafka refused a message or a batch as too large. */
function tooLarge(error: unknown): boolean {
  const seen = new Set<unknown>();
  const look = (e: unknown): boolean => {
    if (e === null || typeof e !== "object" || seen.has(e)) return false;
    seen.add(e);
    const { type, cause, errors } = e as { type?: string; cause?: unknown; errors?: unknown[] };
    return type === "MESSAGE_TOO_LARGE" || type === "RECORD_LIST_TOO_LARGE" || look(cause) ||
      (Array.isArray(errors) && errors.some(look));
  };
  return look(error);
}
