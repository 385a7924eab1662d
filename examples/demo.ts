/**
 * The smallest use of streamcast: two instances (as two server workers) on the
 * in-process memory:// backbone; one publishes, the other's subscriber reads.
 *
 *   npx tsx examples/demo.ts
 *
 * The full demonstration, with outages and checks, is `streamcast demo`
 * (`npm start`, cli/demo/mod.ts).
 */
import { Broadcast } from "../mod.ts";

const worker1 = await Broadcast.connect("memory://");
const worker2 = await Broadcast.connect("memory://");
const reader = worker2.subscribe("policy").getReader();
await worker2.ready(); // the subscription is acknowledged by the backbone
await worker1.publish("policy", JSON.stringify({ id: 1, rule: "allow" }));
const { value } = await reader.read();
console.log(value); // { type: "event", channel: "policy", message: '{"id":1,"rule":"allow"}' }
await worker1.disconnect();
await worker2.disconnect();
