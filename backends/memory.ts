/**
 * The `memory://` backbone: an in-process hub shared by every Broadcast in the
 * process, so that several instances behave like several servers on one
 * backbone. `memory://` names the default hub; `memory://name` another one.
 *
 * {@linkcode memoryHub} is a control surface for tests and demonstrations: it
 * makes a hub go down, come back, or stall without closing. The connector
 * holds nothing beyond its links: the hub is the state, and it outlives them.
 *
 * @module
 */
import { BackboneUnavailableError } from "../lib/errors.ts";
import type { EventFrame } from "../lib/frame.ts";
import type { Backend, Connector, Link } from "../lib/link.ts";
import { TickBatcher } from "../lib/tick_batcher.ts";

/** Builds a connector whose links go to the in-process hub named by the URI's host. */
export const memory: Backend = (uri): Connector => {
  const hub = memoryHub(uri.hostname);
  return { open: () => hub.connect() };
};

export default memory;

/** A hub's control surface. */
export interface MemoryHub {
  /** Links open now. */
  readonly connections: number;
  /** How many links are subscribed to `channel`. */
  subscribers(channel: string): number;
  /** Whether the hub refuses or stalls new links. */
  readonly state: "up" | "down" | "stalled";
  /** Errors every open link and refuses new ones until `restore()`. */
  cut(reason?: string): void;
  /** Open links stop answering without closing; new links hang until `restore()`. */
  stall(): void;
  /** Accepts new links again. */
  restore(): void;
}

const hubs = new Map<string, Hub>();

/** The hub named `name` (the default hub for ""), created on first use. */
export function memoryHub(name = ""): MemoryHub & { connect(): Promise<Link> } {
  let hub = hubs.get(name);
  if (hub === undefined) {
    hub = new Hub(name);
    hubs.set(name, hub);
  }
  return hub;
}


class Hub implements MemoryHub {
  state: "up" | "down" | "stalled" = "up";
  readonly links = new Set<MemoryLink>();
  readonly #channels = new Map<string, Set<MemoryLink>>();
  #waiting: (() => void)[] = [];

  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  get connections(): number {
    return this.links.size;
  }

  subscribers(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0;
  }

  async connect(): Promise<Link> {
    while (this.state === "stalled") await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.state === "down") throw this.#downError();
    const link = new MemoryLink(this);
    this.links.add(link);
    return link;
  }

  cut(reason = "the memory hub was cut"): void {
    this.state = "down";
    for (const link of [...this.links]) link.fail(new BackboneUnavailableError(`Connection lost: ${reason}`));
    this.#wake();
  }

  stall(): void {
    this.state = "stalled";
    for (const link of this.links) link.stalled = true;
  }

  restore(): void {
    this.state = "up";
    this.#wake();
  }

  deliver(batch: readonly EventFrame[]): void {
    for (const frame of batch) {
      const links = this.#channels.get(frame.channel);
      if (links === undefined) continue;
      for (const link of links) link.receive(frame);
    }
  }

  join(link: MemoryLink, channel: string): void {
    let links = this.#channels.get(channel);
    if (links === undefined) this.#channels.set(channel, links = new Set());
    links.add(link);
  }

  leave(link: MemoryLink, channel: string): void {
    const links = this.#channels.get(channel);
    if (links?.delete(link) && links.size === 0) this.#channels.delete(channel);
  }

  drop(link: MemoryLink): void {
    this.links.delete(link);
    for (const channel of link.channels) this.leave(link, channel);
  }

  #downError(): Error {
    return new BackboneUnavailableError(`Connection refused: memory hub ${JSON.stringify(this.name)} is down`);
  }

  #wake(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

class MemoryLink implements Link {
  readonly readable: ReadableStream<EventFrame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly channels = new Set<string>();
  stalled = false;
  readonly hub: Hub;
  #controller!: ReadableStreamDefaultController<EventFrame[]>;
  readonly #batcher = new TickBatcher<EventFrame[]>({
    create: () => [],
    flush: (batch) => {
      if (!this.#error && !this.stalled) this.#controller.enqueue(batch);
    },
  });
  #error: Error | undefined;

  constructor(hub: Hub) {
    this.hub = hub;
    this.readable = new ReadableStream({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.#end(),
    });
    this.writable = new WritableStream({
      write: (batch) => this.#answer(() => this.hub.deliver(batch)),
    });
  }

  receive(frame: EventFrame): void {
    if (this.stalled || this.#error) return;
    this.#batcher.current().push(frame);
  }

  subscribe(channel: string): Promise<void> {
    return this.#answer(() => {
      this.channels.add(channel);
      this.hub.join(this, channel);
    });
  }

  unsubscribe(channel: string): Promise<void> {
    return this.#answer(() => {
      this.channels.delete(channel);
      this.hub.leave(this, channel);
    });
  }

  ping(): Promise<void> {
    return this.#answer(() => {});
  }

  close(): Promise<void> {
    if (!this.#error) {
      this.#error = new BackboneUnavailableError("Connection closed");
      try {
        this.#controller.close();
      } catch { /* cancelled already */ }
    }
    this.#end();
    return Promise.resolve();
  }

  fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#controller.error(error);
    this.#end();
  }

  #end(): void {
    this.#error ??= new BackboneUnavailableError("Connection closed");
    this.hub.drop(this);
  }

  // Every request either answers, fails like a lost connection, or (stalled) hangs.
  #answer(action: () => void): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.stalled) return new Promise(() => {}); // garbage once the link is dropped
    action();
    return Promise.resolve();
  }
}
