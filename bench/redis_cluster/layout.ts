/**
 * The shared cluster as the benchmark needs it: its masters in port order
 * (each with the slots it serves), the pid of every node (for its CPU time in
 * /proc), and channel names that hash onto a chosen master, found with the
 * same CRC16 the cluster uses (`cluster-key-slot`).
 */
import calculateSlot from "cluster-key-slot";
import { readFileSync } from "node:fs";
import { createClient } from "redis";

export interface Node {
  port: number;
  role: "master" | "replica";
  pid: number;
  /** Inclusive slot ranges; empty for a replica. */
  slots: [number, number][];
}

/** Every node of the cluster whose first node is `port` (as that node sees it), masters first, by port. */
export async function clusterLayout(port: number): Promise<Node[]> {
  const admin = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false }, RESP: 2 });
  admin.on("error", () => {});
  await admin.connect();
  try {
    const text = String(await admin.sendCommand(["CLUSTER", "NODES"]));
    const nodes = text.trim().split("\n").map((line) => {
      const [, address, flags, , , , , , ...ranges] = line.trim().split(" ");
      const slots = ranges.filter((r) => !r.startsWith("[")).map((r) => {
        const [a, b] = r.split("-").map(Number);
        return [a, b ?? a] as [number, number];
      });
      return { port: Number(/:(\d+)@/.exec(address)![1]), role: flags.includes("master") ? "master" : "replica", slots } as const;
    });
    const withPids: Node[] = [];
    for (const node of nodes) {
      const other = createClient({ socket: { host: "127.0.0.1", port: node.port, reconnectStrategy: false }, RESP: 2 });
      other.on("error", () => {});
      await other.connect();
      const info = String(await other.sendCommand(["INFO", "server"]));
      other.destroy();
      withPids.push({ ...node, slots: [...node.slots], pid: Number(/process_id:(\d+)/.exec(info)![1]) });
    }
    return withPids.sort((a, b) => (a.role === b.role ? a.port - b.port : a.role === "master" ? -1 : 1));
  } finally {
    admin.destroy();
  }
}

/** `n` names `name(i)` whose slot `master` serves. */
export function namesOn(master: Node, n: number, name: (i: number) => string, slotOf: (name: string) => number = calculateSlot): string[] {
  const found: string[] = [];
  for (let i = 0; found.length < n; i++) {
    if (i > 1_000_000) throw new Error(`No ${n} names on 127.0.0.1:${master.port}`);
    const candidate = name(i);
    const slot = slotOf(candidate);
    if (master.slots.some(([a, b]) => a <= slot && slot <= b)) found.push(candidate);
  }
  return found;
}

/** The slot of a name. */
export const slotOf = (name: string): number => calculateSlot(name);

const TICK_MS = 10; // USER_HZ = 100 on Linux
/** CPU time (user + system) of `pid` so far, in ms, from /proc (10 ms ticks). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** How many sharded subscriptions each of `channels` has on the master that serves it (PUBSUB SHARDNUMSUB). */
export async function shardSubscribers(masters: Node[], channels: string[]): Promise<number[]> {
  const counts = new Map<string, number>();
  await Promise.all(masters.map(async (master) => {
    const mine = channels.filter((channel) => master.slots.some(([a, b]) => a <= slotOf(channel) && slotOf(channel) <= b));
    if (mine.length === 0) return;
    const client = createClient({ socket: { host: "127.0.0.1", port: master.port, reconnectStrategy: false }, RESP: 2 });
    client.on("error", () => {});
    await client.connect();
    try {
      const reply = await client.sendCommand(["PUBSUB", "SHARDNUMSUB", ...mine]) as unknown[];
      for (let i = 0; i < reply.length; i += 2) counts.set(String(reply[i]), Number(reply[i + 1]));
    } finally {
      client.destroy();
    }
  }));
  return channels.map((channel) => counts.get(channel) ?? 0);
}
