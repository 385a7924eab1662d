/**
 * What both modes of a Redis Cluster link share: the topology (which master
 * serves each slot), the connections to the masters the link needs (its
 * *nodes*), the retrying of a command through redirections and failovers,
 * and the mending of channels whose node was lost.
 *
 * The core owns which channels are wanted; the router owns where each one
 * lives. It connects to a master when a channel there is first used, and
 * reads the topology (`CLUSTER SLOTS`) from a node it knows: the masters it
 * met, then the URI's seeds. A node that is lost is forgotten, its channels
 * are *orphans*: the mending reads the topology again and hands each orphan
 * to the link's `place` on its master now, in one call per master, until
 * none is left. Whatever stays undone longer than `failoverTimeout` ends the
 * whole link, and the core reconnects as for any lost link.
 *
 * @module
 */
import { BackboneUnavailableError } from "../../../lib/contract/errors.ts";
import type { ConnectorContext } from "../../../lib/contract/link.ts";
import { backoffDelay } from "../../../lib/util/backoff.ts";
import { errorMessage } from "../../../lib/util/error_message.ts";
import { refusedForGood } from "../config.ts";
import type { ClusterConfig } from "./config.ts";
import { discover } from "./discover.ts";
import { type Address, SlotMap, slotOf } from "./slots.ts";

/** How retries and the mending wait between tries: from 20 ms to 1 s. */
const RETRY = { minDelay: 20, maxDelay: 1_000 };

/** The connections a link holds to one master. */
export interface ClusterNode {
  readonly address: Address;
  /** Why the node is gone, or undefined while it lives. */
  readonly error: Error | undefined;
  /** A round trip on every connection of the node, within `timeout` ms. */
  ping(timeout: number): Promise<void>;
  /** The node is gone: its connections destroyed, its link told. */
  lose(cause: unknown): void;
  close(cause?: unknown): void;
}

/** What the router needs from its link. */
export interface RouterOptions<N extends ClusterNode> {
  config: ClusterConfig;
  context: ConnectorContext;
  /** Connects to the master at `address`, within `timeout` ms. */
  open(address: Address, timeout: number): Promise<N>;
  /** Whether the core still wants `channel`: an orphan it no longer wants is let go. */
  wanted(channel: string): boolean;
  /** Where to place an orphan instead of its slot's master (a slot being imported elsewhere), if anywhere. */
  route?(channel: string): Address | undefined;
  /** Takes `channels`, orphans whose slots `node` serves now; resolves once they are in place there. */
  place(node: N, channels: string[]): Promise<void>;
  /** Why the link is gone, or undefined while it lives. */
  linkError(): Error | undefined;
  /** Gives the whole link up with `cause`. */
  giveUp(cause: Error): void;
}

/** See the module's documentation. */
export class ClusterRouter<N extends ClusterNode> {
  readonly #options: RouterOptions<N>;
  /** The masters connected to, or being connected to, by address. */
  readonly #opening = new Map<Address, Promise<N>>();
  /** The masters connected to: a loss is only heard from the node the map holds. */
  readonly #open = new Map<Address, N>();
  readonly #orphans = new Set<string>();
  #slots: SlotMap | undefined;
  #stale = false;
  #refreshing: Promise<void> | undefined;
  #mending: Promise<void> | undefined;

  constructor(options: RouterOptions<N>) {
    this.#options = options;
  }

