/**
 * Pub/sub mode on a Redis Cluster, over sharded pub/sub: a channel lives on
 * the master that serves its hash slot, `SPUBLISH` goes there and
 * `SSUBSCRIBE` is held there, so that a message crosses one shard instead of
 * every node (classic `PUBLISH` is broadcast to the whole cluster).
 *
 * Each master the link needs is a {@linkcode Shard}; the
 * {@linkcode ClusterRouter} follows the topology. A shard that is lost (its
 * connection fails, it stalls past the probe's bound, or Redis ends a
 * subscription because its slot moved) is mended inside the link, the other
 * shards untouched: its channels are subscribed again on their masters now,
 * in batches (one `SSUBSCRIBE` per slot), and each gets one resync frame
 * (`reconnect`) once that is acknowledged. Publishes wait meanwhile, in
 * order (the link's writes are one ordered stream); a `MOVED` reply reads
 * the topology again and sends the rest of the batch to the new master, an
 * `ASK` reply sends it to the importing master after `ASKING`.
 *
 * @module
 */
import { type EventFrame, type Frame, resyncFrame } from "../../../lib/contract/frame.ts";
import type { ConnectorContext, Link } from "../../../lib/contract/link.ts";
import { TickBatcher } from "../../../lib/util/tick_batcher.ts";
import { refusedForGood } from "../config.ts";
import { LinkLife } from "../link_life.ts";
import type { ClusterConfig } from "./config.ts";
import { ClusterRouter, redirectOf } from "./router.ts";
import { Shard } from "./shard.ts";
import type { Address } from "./slots.ts";

/** Opens one pub/sub link: resolves once a node of the cluster told its topology. */
export async function openClusterPubSubLink(config: ClusterConfig, context: ConnectorContext): Promise<ClusterPubSubLink> {
  const link = new ClusterPubSubLink(config, context);
  await link.router.start();
  return link;
}

export class ClusterPubSubLink implements Link {
  readonly readable: ReadableStream<Frame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly lost: Promise<never>;
  readonly router: ClusterRouter<Shard>;
  readonly #context: ConnectorContext;
  readonly #life: LinkLife<Frame[]>;
  readonly #batcher = new TickBatcher<Frame[]>({ create: () => [], flush: (batch) => this.#life.enqueue(batch) });
  /** The channels the core subscribed. */
  readonly #wanted = new Set<string>();

  constructor(config: ClusterConfig, context: ConnectorContext) {
    this.#context = context;
    this.#life = new LinkLife<Frame[]>({ where: config.where, clients: [], ending: (error) => this.router.close(error) });
    this.readable = this.#life.readable;
    this.lost = this.#life.lost;
    this.writable = new WritableStream({ write: (batch) => this.#publish(batch) });
    const events = {
      message: (message: string, channel: string) => this.#batcher.current().push({ type: "event", channel, message }),
      moved: (_: Shard, channel: string) => this.router.orphan([channel]),
      lost: (shard: Shard) => void this.router.lost(shard, shard.channels),
    };
    this.router = new ClusterRouter<Shard>({
      config,
      context,
      open: (address, timeout) => Shard.open(address, config.redis, events, context.clock, timeout),
      wanted: (channel) => this.#wanted.has(channel),
      place: async (shard, channels) => {
        await shard.subscribe(channels);
        // Unsubscribed while this was on its way: let it go again.
        for (const channel of channels) if (!this.#wanted.has(channel)) await shard.unsubscribe(channel);
        // Acknowledged, and still here (not ended again by its slot moving meanwhile): what a
        // subscriber missed meanwhile is told now, once per channel.
        const resynced = channels.filter((channel) => shard.channels.has(channel) && this.router.adopt(channel) && this.#wanted.has(channel));
        this.#life.enqueue(resynced.map((channel) => resyncFrame(channel, "reconnect")));
      },
      linkError: () => this.#life.error,
      giveUp: (cause) => this.#life.lose("cluster", cause),
    });
  }

  async subscribe(channel: string): Promise<void> {
    this.#life.check();
    this.#wanted.add(channel);
    this.router.adopt(channel);
    await this.router.retrying(`SSUBSCRIBE ${JSON.stringify(channel)}`, async () => {
      const shard = await this.router.node(this.router.owner(channel));
      if (this.#wanted.has(channel) && !shard.channels.has(channel)) await shard.subscribe([channel]);
    });
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#life.check();
    this.#wanted.delete(channel);
    this.router.adopt(channel);
    for (const shard of this.router.nodes()) {
      if (shard.channels.has(channel)) await shard.unsubscribe(channel).catch(() => {});
    }
  }

  ping(): Promise<void> {
    this.#life.check();
    return this.router.ping();
  }

  close(): Promise<void> {
    return this.#life.close();
  }

  #publish(batch: EventFrame[]): Promise<void> {
    this.#life.check();
    // Each frame goes to the master of its slot; what fails for a reason that passes is sent again, in order.
    let pending = batch.map((_, i) => i);
    let asked = new Map<number, Address>();
    return this.router.retrying(`SPUBLISH to ${batch.length} channel(s)`, async () => {
      const targets = pending.map((i) => asked.get(i) ?? this.router.owner(batch[i].channel));
      const found = this.router.nodesAt(targets);
      const shards = found instanceof Map ? found : await found;
      // Sent in one synchronous pass: each connection gets its frames in order, pipelined.
      const sent = pending.map((i, n) => shards.get(targets[n])!.publish(batch[i].channel, batch[i].message, asked.has(i)));
      const outcomes = await Promise.allSettled(sent);
      const again: number[] = [];
      const asking = new Map<number, Address>();
      let failure: unknown;
      outcomes.forEach((outcome, n) => {
        if (outcome.status === "fulfilled") return;
        const i = pending[n];
        const redirect = redirectOf(outcome.reason);
        if (redirect?.kind === "ASK") asking.set(i, this.router.reach(redirect.address));
        else if (redirect === undefined && refusedForGood(outcome.reason)) return void this.#context.dropped(batch[i], outcome.reason, "outbound");
        failure ??= outcome.reason;
        again.push(i);
      });
      pending = again;
      asked = asking;
      if (failure !== undefined) throw failure;
    });
  }
}
