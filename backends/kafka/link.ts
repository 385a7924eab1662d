/**
 * One Kafka link: an admin client, a second one that only answers pings, a
 * producer, a consumer once a channel is subscribed, a connection that reads
 * topic ids once one is (`topic_ids.ts`), and in history mode a reader once
 * history is read. Each consumes in a group of its own, deleted
 * when the link closes; where the link stands in each topic is kept in its
 * connector's state, which the next link resumes from. Private to
 * `backends/kafka/mod.ts`.
 *
 * @module
 */
import net from "node:net";
import type { Admin, Kafka } from "kafkajs";
import { AuthenticationError, BackboneUnavailableError } from "../../lib/contract/errors.ts";
import type { EventFrame, Frame } from "../../lib/contract/frame.ts";
import type { Link, Start } from "../../lib/contract/link.ts";
import type { KafkaSettings } from "./config.ts";
import { TopicConsumer } from "./consumer.ts";
import { type ConnectorState, deleteOrphans } from "./groups.ts";
import { TopicProducer } from "./producer.ts";
import { HistoryReader } from "./reader.ts";
import type { LinkSockets } from "./sockets.ts";
import { TopicIds } from "./topic_ids.ts";

/** What a link is made of. */
export interface LinkParts {
  /** The URI, password masked, for messages. */
  where: string;
  driver: Kafka;
  sockets: LinkSockets;
  settings: KafkaSettings;
  /** Its connector's state, shared with the links before and after it. */
  state: ConnectorState;
  /** Reports a broadcast Kafka cannot carry. */
  dropped(frame: EventFrame, reason: unknown): void;
  /** History mode: events carry their offsets, and a resume position Kafka no longer keeps is a `gap`. */
  history: boolean;
}

/** A link never reconnects: any failure errors it, and its connector opens the next one. */
export class KafkaLink implements Link {
  readonly readable: ReadableStream<Frame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly #where: string;
  readonly #sockets: LinkSockets;
  readonly #settings: KafkaSettings;
  readonly #state: ConnectorState;
  readonly #groupId: string;
  readonly #admin: Admin;
  /** Answers pings only: the broker answers a connection's requests in order, behind a slow CreateTopics. */
  readonly #probe: Admin;
  readonly #producer: TopicProducer;
  readonly #consumer: TopicConsumer;
  /** Reads the epochs of topics (their ids), for the consumer and the reader. */
  readonly #ids: TopicIds;
  /** History mode: reads what Kafka keeps, for a catch-up. */
  readonly #reader: HistoryReader | undefined;
  /** History mode: partition 0 of `channel` after `after` up to `upTo` (see `Link.read`). */
  readonly read?: (channel: string, after: string | undefined, upTo: string, limit: number) => Promise<EventFrame[] | "gap">;
  #controller!: ReadableStreamDefaultController<Frame[]>;
  #pulled = false;
  #wake: (() => void)[] = [];
  #error: Error | undefined;
  #grouped = false;
  #pinging = 0;
  #verifying = false;
  #reaching = false;
  #clean = false;
  #shutdown: Promise<void> | undefined;

