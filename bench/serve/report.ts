/**
 * The figures of `bench/serve.ts`, when a step counts as saturated, the knee,
 * and the side-by-side table.
 */

export type System = "streamcast" | "socketio";
export const LABEL: Record<System, string> = { streamcast: "streamcast", socketio: "socket.io" };

/** One step: `clients` clients, `rate` messages a second, on one system. */
export interface Step {
  system: System;
  clients: number;
  rate: number;
  /** Deliveries a second asked for: clients × rate. */
  offered: number;
  sent: number;
  received: number;
  /** Received ÷ the longer of the publishing time and first publish → last delivery. */
  deliveriesPerSecond: number;
  /** Expected deliveries (sent × clients) not received. */
  loss: number;
  outOfOrder: number;
  /** Clients the server closed during the step, and the resync events seen. */
  closed: number;
  resyncs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The workers' CPU, all added up, in % of one core; and per delivery. */
  workerCpuPercent: number;
  cpuUsPerDelivery: number;
  /** The load processes' CPU in % of one core: near 100 × loaders, they were the bottleneck. */
  loadCpuPercent: number;
  /** Why the step is saturated; empty when it is not. */
  saturated: string[];
}

/** Worker memory with no client and with `clients` idle ones. */
export interface Idle {
  system: System;
  clients: number;
  rssZero: number;
  rssClients: number;
  bytesPerClient: number;
  /** The workers' CPU while the clients sat idle, in % of one core. */
  workerCpuPercent: number;
}

/** The bounds past which a step is saturated. */
export interface Bounds {
  /** Smallest share of the offered deliveries a second. */
  share: number;
  p99Ms: number;
}

export function saturation(step: Omit<Step, "saturated">, bounds: Bounds): string[] {
  const why: string[] = [];
  if (step.deliveriesPerSecond < bounds.share * step.offered) why.push(`${Math.round((100 * step.deliveriesPerSecond) / step.offered)} % delivered`);
  if (!(step.p99Ms <= bounds.p99Ms)) why.push(`p99 > ${bounds.p99Ms} ms`);
  if (step.loss > 0) why.push("loss");
  if (step.outOfOrder > 0) why.push("out of order");
  if (step.closed > 0 || step.resyncs > 0) why.push("clients closed");
  return why;
}

/** The highest offered deliveries a second of a step that is not saturated. */
export function knee(steps: Step[], system: System): Step | undefined {
  return steps.filter((s) => s.system === system && s.saturated.length === 0).sort((a, b) => b.offered - a.offered)[0];
}

const int = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en") : "—";
const ms = (n: number) => Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) : "—";
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const ratio = (a: number, b: number) => b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "—";

const COLUMNS: [string, number][] = [
  ["clients", 7], ["msgs/s", 7], ["offered/s", 10], ["system", 11], ["deliv/s", 10], ["loss", 7], ["ooo", 4], ["closed", 7],
  ["p50 ms", 7], ["p99 ms", 7], ["max ms", 7], ["CPU %", 6], ["µs/deliv", 9], ["load %", 7], ["", 0],
];
const row = (cells: string[]) => cells.map((cell, i) => i === 3 || i === cells.length - 1 ? ` ${cell.padEnd(COLUMNS[i][1])}` : cell.padStart(COLUMNS[i][1] + 1)).join("").trimEnd();

/** The steps side by side, one line per system and a ratio line where both ran the step. */
export function stepTable(steps: Step[], systems: System[]): string[] {
  const lines = [row(COLUMNS.map(([name]) => name))];
  const keys = [...new Set(steps.map((s) => `${s.clients} ${s.rate}`))];
  for (const key of keys) {
    const here = systems.map((system) => steps.find((s) => s.system === system && `${s.clients} ${s.rate}` === key));
    here.forEach((s, i) => {
      if (s === undefined) return;
      const first = here.findIndex((x) => x !== undefined) === i;
      lines.push(row([
        first ? int(s.clients) : "", first ? int(s.rate) : "", first ? int(s.offered) : "", LABEL[s.system],
        int(s.deliveriesPerSecond), int(s.loss), int(s.outOfOrder), int(s.closed), ms(s.p50Ms), ms(s.p99Ms), ms(s.maxMs),
        s.workerCpuPercent.toFixed(0), s.cpuUsPerDelivery.toFixed(1), s.loadCpuPercent.toFixed(0),
        s.saturated.length > 0 ? `SATURATED: ${s.saturated.join(", ")}` : "",
      ]));
    });
    const [a, b] = here;
    if (a !== undefined && b !== undefined) {
      lines.push(row(["", "", "", "ratio", ratio(a.deliveriesPerSecond, b.deliveriesPerSecond), "", "", "", ratio(a.p50Ms, b.p50Ms), ratio(a.p99Ms, b.p99Ms), "",
        ratio(a.workerCpuPercent, b.workerCpuPercent), ratio(a.cpuUsPerDelivery, b.cpuUsPerDelivery), "", ""]));
    }
  }
  return lines;
}

export function idleTable(idle: Idle[]): string[] {
  const lines = [`${"clients".padStart(8)}  ${"system".padEnd(11)}${"RSS, 0 clients".padStart(16)}${"RSS, N idle".padStart(13)}${"per client".padStart(12)}${"idle CPU %".padStart(12)}`];
  for (const i of idle) {
    lines.push(`${int(i.clients).padStart(8)}  ${LABEL[i.system].padEnd(11)}${`${mb(i.rssZero)} MiB`.padStart(16)}${`${mb(i.rssClients)} MiB`.padStart(13)}` +
      `${`${(i.bytesPerClient / 1024).toFixed(1)} KiB`.padStart(12)}${i.workerCpuPercent.toFixed(1).padStart(12)}`);
  }
  return lines;
}

/** One line per system naming its knee, and their ratio. */
export function kneeLines(steps: Step[], systems: System[]): string[] {
  const knees = systems.map((system) => {
    const best = knee(steps, system);
    const ran = steps.filter((s) => s.system === system);
    const open = ran.every((s) => s.saturated.length === 0);
    const text = best === undefined
      ? "none: every step was saturated"
      : `${int(best.offered)} deliveries/s (${int(best.clients)} clients × ${best.rate} msgs/s, p99 ${ms(best.p99Ms)} ms)${open ? ", not saturated at any step: at least this" : ""}`;
    return { system, best, open, line: `knee ${LABEL[system].padEnd(11)} ${text}` };
  });
  const lines = knees.map((k) => k.line);
  if (knees.length < 2) return lines;
  const open = knees.filter((k) => k.open).map((k) => LABEL[k.system]);
  if (knees[0].best === undefined || knees[1].best === undefined) lines.push("knee ratio: — (a system had no step that was not saturated: lower --clients or --rates)");
  else if (open.length > 0) lines.push(`knee ratio: — (${open.join(" and ")} never saturated: a ratio of lower bounds says nothing; raise --rates or --clients)`);
  else lines.push(`knee ratio streamcast ÷ socket.io: ${ratio(knees[0].best.offered, knees[1].best.offered)}`);
  return lines;
}
