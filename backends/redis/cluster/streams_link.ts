/**
 * History mode on a Redis Cluster: one stream per channel, on the master of
 * the channel's slot, written by the same script as on `redis://` (its epoch
 * and publishers' keys named to hash to the stream's slot, see `keys.ts`),
 * so a publish sent twice is stored once. Each master the link needs is a
 * {@linkcode StreamNode}: a writer, and a reader per slot in use.
 *
 * A node or reader that is lost hands back where each of its channels
 * stood; the {@linkcode ClusterRouter} follows them again on the masters
 * that serve their slots now, from those positions. So a failover or a slot
 * that moved costs no resync frame: what was written before it and kept by
 * the new master is read from there. What the old master acknowledged but
 * had not yet copied to the replica that took over is lost with it, unless
 * the writes waited for a replica (`WAIT`; see the README).
 *
 * @module
 */
import { type EventFrame, type Frame, resyncFrame } from "../../../lib/contract/frame.ts";
import type { ConnectorContext, HistoryOptions, Link, Start } from "../../../lib/contract/link.ts";
import { atPlace } from "../../../lib/contract/position.ts";
import { errorMessage } from "../../../lib/util/error_message.ts";
import { refusedForGood } from "../config.ts";
import { LinkLife } from "../link_life.ts";
import { readRange, readWithInfo, startingPlace } from "../stream_replies.ts";
import { AgeTrims, appends } from "../stream_writes.ts";
import type { ClusterConfig } from "./config.ts";
import { ClusterRouter, redirectOf } from "./router.ts";
import { StreamNode } from "./stream_node.ts";
import { type Address, slotOf } from "./slots.ts";

/** Opens one history-mode link: resolves once a node of the cluster told its topology. */
export async function openClusterStreamsLink(config: ClusterConfig, context: ConnectorContext, history: HistoryOptions): Promise<ClusterStreamsLink> {
  const link = new ClusterStreamsLink(config, context, history);
  await link.router.start();
  return link;
}

export class ClusterStreamsLink implements Link {
  readonly readable: ReadableStream<Frame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly lost: Promise<never>;
  readonly router: ClusterRouter<StreamNode>;
  readonly #context: ConnectorContext;
  readonly #config: ClusterConfig;
  readonly #history: HistoryOptions;
  readonly #life: LinkLife<Frame[]>;
  readonly #trims: AgeTrims;
  /** The channels the core subscribed. */
  readonly #wanted = new Set<string>();
  /** Where each orphan stood when its reader was lost: it is followed again from there. */
  readonly #stood = new Map<string, string>();
  /** Slots whose keys are moving, by the master importing them: read there after `ASKING` (an `ASK` reply said so). */
  readonly #importing = new Map<number, Address>();

