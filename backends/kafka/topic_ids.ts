/**
 * Topic ids, the epochs of Kafka logs. Kafka (2.8 and later) gives a topic a
 * UUID as it creates it; a topic deleted and created again under the same
 * name gets another, while its offsets start again at 0. So the id, in base
 * 36, is the epoch of the topic's log, and it changes exactly when the log is
 * made again, by streamcast or by an operator.
 *
 * Metadata responses carry the id from version 10, and kafkajs 2.2.4 asks for
 * version 6 at most, with no way to ask for more. This sends Metadata
 * v10–v12 requests of its own on a connection kafkajs made (so with its SASL,
 * TLS and the link's socket factory), through kafkajs's internals: the
 * client's private cluster factory, the seed broker's connection pool, and
 * kafkajs's protocol encoder and decoder, the way kafkajs sends its own
 * flexible-version requests. Checked against kafkajs 2.2.4 only: with another
 * kafkajs, or a broker older than 2.8, or a topic without an id (the zero
 * UUID), a topic has no epoch and its positions are offsets alone, as before
 * epochs. Private to `backends/kafka/mod.ts`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import type { Kafka } from "kafkajs";
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";

/** The only kafkajs release whose internals this was checked against. */
export const CHECKED_KAFKAJS_VERSION = "2.2.4";

const METADATA = 3;
/** Metadata responses carry topic ids from this version; 13 changes the response again. */
const FIRST = 10;
const LAST = 12;
const UNKNOWN_TOPIC_OR_PARTITION = 3;

/** kafkajs's protocol encoder and decoder, as far as they are used here. */
interface Encoder {
  writeInt8(value: number): Encoder;
  writeInt16(value: number): Encoder;
  writeInt32(value: number): Encoder;
  writeBoolean(value: boolean): Encoder;
  writeBuffer(value: Buffer): Encoder;
  writeUVarInt(value: number): Encoder;
  writeUVarIntString(value: string): Encoder;
  writeUVarIntArray(value: Encoder[]): Encoder;
}
interface Decoder {
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readBoolean(): boolean;
  readBytes(length: number): Buffer;
  readUVarIntString(): string | null;
  readUVarIntArray<T>(read: (decoder: Decoder) => T): T[] | null;
  readTaggedFields(): unknown;
}
interface Codec {
  Encoder: new () => Encoder;
  Decoder: new (buffer: Buffer) => Decoder;
}

/** kafkajs's seed broker of a cluster: its supported versions and its connections. */
interface Broker {
  versions: Record<number, { minVersion: number; maxVersion: number }> | null;
  connectionPool: { send(request: unknown): Promise<unknown> };
}
interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  brokerPool: { seedBroker?: Broker };
}

/** One topic as a Metadata response has it. */
interface TopicMetadata {
  error: number;
  name: string | null;
  id: Buffer;
}

/**
 * Reads topics' epochs for one link, on a connection of its own, opened on
 * the first read: one Metadata request per read.
 */
export class TopicIds {
  readonly #driver: Kafka;
  readonly #codec = codec();
  #cluster: Cluster | undefined;
  /** Whether the broker answers Metadata with topic ids, once known. */
  #version: number | undefined;
  #closed = false;

  constructor(driver: Kafka) {
    this.#driver = driver;
  }