  /** Half the core's probe bound: a node found dead well before the core would give up on the link. */
  get probeTimeout(): number {
    return Math.max(100, (this.#options.context.liveness?.timeout ?? 3_000) / 2);
  }

  /** Reads the topology from the seeds; rejects with what the last one said when none answers. */
  async start(): Promise<void> {
    const { config, context } = this.#options;
    this.#slots = await discover(config, config.seeds, context.clock, this.probeTimeout);
  }

  /** The master of `name`'s slot now; the topology is to be read again when no node serves it. */
  owner(name: string): Address {
    const owner = this.#slots?.owner(slotOf(name));
    if (owner !== undefined) return owner;
    this.#stale = true;
    throw new BackboneUnavailableError(`No node of ${this.#options.config.where} serves slot ${slotOf(name)} (channel ${JSON.stringify(name)})`);
  }

  /** The connected master at `address`, connecting it first when needed. */
  node(address: Address): Promise<N> {
    let opening = this.#opening.get(address);
    if (opening === undefined) {
      const made = opening = this.#options.open(address, this.probeTimeout);
      this.#opening.set(address, made);
      made.then((node) => {
        if (this.#opening.get(address) !== made) return node.close();
        if (node.error) return void this.#opening.delete(address);
        this.#open.set(address, node);
      }, () => {
        if (this.#opening.get(address) === made) this.#opening.delete(address);
      });
    }
    return opening;
  }

  /** The address to connect to for one a node announced (in a redirection). */
  reach(address: Address): Address {
    return this.#options.config.reach(address);
  }

  /**
   * The connected masters at `addresses`, connecting those that are not
   * first; synchronous (no await) when all are, as on the publish path.
   */
  nodesAt(addresses: Iterable<Address>): Map<Address, N> | Promise<Map<Address, N>> {
    const found = new Map<Address, N>();
    const missing: Address[] = [];
    for (const address of addresses) {
      if (found.has(address)) continue;
      const node = this.#open.get(address);
      if (node !== undefined && node.error === undefined) found.set(address, node);
      else missing.push(address);
    }
    if (missing.length === 0) return found;
    return Promise.all(missing.map(async (address) => found.set(address, await this.node(address)))).then(() => found);
  }

  /** The masters connected to now. */
  nodes(): N[] {
    return [...this.#open.values()].filter((node) => node.error === undefined);
  }

  /**
   * Forgets a lost node and makes orphans of its `channels`; false (and
   * nothing done) when `node` is not the one the router holds for its address.
   */
  lost(node: N, channels: Iterable<string>): boolean {
    if (this.#open.get(node.address) !== node) return false;
    this.#open.delete(node.address);
    this.#opening.delete(node.address);
    this.orphan(channels);
    return true;
  }

  /** Marks `channels` as lost where they were: the mending places the wanted ones again. */
  orphan(channels: Iterable<string>): void {
    for (const channel of channels) if (this.#options.wanted(channel)) this.#orphans.add(channel);
    this.#stale = true;
    if (this.#orphans.size > 0) this.#mend().catch(() => {});
  }

  /** Whether `channel` waits to be placed again; it no longer does once this returns. */
  adopt(channel: string): boolean {
    return this.#orphans.delete(channel);
  }

  /** The topology is to be read again before the next try (a `MOVED` reply, a node that failed). */
  stale(): void {
    this.#stale = true;
  }

  /**
   * Runs `attempt` until it succeeds, reading the topology again between
   * tries; throws a refusal for good at once, and gives the link up once
   * `failoverTimeout` has passed.
   */
  async retrying(what: string, attempt: () => Promise<void>): Promise<void> {
    const { config, context: { clock }, giveUp } = this.#options;
    const deadline = clock.now() + config.failoverTimeout;
    for (let tries = 0;; tries++) {
      this.#check();
      try {
        if (this.#stale) await this.#refresh();
        return await attempt();
      } catch (error) {
        this.#check();
        const redirect = redirectOf(error);
        if (redirect === undefined && refusedForGood(error)) throw error;
        // A master that fails may have been replaced: ask again before the next try.
        if (redirect?.kind !== "ASK") this.#stale = true;
        if (clock.now() >= deadline) giveUp(new BackboneUnavailableError(`${what} failed for ${config.failoverTimeout} ms: ${errorMessage(error)}`));
        this.#check();
        // A redirection is followed at once, unless it keeps coming (the nodes still disagree).
        if (redirect === undefined || tries >= 3) await clock.delay(backoffDelay(tries, RETRY));
      }
    }
  }

  /**
   * Probes every connected master within half the core's probe bound: one
   * that does not answer is lost (and mended) while the link lives on. The
   * probe fails only when no master answers; with none connected, it asks
   * a seed for the topology.
   */
  async ping(): Promise<void> {
    const nodes = this.nodes();
    if (nodes.length === 0) return this.start();
    const answers = await Promise.allSettled(nodes.map((node) => node.ping(this.probeTimeout)));
    answers.forEach((answer, i) => {
      if (answer.status === "rejected") nodes[i].lose(answer.reason);
    });
    this.#check();
    if (answers.every((answer) => answer.status === "rejected")) throw (answers[0] as PromiseRejectedResult).reason;
  }

  /** Closes every node. */
  close(error: Error): void {
    for (const opening of this.#opening.values()) opening.then((node) => node.close(error), () => {});
    this.#opening.clear();
    this.#open.clear();
  }

  #check(): void {
    const error = this.#options.linkError();
    if (error) throw error;
  }

  /** Reads the topology again; one reading at a time, and a loss meanwhile marks it stale again. */
  #refresh(): Promise<void> {
    const { config, context } = this.#options;
    this.#stale = false;
    const known = [...new Set([...this.#slots?.masters() ?? [], ...config.seeds])];
    return this.#refreshing ??= discover(config, known, context.clock, this.probeTimeout).then(
      (slots) => {
        this.#slots = slots;
      },
      (error) => {
        this.#stale = true;
        throw error;
      },
    ).finally(() => this.#refreshing = undefined);
  }

  /** Places the orphans again; one mending at a time. */
  #mend(): Promise<void> {
    return this.#mending ??= this.#mendOnce().finally(() => this.#mending = undefined);
  }

  async #mendOnce(): Promise<void> {
    const { config, context: { clock }, linkError, giveUp, place } = this.#options;
    const deadline = clock.now() + config.failoverTimeout;
    for (let tries = 0; linkError() === undefined && (this.#stale || this.#orphans.size > 0); tries++) {
      try {
        if (this.#stale) await this.#refresh();
        const byOwner = new Map<Address, string[]>();
        for (const channel of this.#orphans) {
          const owner = this.#options.route?.(channel) ?? this.owner(channel);
          byOwner.set(owner, [...byOwner.get(owner) ?? [], channel]);
        }
        await Promise.all([...byOwner].map(async ([address, channels]) => place(await this.node(address), channels)));
        // Some are orphans still (lost again meanwhile): the next try waits its turn, never spins.
        if (this.#orphans.size > 0) await clock.delay(backoffDelay(tries, RETRY));
      } catch (error) {
        if (linkError()) return;
        this.#stale = true;
        if (clock.now() >= deadline) {
          return giveUp(new BackboneUnavailableError(`The cluster was not whole again within ${config.failoverTimeout} ms: ${errorMessage(error)}`));
        }
        await clock.delay(backoffDelay(tries, RETRY));
      }
    }
  }
}

/** A `MOVED` or `ASK` reply: where the slot is served now. */
export function redirectOf(error: unknown): { kind: "MOVED" | "ASK"; address: Address } | undefined {
  const match = /^(MOVED|ASK) \d+ (\S+)$/.exec(error instanceof Error ? error.message : "");
  return match === null ? undefined : { kind: match[1] as "MOVED" | "ASK", address: match[2] };
}