  constructor(config: ClusterConfig, context: ConnectorContext, history: HistoryOptions) {
    this.#context = context;
    this.#config = config;
    this.#history = history;
    this.#trims = new AgeTrims(history.maxAge);
    this.#life = new LinkLife<Frame[]>({ where: config.where, clients: [], ending: (error) => this.router.close(error) });
    this.readable = this.#life.readable;
    this.lost = this.#life.lost;
    this.writable = new WritableStream({ write: (batch) => this.#publish(batch) });
    const keep = (positions: Map<string, string>) => {
      for (const [channel, position] of positions) if (this.#wanted.has(channel)) this.#stood.set(channel, position);
    };
    const events = {
      deliver: (frames: Frame[]) => this.#life.enqueue(frames),
      dropped: (node: StreamNode, positions: Map<string, string>, cause: unknown) => {
        keep(positions);
        const channels = [...positions.keys()];
        this.#redirected(node, channels, cause);
        // A slot between two states (a multi-key read while only some keys moved): read again a little
        // later, those still waiting where they stood (not unsubscribed, or subscribed afresh, meanwhile).
        if (!/^(TRYAGAIN|CLUSTERDOWN)\b/.test(errorMessage(cause))) return this.router.orphan(channels);
        context.clock.delay(100).then(() => this.router.orphan(channels.filter((channel) => this.#stood.get(channel) === positions.get(channel))));
      },
      lost: (node: StreamNode, positions: Map<string, string>) => {
        keep(positions);
        for (const [slot, address] of this.#importing) if (address === node.address) this.#importing.delete(slot);
        this.router.lost(node, positions.keys());
      },
    };
    this.router = new ClusterRouter<StreamNode>({
      config,
      context,
      open: (address, timeout) => StreamNode.open(address, { config: config.redis, context, history, events, timeout }),
      wanted: (channel) => this.#wanted.has(channel),
      route: (channel) => this.#importingTo(channel),
      place: async (node, channels) => {
        await Promise.all(channels.map(async (channel) => {
          const position = this.#stood.get(channel);
          // Subscribed afresh meanwhile: its own subscribe follows it.
          if (position === undefined) return void this.router.adopt(channel);
          await node.follow(channel, position, this.#importing.get(slotOf(channel)) === node.address);
          if (this.#stood.get(channel) === position) this.#stood.delete(channel);
          this.router.adopt(channel);
          // Unsubscribed while it was being followed again.
          if (!this.#wanted.has(channel)) node.forget(channel);
        }));
      },
      linkError: () => this.#life.error,
      giveUp: (cause) => this.#life.lose("cluster", cause),
    });
  }

  async subscribe(channel: string, start: Start = "new"): Promise<string> {
    this.#life.check();
    this.#wanted.add(channel);
    this.#forgetOrphan(channel);
    let position = "";
    await this.router.retrying(`subscribing to ${JSON.stringify(channel)}`, async () => {
      const node = await this.router.node(this.router.owner(channel));
      const state = await readWithInfo((args) => node.send(args), channel);
      const { place, gap } = startingPlace(start, state);
      position = atPlace(state.epoch, place);
      await node.follow(channel, position);
      // Before the reader's first reply, which comes with a later turn of the event loop.
      if (gap) this.#life.enqueue([resyncFrame(channel, "gap")]);
    });
    return position;
  }

  async read(channel: string, after: string | undefined, upTo: string, limit: number): Promise<EventFrame[] | "gap"> {
    this.#life.check();
    let read: EventFrame[] | "gap" = [];
    const dropped = (frame: EventFrame, reason: unknown) => this.#context.dropped(frame, reason, "inbound");
    await this.router.retrying(`reading ${JSON.stringify(channel)}`, async () => {
      const node = await this.router.node(this.router.owner(channel));
      read = await readRange((args) => node.send(args), channel, { after, upTo, limit }, dropped);
    });
    return read;
  }

  unsubscribe(channel: string): Promise<void> {
    this.#life.check();
    this.#wanted.delete(channel);
    this.#forgetOrphan(channel);
    for (const node of this.router.nodes()) node.forget(channel);
    return Promise.resolve();
  }

  ping(): Promise<void> {
    this.#life.check();
    return this.router.ping();
  }

  close(): Promise<void> {
    return this.#life.close();
  }

  /**
   * A reader of `channels` was let go for `cause`: an `ASK` sends their slot's
   * reading to the importing master; a `MOVED` ends that (the slot was handed
   * over, or its move undone).
   */
  #redirected(node: StreamNode, channels: Iterable<string>, cause: unknown): void {
    const redirect = redirectOf(cause);
    if (redirect === undefined) return;
    for (const channel of channels) {
      const slot = slotOf(channel);
      if (redirect.kind === "ASK") this.#importing.set(slot, this.router.reach(redirect.address));
      else if (this.#importing.get(slot) === node.address) this.#importing.delete(slot);
    }
  }

  /** The master importing `channel`'s slot, while it is not yet its owner; an entry is let go once it is. */
  #importingTo(channel: string): Address | undefined {
    const slot = slotOf(channel);
    const to = this.#importing.get(slot);
    if (to === undefined) return undefined;
    let owner: Address | undefined;
    try {
      owner = this.router.owner(channel);
    } catch {
      owner = undefined;
    }
    if (owner !== to) return to;
    this.#importing.delete(slot);
    return undefined;
  }

  #forgetOrphan(channel: string): void {
    this.#stood.delete(channel);
    this.router.adopt(channel);
  }

  #publish(batch: EventFrame[]): Promise<void> {
    this.#life.check();
    // The script keeps each publisher's last sequence per stream: a command sent again adds only what it had not.
    let pending = batch.map((_, i) => i);
    let asked = new Map<number, Address>();
    return this.router.retrying(`appending to ${batch.length} stream(s)`, async () => {
      const frames = pending.map((i) => batch[i]);
      const commands = appends(frames, this.#history.messages);
      const targets = commands.map(({ channel, frames: [first] }) => asked.get(pending[first]) ?? this.router.owner(channel));
      const found = this.router.nodesAt(targets);
      const nodes = found instanceof Map ? found : await found;
      const sent = commands.map(({ command, frames: [first] }, n) => nodes.get(targets[n])!.send(command, asked.has(pending[first])));
      const where = new Map(commands.map(({ channel }, n) => [channel, targets[n]]));
      for (const trim of this.#trims.due(frames, this.#context.clock.now())) {
        // A refusal shows on the append to the same key; a loss on the next command.
        nodes.get(where.get(trim[1])!)!.send(trim).catch(() => {});
      }
      const { replicas, timeout } = this.#config.wait;
      if (replicas > 0) {
        // WAIT covers every write this connection sent before it: one per master, after its appends.
        for (const address of nodes.keys()) {
          const acked = nodes.get(address)!.wait(replicas, timeout).then((count) => {
            if (count < replicas) throw new Error(`Only ${count} of ${replicas} replicas of ${address} took the appends within ${timeout} ms`);
          });
          commands.forEach((_, n) => {
            if (targets[n] === address) sent[n] = Promise.all([sent[n], acked]);
          });
        }
      }
      const outcomes = await Promise.allSettled(sent);
      const again: number[] = [];
      const asking = new Map<number, Address>();
      let failure: unknown;
      outcomes.forEach((outcome, n) => {
        if (outcome.status === "fulfilled") return;
        const indices = commands[n].frames.map((f) => pending[f]);
        const redirect = redirectOf(outcome.reason);
        if (redirect?.kind === "ASK") for (const i of indices) asking.set(i, this.router.reach(redirect.address));
        else if (redirect === undefined && refusedForGood(outcome.reason)) {
          for (const i of indices) this.#context.dropped(batch[i], outcome.reason, "outbound");
          return;
        }
        failure ??= outcome.reason;
        again.push(...indices);
      });
      pending = again.sort((a, b) => a - b);
      asked = asking;
      if (failure !== undefined) throw failure;
    });
  }
}
