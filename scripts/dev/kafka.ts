/**
 * The shared Kafka broker of tests and benchmarks (127.0.0.1:19092, or
 * `STREAMCAST_KAFKA_PORT`), run through `scripts/kafka.sh`: started when it
 * is not running, left running for the next test, stopped by whoever needs
 * the machine back (a benchmark that started it). A broker that cannot be
 * started fails loudly.
 */
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import kafkajs from "kafkajs";

const SCRIPT = fileURLToPath(new URL("../kafka.sh", import.meta.url));

/** The shared broker's port. */
export const SHARED_PORT = Number(process.env.STREAMCAST_KAFKA_PORT ?? 19092);

/** Runs `scripts/kafka.sh` with `args`; rejects with its output when it fails. */
export function kafkaScript(args: string[], timeout = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [SCRIPT, ...args], { timeout }, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/kafka.sh ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The shared broker's address, and whether this call started it (else it was running already). */
export interface SharedBroker {
  readonly broker: string;
  readonly started: boolean;
}

/**
 * Starts the shared broker unless it runs. A Kafka broker already on the
 * port that this checkout did not start (another checkout's, on the same
 * machine) is used as it is; anything else there fails.
 */
export async function startSharedBroker(): Promise<SharedBroker> {
  const broker = `127.0.0.1:${SHARED_PORT}`;
  let started = false;
  try {
    // kafka.sh says "already running" when it found the broker up: then someone else owns its stop.
    started = !(await kafkaScript(["start", "--port", String(SHARED_PORT)])).includes("already running");
  } catch (error) {
    if (!/is taken by another process/.test(String(error))) throw error;
    await warmUp(broker, 2).catch((cause) => {
      throw new Error(`Port ${SHARED_PORT} is taken by something that is not a Kafka broker; set STREAMCAST_KAFKA_PORT`, { cause });
    });
  }
  await warmUp(broker);
  return { broker, started };
}

/** Starts the shared broker unless it runs; resolves with its `host:port`. */
export async function sharedBroker(): Promise<string> {
  return (await startSharedBroker()).broker;
}

/** Stops the shared broker (at once if it is not running). */
export function stopSharedBroker(): Promise<string> {
  return kafkaScript(["stop", "--port", String(SHARED_PORT)]);
}

/**
 * Has a new broker create its consumer offsets topic (the first group lookup
 * does), so that the first client does not pay for it with a failed join.
 */
export async function warmUp(broker: string, retries = 20): Promise<void> {
  const kafka = new kafkajs.Kafka({ brokers: [broker], logLevel: kafkajs.logLevel.NOTHING, retry: { retries } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.describeGroups(["streamcast-warm-up"]);
  } finally {
    await admin.disconnect();
  }
}
