/**
 * A worker process for the multi-process Redis test: one Broadcast on
 * `STREAMCAST_URI`, subscribed to `STREAMCAST_CHANNEL`, reporting on stdout
 * as JSON lines (`{"ready":true}`, `{"frame":…}`, `{"state":…}`) and taking
 * commands on stdin (`publish <message>`, `quit`).
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { Broadcast } from "../../mod.ts";

const uri = process.env.STREAMCAST_URI!;
const channel = process.env.STREAMCAST_CHANNEL!;
const options = JSON.parse(process.env.STREAMCAST_OPTIONS ?? "{}");
const say = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);

const broadcast = await Broadcast.connect(uri, options);
broadcast.addEventListener("statechange", (event) => say({ state: event.detail.state, at: Date.now() }));
const frames = broadcast.subscribe(channel);
await broadcast.ready();
say({ ready: true, pid: process.pid });

const reading = (async () => {
  for await (const frame of frames) say({ frame });
  say({ ended: true });
})();

for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith("publish ")) {
    const message = line.slice("publish ".length);
    await broadcast.publish(channel, message);
    say({ published: message, state: broadcast.state });
  } else if (line === "quit") {
    break;
  }
}
const report = await broadcast.disconnect();
await reading;
say({ bye: broadcast.stats, unsent: report.unsent.length });
