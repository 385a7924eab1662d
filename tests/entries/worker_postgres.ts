/**
 * One worker process of the multi-process Postgres test. Environment: URI,
 * CHANNEL, WORKER (its name), APP (application_name of its sessions).
 * Commands on stdin, one per line: `publish` (start publishing `<name>:<n>`
 * every few milliseconds), `mark` (an outage is about to begin: remember how
 * much of each worker's it has received, and its own next number when it
 * notices it is down), `stop` (stop; print its last number and that one),
 * `report {"<name>": last, …}` (wait for every worker's last message, print
 * what arrived, disconnect, exit).
 * Everything it says is one JSON object per line on stdout.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { Broadcast, type Frame } from "../../mod.ts";

const { URI, CHANNEL, WORKER, APP } = process.env as Record<string, string>;
const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ worker: WORKER, ...message })}\n`);

const broadcast = await Broadcast.connect(URI, {
  reconnect: { minDelay: 10, maxDelay: 100 },
  resyncSettle: 600,
  liveness: { interval: 200, timeout: 1_000 },
  connectTimeout: 3_000,
  backendOptions: { applicationName: APP },
});
let publishing: Promise<void> | undefined;
let running = false;
let next = 0;
let had: Record<string, number> | undefined;
let noticed: number | undefined;
broadcast.addEventListener("statechange", () => {
  if (broadcast.state === "down" && had !== undefined) noticed ??= next;
  say({ event: "state", state: broadcast.state });
});

const received = new Map<string, number[]>();
let resyncs = 0;
let ended = false;
const reading = broadcast.subscribe(CHANNEL).pipeTo(new WritableStream<Frame>({
  write(frame) {
    if (frame.type === "resync") return void resyncs++;
    const [sender, n] = frame.message.split(":");
    const seen = received.get(sender) ?? [];
    received.set(sender, seen);
    if (!seen.includes(Number(n))) seen.push(Number(n));
  },
})).then(() => ended = true, () => ended = true);
await broadcast.ready();
say({ event: "ready" });

async function publish(): Promise<void> {
  while (running) {
    const n = next++;
    await broadcast.publish(CHANNEL, `${WORKER}:${n}`);
    await new Promise((resolve) => setTimeout(resolve, 8));
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = [line.split(" ", 1)[0], line.slice(line.indexOf(" ") + 1)];
  if (command === "publish") {
    running = true;
    publishing = publish();
  } else if (command === "mark") {
    had = Object.fromEntries([...received].map(([sender, seen]) => [sender, seen.length]));
  } else if (command === "stop") {
    running = false;
    await publishing;
    say({ event: "stopped", last: next - 1, noticed });
  } else if (command === "report") {
    const lasts = JSON.parse(argument) as Record<string, number>;
    const deadline = Date.now() + 10_000;
    const complete = () => Object.entries(lasts).every(([sender, last]) => received.get(sender)?.includes(last));
    while (!complete() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    say({ event: "report", received: Object.fromEntries(received), had, resyncs, ended, stats: broadcast.stats });
    await broadcast.disconnect();
    await reading;
    break;
  }
}
