/**
 * Run by tests/runtimes/deno_permissions_test.ts under Deno with some permissions left
 * out: what a Broadcast on the URI given as its argument does when the
 * runtime refuses it one. Prints one line per outcome; exits 1 if connect()
 * is still retrying after a few seconds.
 */
import { Broadcast } from "../../mod.ts";

const { Deno } = globalThis as unknown as { Deno: { args: string[]; exit(code: number): never } };

const name = (error: unknown) => `${(error as Error).name}: ${(error as Error).message}`;
try {
  Broadcast.fromEnv();
  console.log("fromEnv: accepted");
} catch (error) {
  console.log(`fromEnv: ${name(error)}`);
}
const broadcast = new Broadcast(Deno.args[0], { reconnect: { minDelay: 10, maxDelay: 50 } });
const timer = setTimeout(() => {
  console.log("connect: still retrying");
  Deno.exit(1);
}, 5_000);
try {
  await broadcast.connect();
  console.log("connect: connected");
} catch (error) {
  console.log(`connect: ${name(error)}`);
}
clearTimeout(timer);
await broadcast.disconnect();
