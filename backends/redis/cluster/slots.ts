/**
 * Where a channel lives on a Redis Cluster: its hash slot (CRC16 of its name,
 * or of the part inside its first `{…}`, as Redis computes it for keys and
 * sharded channels alike) and the master that serves that slot, read from
 * `CLUSTER SLOTS`.
 *
 * @module
 */
import calculateSlot from "cluster-key-slot";

/** How many hash slots a Redis Cluster has. */
export const SLOTS = 16384;

/** The hash slot of a channel (or a key) name. */
export function slotOf(name: string): number {
  return calculateSlot(name);
}

/** A node's address as `host:port`, the key of its connections. */
export type Address = string;

/** Which master serves each slot, as one node told it. */
export class SlotMap {
  readonly #owners: (Address | undefined)[];

  private constructor(owners: (Address | undefined)[]) {
    this.#owners = owners;
  }

  /**
   * Reads a `CLUSTER SLOTS` reply: `[start, end, [host, port, id, …], …replicas]`
   * per range. A master that announces no host (an empty or `?` endpoint) is
   * reached at `fallbackHost`, the host of the node that answered; `reach`
   * turns an announced address into the one to connect to.
   */
  static parse(reply: unknown, fallbackHost: string, reach: (address: Address) => Address): SlotMap {
    if (!Array.isArray(reply)) throw new Error(`CLUSTER SLOTS answered ${typeof reply}, not a list of ranges`);
    const owners: (Address | undefined)[] = new Array(SLOTS).fill(undefined);
    for (const range of reply) {
      const [start, end, master] = range as [unknown, unknown, unknown[]];
      const host = String(master?.[0] ?? "");
      const address = reach(`${host === "" || host === "?" ? fallbackHost : host}:${Number(master?.[1])}`);
      for (let slot = Number(start); slot <= Number(end) && slot < SLOTS; slot++) owners[slot] = address;
    }
    return new SlotMap(owners);
  }

  /** The master that serves `slot`, or undefined while no node serves it. */
  owner(slot: number): Address | undefined {
    return this.#owners[slot];
  }

  /** Every master that serves a slot. */
  masters(): Set<Address> {
    return new Set(this.#owners.filter((owner): owner is Address => owner !== undefined));
  }
}

/** A `host:port` split for a client's socket options (an IPv6 host without its brackets). */
export function hostAndPort(address: Address): { host: string; port: number } {
  const split = address.lastIndexOf(":");
  return { host: address.slice(0, split).replace(/^\[(.*)\]$/, "$1"), port: Number(address.slice(split + 1)) };
}
