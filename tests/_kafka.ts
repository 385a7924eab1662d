/**
 * Kafka brokers for the tests, through `scripts/kafka.sh`: the shared broker
 * (127.0.0.1:19092, or `STREAMCAST_KAFKA_PORT`), started when it is not
 * running, and brokers of a test's own on free ports that it can stop and
 * start again, alone or behind a TCP proxy. A broker that cannot be started
 * fails the test loudly.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import process from "node:process";
import { fileURLToPath } from "node:url";
import kafkajs from "kafkajs";
import type { Admin } from "kafkajs";
import { freePort } from "./_net.ts";
import { TcpProxy } from "./_proxy.ts";

const SCRIPT = fileURLToPath(new URL("../scripts/kafka.sh", import.meta.url));
const CACHE = fileURLToPath(new URL("../.cache/kafka/", import.meta.url));

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

/**
 * Starts the shared broker unless it runs; resolves with its `host:port`. A
 * Kafka broker already on the port that this checkout did not start (another
 * checkout's, on the same machine) is used as it is; anything else there fails.
 */
export async function sharedBroker(): Promise<string> {
  const broker = `127.0.0.1:${SHARED_PORT}`;
  try {
    await kafkaScript(["start", "--port", String(SHARED_PORT)]);
  } catch (error) {
    if (!/is taken by another process/.test(String(error))) throw error;
    await warmUp(broker, 2).catch((cause) => {
      throw new Error(`Port ${SHARED_PORT} is taken by something that is not a Kafka broker; set STREAMCAST_KAFKA_PORT`, { cause });
    });
  }
  await warmUp(broker);
  return broker;
}

/**
 * Has a new broker create its consumer offsets topic (the first group lookup
 * does), so that the first test does not pay for it with a failed join.
 */
async function warmUp(broker: string, retries = 20): Promise<void> {
  const kafka = new kafkajs.Kafka({ brokers: [broker], logLevel: kafkajs.logLevel.NOTHING, retry: { retries } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.describeGroups(["streamcast-warm-up"]);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A broker of the test's own. It advertises `advertisedPort` (a proxy in
 * front of it) on its main listener, and itself on a second, direct one.
 */
export class TestBroker {
  readonly port: number;
  readonly directPort: number;
  /** A SASL_PLAINTEXT listener: user `streamcast`, password `streamcast-secret`. */
  readonly saslPort: number;
  /** An SSL listener, its self-signed certificate in `caFile` (PEM). */
  readonly tlsPort: number;
  readonly caFile: string;
  readonly #args: string[];
  readonly #dir: string;

  private constructor(ports: number[], advertisedPort: number) {
    const [port, controllerPort, directPort, saslPort, tlsPort] = ports;
    this.port = port;
    this.directPort = directPort;
    this.saslPort = saslPort;
    this.tlsPort = tlsPort;
    this.#dir = `${CACHE}test-${port}`;
    this.caFile = `${this.#dir}/tls/ca.pem`;
    this.#args = [
      "--port", String(port),
      "--controller-port", String(controllerPort),
      "--direct-port", String(directPort),
      "--sasl-port", String(saslPort),
      "--tls-port", String(tlsPort),
      "--advertised-port", String(advertisedPort),
      "--dir", this.#dir,
    ];
  }

  /** Picks free ports; `advertise` gets the main port and returns the port to advertise. */
  static async create(advertise: (port: number) => Promise<number>): Promise<TestBroker> {
    await reapOrphans();
    const ports: number[] = [];
    while (ports.length < 5) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const broker = new TestBroker(ports, await advertise(ports[0]));
    await broker.start();
    return broker;
  }

  async start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeFile(`${this.#dir}/owner.pid`, String(process.pid));
    await kafkaScript(["start", ...this.#args]);
    await warmUp(`127.0.0.1:${this.directPort}`);
  }

  stop(): Promise<string> {
    return kafkaScript(["stop", ...this.#args]);
  }

  /** Stops it and deletes its data. */
  async remove(): Promise<void> {
    await this.stop();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Stops the brokers of test processes that died before they could (a killed run would leave JVMs behind). */
async function reapOrphans(): Promise<void> {
  const dirs = await readdir(CACHE).catch(() => [] as string[]);
  for (const name of dirs.filter((dir) => /^test-\d+$/.test(dir))) {
    const dir = `${CACHE}${name}`;
    const owner = Number(await readFile(`${dir}/owner.pid`, "utf8").catch(() => "0"));
    if (owner > 0 && alive(owner)) continue;
    await kafkaScript(["stop", "--port", name.slice("test-".length), "--dir", dir]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** An admin client straight to `broker` (`host:port`). */
export async function kafkaAdmin(broker: string): Promise<Admin> {
  const admin = new kafkajs.Kafka({ brokers: [broker], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  return admin;
}

/** How many live consumer group members of streamcast are assigned `topic`. */
export async function topicMembers(admin: Admin, topic: string): Promise<number> {
  const { groups } = await admin.listGroups();
  const ids = groups.map((group) => group.groupId).filter((id) => id.startsWith("streamcast-"));
  if (ids.length === 0) return 0;
  const described = await admin.describeGroups(ids);
  let count = 0;
  for (const group of described.groups) {
    for (const member of group.members) {
      const decoded = kafkajs.AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
      if ((decoded?.assignment[topic]?.length ?? 0) > 0) count++;
    }
  }
  return count;
}

/** A broker of the test's own behind a proxy that it advertises, so every client connection can be cut. */
export async function proxiedBroker(): Promise<{ broker: TestBroker; proxy: TcpProxy; uri: string; direct: string }> {
  let proxy!: TcpProxy;
  const broker = await TestBroker.create(async (port) => {
    proxy = new TcpProxy({ port });
    return await proxy.start();
  });
  return { broker, proxy, uri: `kafka://127.0.0.1:${proxy.port}`, direct: `127.0.0.1:${broker.directPort}` };
}
