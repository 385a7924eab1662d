/**
 * A worker process for the multi-process Kafka test: one Broadcast on
 * `STREAMCAST_URI`, subscribed to `STREAMCAST_CHANNEL`, reporting on stdout as
 * JSON lines (`{"ready":true}`, `{"frame":…}`, `{"published":…}`) and taking
 * commands on stdin (`publish <count> <prefix>`, `quit`).
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { Broadcast } from "../../mod.ts";

const uri = process.env.STREAMCAST_URI!;
const channel = process.env.STREAMCAST_CHANNEL!;
const say = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);

const broadcast = await Broadcast.connect(uri);
const frames = broadcast.subscribe(channel);
await broadcast.ready();
say({ ready: true, pid: process.pid });

const reading = (async () => {
  for await (const frame of frames) say({ frame });
})();

for await (const line of createInterface({ input: process.stdin })) {
  const [command, count, prefix] = line.split(" ");
  if (command === "publish") {
    for (let n = 0; n < Number(count); n++) await broadcast.publish(channel, `${prefix}${n}`);
    say({ published: prefix });
  } else if (command === "quit") {
    break;
  }
}
await broadcast.disconnect();
await reading;
say({ bye: broadcast.stats });
