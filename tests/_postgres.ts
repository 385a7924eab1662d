/**
 * Helpers for the Postgres tests: an admin session on the machine's server,
 * psql as a foreign client, and a throwaway PostgreSQL cluster (initdb into a
 * temporary folder, run as the `postgres` OS user, on a free port, with
 * scram-sha-256 password authentication and TLS) that a test may stop and
 * restart.
 */
import { Buffer } from "node:buffer";
import { execFile, spawn } from "node:child_process";
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import postgres from "postgres";
import { freePort } from "./_net.ts";

/** The machine's server: trust authentication on 127.0.0.1. */
export const SERVER = { host: "127.0.0.1", port: 5432, user: "postgres", database: "test" };
export const SERVER_URI = `postgres://${SERVER.user}@${SERVER.host}:${SERVER.port}/${SERVER.database}`;

const run = promisify(execFile);

/** An admin session: terminates streamcast's sessions, stores nothing. */
export function admin(uri = SERVER_URI): postgres.Sql {
  return postgres(uri, { max: 1, onnotice: () => {}, fetch_types: false, connection: { application_name: "streamcast-tests-admin" } });
}

/** Terminates every session named `applicationName`; resolves with how many. */
export async function terminate(sql: postgres.Sql, applicationName: string): Promise<number> {
  const rows = await sql`
    select pg_terminate_backend(pid) as done from pg_stat_activity
    where application_name = ${applicationName} and pid <> pg_backend_pid()`;
  return rows.filter((row) => row.done).length;
}

/** Sessions named `applicationName`. */
export async function sessions(sql: postgres.Sql, applicationName: string): Promise<number> {
  const [row] = await sql`select count(*)::int as n from pg_stat_activity where application_name = ${applicationName}`;
  return row.n;
}

/** Runs `psql -c command` against the machine's server; resolves with its output. */
export async function psql(command: string): Promise<string> {
  const { stdout } = await run("psql", ["-X", "-q", "-h", SERVER.host, "-p", `${SERVER.port}`, "-U", SERVER.user, "-d", SERVER.database, "-c", command]);
  return stdout;
}

/** A psql session that LISTENs on `channel` and reports what it was notified of. */
export async function psqlListener(channel: string): Promise<{ notified(): Promise<string[]>; close(): void }> {
  const child = spawn("psql", ["-X", "-h", SERVER.host, "-p", `${SERVER.port}`, "-U", SERVER.user, "-d", SERVER.database], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => out += chunk);
  child.stderr.on("data", (chunk) => out += chunk);
  const quoted = `"${channel.replaceAll('"', '""')}"`;
  child.stdin.write(`LISTEN ${quoted};\nselect 'listening';\n`);
  await waitFor(() => out.includes("listening"), 5_000, "psql to LISTEN");
  return {
    // psql prints notifications after the next command completes.
    async notified() {
      const mark = `done-${Math.random().toString(36).slice(2)}`;
      child.stdin.write(`select '${mark}';\n`);
      await waitFor(() => out.includes(mark), 5_000, "psql to answer");
      return [...out.matchAll(/Asynchronous notification "(.*)" with payload "(.*)" received/g)].map((m) => m[2]);
    },
    close() {
      child.stdin.end();
      child.kill();
    },
  };
}

/** A string of exactly `bytes` UTF-8 bytes mixing 1-, 2-, 3- and 4-byte characters. */
export function sized(bytes: number, seed = ""): string {
  const pattern = ["a", "é", "€", "😀"];
  let text = seed;
  let used = Buffer.byteLength(seed);
  for (let i = 0; ; i++) {
    const char = pattern[i % pattern.length];
    const size = Buffer.byteLength(char);
    if (used + size > bytes - 3) break;
    text += char;
    used += size;
  }
  text += "z".repeat(bytes - used);
  if (Buffer.byteLength(text) !== bytes) throw new Error(`sized(${bytes}) made ${Buffer.byteLength(text)} bytes`);
  return text;
}

/** The folder of the newest installed PostgreSQL's binaries. */
async function binaries(): Promise<string> {
  const versions = (await readdir("/usr/lib/postgresql")).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error("No PostgreSQL under /usr/lib/postgresql");
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

/** A PostgreSQL cluster of the test's own, with password authentication. */
export class Cluster {
  readonly password = "cluster-pa55-word";
  port = 0;
  #dir = "";
  #bin = "";

  get uri(): string {
    return `postgres://postgres:${this.password}@127.0.0.1:${this.port}/postgres`;
  }

  /** Creates and starts it. */
  async start(): Promise<void> {
    this.#bin = await binaries();
    this.#dir = await mkdtemp(join(tmpdir(), "streamcast-pg-"));
    await chmod(this.#dir, 0o700);
    const pwfile = join(this.#dir, "pw");
    await writeFile(pwfile, `${this.password}\n`);
    if (process.getuid?.() === 0) {
      const owner = await ids();
      await chown(this.#dir, ...owner);
      await chown(pwfile, ...owner);
    }
    await this.#asPostgres("initdb", "-N", "-D", join(this.#dir, "data"), "-U", "postgres",
      "--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`);
    // A self-signed certificate: the server accepts TLS (sslmode=require) and plain connections.
    await run("openssl", ["req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
      "-keyout", join(this.#dir, "server.key"), "-out", join(this.#dir, "server.crt")]);
    await chmod(join(this.#dir, "server.key"), 0o600);
    if (process.getuid?.() === 0) {
      const owner = await ids();
      for (const file of ["server.key", "server.crt"]) await chown(join(this.#dir, file), ...owner);
    }
    this.port = await freePort();
    await this.up();
  }

  /** Starts the server (again). */
  async up(): Promise<void> {
    const options = `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60 ` +
      `-c ssl=on -c ssl_cert_file=${join(this.#dir, "server.crt")} -c ssl_key_file=${join(this.#dir, "server.key")}`;
    await this.#asPostgres("pg_ctl", "-D", join(this.#dir, "data"), "-l", join(this.#dir, "log"), "-w", "-o", options, "start");
  }

  /** Stops the server: every session is terminated (fast shutdown). */
  async down(): Promise<void> {
    await this.#asPostgres("pg_ctl", "-D", join(this.#dir, "data"), "-m", "fast", "-w", "stop");
  }

  /** Stops it for good and removes its folder. */
  async remove(): Promise<void> {
    if (!this.#dir) return;
    await this.#asPostgres("pg_ctl", "-D", join(this.#dir, "data"), "-m", "immediate", "-w", "stop").catch(() => {});
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #asPostgres(program: string, ...args: string[]): Promise<void> {
    const command = join(this.#bin, program);
    if (process.getuid?.() === 0) await run("runuser", ["-u", "postgres", "--", command, ...args]);
    else await run(command, args);
  }
}

async function ids(): Promise<[number, number]> {
  const { stdout } = await run("id", ["postgres"]);
  const uid = Number(/uid=(\d+)/.exec(stdout)?.[1]);
  const gid = Number(/gid=(\d+)/.exec(stdout)?.[1]);
  return [uid, gid];
}

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