  /**
   * Each topic's epoch, or undefined where it has none (kafkajs or the broker
   * cannot tell topic ids). Rejects when a topic does not exist (deleted, and
   * not made again yet) or Kafka refuses to describe it, and when the broker
   * cannot be reached.
   */
  async epochs(topics: readonly string[]): Promise<Map<string, string | undefined>> {
    const none = () => new Map(topics.map((topic) => [topic, undefined]));
    if (topics.length === 0 || this.#codec === undefined) return none();
    const broker = await this.#broker();
    if (broker === undefined) return none();
    const version = this.#version!;
    const answer = await broker.connectionPool.send({ request: this.#request(topics, version), response: this.#response(version) });
    const epochs = new Map<string, string | undefined>();
    for (const { error, name, id } of answer as TopicMetadata[]) {
      if (name === null || !topics.includes(name)) continue;
      if (error === UNKNOWN_TOPIC_OR_PARTITION) throw new BackboneUnavailableError(`Kafka topic ${name} does not exist`);
      if (error !== 0) throw new BackboneUnavailableError(`Kafka answered error code ${error} for the metadata of topic ${name}`);
      epochs.set(name, topicEpoch(id));
    }
    for (const topic of topics) if (!epochs.has(topic)) throw new BackboneUnavailableError(`Kafka did not describe topic ${topic}`);
    return epochs;
  }

  /**
   * Runs `read` between two reads of `topics`' epochs, handing it the first;
   * resolves with the epochs and what it read, or rejects when an epoch
   * changed meanwhile (a topic deleted and made again). A topic id never
   * comes back, so what `read` read belongs to the topics of those epochs.
   */
  async around<T>(topics: readonly string[], read: (epochs: Map<string, string | undefined>) => Promise<T>): Promise<[Map<string, string | undefined>, T]> {
    const before = await this.epochs(topics);
    const value = await read(before);
    const after = await this.epochs(topics);
    for (const topic of topics) {
      if (after.get(topic) !== before.get(topic)) {
        throw new BackboneUnavailableError(`Kafka topic ${topic} was deleted and created again while it was read`);
      }
    }
    return [before, value];
  }

  /** Disconnects; a read after it rejects. */
  async disconnect(): Promise<void> {
    this.#closed = true;
    await this.#cluster?.disconnect().catch(() => {});
  }

  /** The connected seed broker; undefined when it cannot tell topic ids. */
  async #broker(): Promise<Broker | undefined> {
    if (this.#closed) throw new BackboneUnavailableError("The Kafka link is closed");
    if (this.#version === 0) return undefined;
    this.#cluster ??= newCluster(this.#driver);
    if (this.#cluster === undefined) {
      this.#version = 0;
      return undefined;
    }
    await this.#cluster.connect();
    const broker = this.#cluster.brokerPool.seedBroker;
    const range = broker?.versions?.[METADATA];
    if (broker === undefined || range === undefined) return undefined;
    this.#version = range.maxVersion >= FIRST ? Math.min(range.maxVersion, LAST) : 0;
    return this.#version === 0 ? undefined : broker;
  }

  /** Metadata v10–v12 for `topics`, never creating one; flexible, so its header's tag buffer leads the body. */
  #request(topics: readonly string[], version: number) {
    const { Encoder } = this.#codec!;
    return {
      apiKey: METADATA,
      apiVersion: version,
      apiName: "Metadata",
      encode: () => {
        const body = new Encoder().writeUVarInt(0)
          .writeUVarIntArray(topics.map((topic) => new Encoder().writeBuffer(Buffer.alloc(16)).writeUVarIntString(topic).writeUVarInt(0)))
          .writeBoolean(false); // allow_auto_topic_creation
        if (version === 10) body.writeBoolean(false); // include_cluster_authorized_operations
        return Promise.resolve(body.writeBoolean(false).writeUVarInt(0)); // include_topic_authorized_operations
      },
    };
  }

  /** Reads what the request needs of a Metadata v10–v12 response: each topic's error, name and id. */
  #response(version: number) {
    const { Decoder } = this.#codec!;
    return {
      decode: (payload: Buffer) => {
        const decoder = new Decoder(payload);
        decoder.readTaggedFields(); // the response header's
        decoder.readInt32(); // throttle_time_ms
        decoder.readUVarIntArray(skipBroker);
        decoder.readUVarIntString(); // cluster_id
        decoder.readInt32(); // controller_id
        const topics = decoder.readUVarIntArray(readTopic) ?? [];
        if (version === 10) decoder.readInt32(); // cluster_authorized_operations
        return Promise.resolve(topics);
      },
      parse: (topics: TopicMetadata[]) => Promise.resolve(topics),
    };
  }
}

function skipBroker(decoder: Decoder): void {
  decoder.readInt32(); // node_id
  decoder.readUVarIntString(); // host
  decoder.readInt32(); // port
  decoder.readUVarIntString(); // rack
  decoder.readTaggedFields();
}

function readTopic(decoder: Decoder): TopicMetadata {
  const error = decoder.readInt16();
  const name = decoder.readUVarIntString();
  const id = decoder.readBytes(16);
  decoder.readBoolean(); // is_internal
  decoder.readUVarIntArray(skipPartition);
  decoder.readInt32(); // topic_authorized_operations
  decoder.readTaggedFields();
  return { error, name, id };
}

function skipPartition(decoder: Decoder): void {
  decoder.readInt16(); // error_code
  decoder.readInt32(); // partition_index
  decoder.readInt32(); // leader_id
  decoder.readInt32(); // leader_epoch
  for (let nodes = 0; nodes < 3; nodes++) decoder.readUVarIntArray((d) => d.readInt32()); // replicas, isr, offline
  decoder.readTaggedFields();
}

/** A topic id as an epoch: the UUID as a number in base 36 (at most 25 characters); undefined for the zero UUID. */
export function topicEpoch(id: Uint8Array): string | undefined {
  let hex = "";
  for (const byte of id) hex += byte.toString(16).padStart(2, "0");
  const value = BigInt(`0x${hex || "0"}`);
  return value === 0n ? undefined : value.toString(36);
}

/** kafkajs's encoder and decoder, when `kafkajs` resolves to the release they were checked against. */
function codec(): Codec | undefined {
  try {
    const require = createRequire(import.meta.url);
    if (require("kafkajs/package.json")?.version !== CHECKED_KAFKAJS_VERSION) return undefined;
    const Encoder = require("kafkajs/src/protocol/encoder.js");
    const Decoder = require("kafkajs/src/protocol/decoder.js");
    return typeof Encoder === "function" && typeof Decoder === "function" ? { Encoder, Decoder } : undefined;
  } catch {
    return undefined;
  }
}

/** A cluster of the client's own (its brokers, SASL, TLS and socket factory), through its private factory. */
function newCluster(driver: Kafka): Cluster | undefined {
  const key = Object.getOwnPropertySymbols(driver).find((symbol) => symbol.description === "private:Kafka:createCluster");
  const create = key === undefined ? undefined : (driver as unknown as Record<symbol, unknown>)[key];
  if (typeof create !== "function") return undefined;
  const cluster = create({ allowAutoTopicCreation: false }) as Cluster | undefined;
  return typeof cluster?.connect === "function" && cluster.brokerPool !== undefined ? cluster : undefined;
}