  constructor({ where, driver, sockets, settings, state, dropped, history }: LinkParts) {
    this.#where = where;
    this.#sockets = sockets;
    this.#settings = settings;
    this.#state = state;
    this.#groupId = `${settings.groupIdPrefix}${crypto.randomUUID()}`;
    this.#admin = driver.admin();
    // One attempt per probe: retrying is the core's job, and a refused connection must fail it at once.
    this.#probe = driver.admin({ retry: { retries: 0 } });
    sockets.onClosed = (host, port) => this.#reach(host, port);
    this.#producer = new TopicProducer(driver, this.#admin, settings, dropped);
    this.#producer.client.on(this.#producer.client.events.DISCONNECT, () => {
      this.#fail(new BackboneUnavailableError(`The Kafka producer disconnected from ${where}`));
    });
    this.#ids = new TopicIds(driver);
    this.#consumer = new TopicConsumer({
      kafka: driver,
      admin: this.#admin,
      groupId: this.#groupId,
      settings,
      positions: state.positions,
      ids: this.#ids,
      history,
      ensureTopics: (topics) => this.#producer.ensureTopics(topics),
      deliver: (frames) => this.#deliver(frames),
      fail: (error) => this.#fail(error),
    });
    if (history) {
      const reader = new HistoryReader({
        kafka: driver,
        admin: this.#admin,
        // A group of its own: joining the link's would take partitions from its consumer.
        groupId: `${settings.groupIdPrefix}${crypto.randomUUID()}`,
        settings,
        ids: this.#ids,
        ensureTopics: (topics) => this.#producer.ensureTopics(topics),
        grouped: (groupId) => this.#state.orphans.add(groupId),
      });
      this.#reader = reader;
      this.read = (channel, after, upTo, limit) => {
        if (this.#error) return Promise.reject(this.#error);
        return reader.read(channel, after, upTo, limit);
      };
    }
    // highWaterMark 0: a batch is handed over only to a waiting read, so a
    // position is advanced only for what the core has taken.
    this.readable = new ReadableStream<Frame[]>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        this.#pulled = true;
        for (const wake of this.#wake.splice(0)) wake();
      },
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<EventFrame[]>({
      write: async (batch) => {
        if (this.#error) throw this.#error;
        try {
          await this.#producer.publish(batch);
        } catch (error) {
          throw this.#fail(error);
        }
      },
    });
  }

  async connect(): Promise<void> {
    const clients = [this.#admin, this.#probe, this.#producer.client];
    const connected = await Promise.allSettled(clients.map((client) => client.connect()));
    const failed = connected.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    if (this.#error) throw this.#error; // closed while connecting: #stop disconnects them again
    void deleteOrphans(this.#admin, this.#state.orphans);
  }

  subscribe(channel: string, start?: Start): Promise<string | void> {
    if (this.#error) return Promise.reject(this.#error);
    this.#grouped = true;
    return this.#consumer.subscribe(channel, start);
  }

  unsubscribe(channel: string): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return this.#consumer.unsubscribe(channel);
  }

  /**
   * A metadata round trip on the probe's connection; and since kafkajs times
   * no request out here, also a check that none of the link's own requests
   * (a send, a fetch, a join) has waited too long on a connection of its own.
   * Beside it, not awaited (its round trip must not slow the probe down), a
   * look at whether the topics the consumer reads are still the ones it
   * started in: one deleted, or made again meanwhile, loses the link.
   */
  async ping(): Promise<void> {
    if (this.#error) throw this.#error;
    const now = Date.now();
    const stuck = this.#producer.stalled(now) ?? this.#consumer.stalled(now);
    if (stuck) throw this.#fail(new BackboneUnavailableError(`Kafka at ${this.#where} stopped answering: ${stuck}`));
    this.#pinging++;
    try {
      if (!this.#verifying) {
        this.#verifying = true;
        void this.#consumer.verify().catch((error) => this.#fail(error)).finally(() => this.#verifying = false);
      }
      await this.#probe.describeCluster();
    } catch (error) {
      throw this.#fail(error);
    } finally {
      this.#pinging--;
    }
  }

  close(): Promise<void> {
    if (this.#error === undefined) {
      // A ping still waiting means the core gave up on it: the link is dead, not closing cleanly.
      this.#clean = this.#pinging === 0;
      this.#error = new BackboneUnavailableError(`Connection to ${this.#where} closed`);
      try {
        this.#controller.close();
      } catch { /* cancelled or errored already */ }
    }
    return this.#stop();
  }

  /**
   * A connection closed under the link (a cut, a broker going down, or just
   * kafkajs or the broker closing one): a bare TCP connection to the same
   * address tells at once whether the broker can still be reached, so every
   * instance notices an outage within milliseconds rather than after its
   * client's retries. Refused means lost; anything else is left to `ping()`.
   */
  #reach(host: string, port: number): void {
    if (this.#error || this.#reaching) return;
    this.#reaching = true;
    const socket = net.connect({ host, port });
    socket.once("connect", () => {
      this.#reaching = false;
      socket.destroy();
    });
    socket.once("error", (error) => {
      this.#reaching = false;
      socket.destroy();
      this.#fail(new BackboneUnavailableError(`Kafka at ${host}:${port} cannot be reached: ${error.message}`, { cause: error }));
    });
  }

  /** Hands `frames` to a waiting read; false once the link is gone. */
  async #deliver(frames: Frame[]): Promise<boolean> {
    while (!this.#pulled) {
      if (this.#error) return false;
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
    if (this.#error) return false;
    this.#pulled = false;
    this.#controller.enqueue(frames);
    return true;
  }

  /** The link is lost: error the readable, tear everything down; returns the error. */
  #fail(cause: unknown): Error {
    if (this.#error) return this.#error;
    this.#error = cause instanceof BackboneUnavailableError || cause instanceof AuthenticationError
      ? cause
      : new BackboneUnavailableError(`Lost the connection to ${this.#where}: ${describe(cause)}`, { cause });
    try {
      this.#controller.error(this.#error);
    } catch { /* closed already */ }
    void this.#stop();
    return this.#error;
  }

  /**
   * Closed: the consumer leaves its group and the group is deleted, within
   * `requestTimeout`. Lost: nothing can be said to the broker, so the sockets
   * go first and the group is left to a later link (an orphan). Either way
   * every socket is destroyed at the end.
   */
  #stop(): Promise<void> {
    for (const wake of this.#wake.splice(0)) wake();
    this.#shutdown ??= (async () => {
      if (!this.#clean) this.#sockets.destroy();
      if (this.#grouped) this.#state.orphans.add(this.#groupId);
      const graceful = (async () => {
        await Promise.allSettled([
          this.#consumer.close(this.#error),
          this.#reader?.close(this.#error),
          this.#producer.client.disconnect(),
          this.#probe.disconnect(),
          this.#ids.disconnect(),
        ]);
        if (this.#clean) await deleteOrphans(this.#admin, this.#state.orphans);
        await this.#admin.disconnect();
      })();
      // A lost link's clients fail fast on dead sockets: only a clean close needs a bound.
      if (this.#clean) await within(graceful, this.#settings.requestTimeout);
      else await graceful;
      this.#sockets.destroy();
      // kafkajs keeps a timer running per connection until its client disconnects: make sure each does.
      void graceful.then(() =>
        Promise.allSettled([this.#admin, this.#probe, this.#producer.client, this.#ids].map((client) => client.disconnect()))
      );
    })();
    return this.#shutdown;
  }
}

/** Whether `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A failed first connection: rejected credentials are fatal, anything else is retried. */
export function connectError(where: string, error: unknown): Error {
  for (let cause = error as { name?: string; cause?: unknown } | undefined; cause; cause = cause.cause as typeof cause) {
    if (cause.name === "KafkaJSSASLAuthenticationError") {
      return new AuthenticationError(`Kafka rejected the credentials for ${where}: ${describe(cause)}`, { cause: error });
    }
  }
  return new BackboneUnavailableError(`Could not connect to ${where}: ${describe(error)}`, { cause: error });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
