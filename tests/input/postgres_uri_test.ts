/**
 * The Postgres URI: which query parameters are accepted (anything else is a
 * `ConfigError` at construction, never a retry loop against the server), and
 * percent-encoded user and database names.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, it } from "node:test";
import { Broadcast, ConfigError } from "../../mod.ts";
import { admin, SERVER, SERVER_URI, sessions } from "../fixtures/postgres.ts";
import { events, readEvents, uniqueChannel, within } from "../fixtures/support.ts";

function refused(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.match(error.message, pattern);
    return true;
  };
}

describe("postgres:// URI parameters", () => {
  it("an sslmode that is not one of libpq's is refused at construction, naming the values", () => {
    assert.throws(
      () => new Broadcast(`${SERVER_URI}?sslmode=bogus`),
      refused(
        /^Invalid URI parameter sslmode: Expected one of disable, allow, prefer, require, verify-ca, verify-full but received "bogus"$/,
      ),
    );
  });

  it("an unknown parameter is refused at construction, listing those accepted", () => {
    assert.throws(
      () => new Broadcast(`postgres://app:hunter2@db/app?histroy=1`),
      refused(/^Invalid URI parameter: Expected one of application_name, options, sslmode, sslrootcert but received "histroy"$/),
    );
    assert.throws(() => new Broadcast(`postgres://app:hunter2@db/app?histroy=1`), (error: Error) => !error.message.includes("hunter2"));
    // Settings postgres.js would take from the URI but streamcast sets itself, or a second host.
    for (const name of ["connect_timeout", "max", "idle_timeout", "target_session_attrs", "user", "dbname", "search_path"]) {
      assert.throws(() => new Broadcast(`${SERVER_URI}?${name}=1`), refused(new RegExp(`but received "${name}"$`)));
    }
  });

  it("a parameter given twice is refused", () => {
    assert.throws(
      () => new Broadcast(`${SERVER_URI}?sslmode=require&sslmode=disable`),
      refused(/^Invalid URI parameter sslmode: Expected one value but received 2$/),
    );
  });

  it("sslrootcert takes only system (postgres.js reads no certificate file)", () => {
    assert.throws(
      () => new Broadcast(`${SERVER_URI}?sslrootcert=/etc/ssl/ca.pem`),
      refused(/^Invalid URI parameter sslrootcert: Expected "system" but received "\/etc\/ssl\/ca.pem"$/),
    );
  });

  it("the environment's URI variable is named", () => {
    assert.throws(
      () => Broadcast.fromEnv({ OPAL_BROADCAST_URI: `${SERVER_URI}?sslmode=on` }),
      refused(/^Invalid OPAL_BROADCAST_URI parameter sslmode: Expected one of/),
    );
  });

  it("percent-encoding that does not decode is refused at construction", () => {
    assert.throws(() => new Broadcast("postgres://u@db/my%zzdb"), refused(/^Invalid URI database: Expected percent-encoded UTF-8/));
    assert.throws(() => new Broadcast("postgres://u%zz@db/app"), refused(/^Invalid URI user: Expected percent-encoded UTF-8/));
    assert.throws(() => new Broadcast("postgres://u:pw%zzsecret@db/app"), (error: Error) => {
      assert.match(error.message, /^Invalid URI password: Expected percent-encoded UTF-8 but received \*\*\*$/);
      return !error.message.includes("secret");
    });
  });

  it("every accepted parameter constructs, on both schemes", () => {
    const accepted = [
      ...["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].map((mode) => `sslmode=${mode}`),
      "sslrootcert=system",
      "application_name=my-app",
      "options=-c%20search_path%3Dpublic",
    ];
    for (const query of accepted) {
      for (const scheme of ["postgres", "postgresql"]) new Broadcast(`${scheme}://u@db/app?${query}`);
    }
  });

  it("a setting the server refuses in options fails connect() at once with ConfigError, not a retry loop", async () => {
    for (const options of ["-c histroy=1", "-c statement_timeout=soon"]) {
      const b = new Broadcast(`${SERVER_URI}?options=${encodeURIComponent(options)}`, { reconnect: { minDelay: 10, maxDelay: 10 } });
      try {
        const error = await within(b.connect().then(() => undefined, (e: unknown) => e), 5_000, "connect to fail");
        assert.ok(error instanceof ConfigError, `got ${error}`);
        assert.match(error.message, /^Invalid URI: Expected settings the server accepts but received .*(histroy|statement_timeout)/);
        assert.equal(b.state, "failed");
      } finally {
        await b.disconnect();
      }
    }
  });

  it("application_name and options from the URI reach the server", async () => {
    const sql = admin();
    const app = `streamcast-test-uri-${process.pid}`;
    const b = await Broadcast.connect(`${SERVER_URI}?sslmode=disable&application_name=${app}&options=-c%20search_path%3Dpublic`);
    try {
      assert.equal(await sessions(sql, app), 2);
      const channel = uniqueChannel("uri");
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      await b.publish(channel, "hello");
      assert.deepEqual(events(await readEvents(reader, 1)), ["hello"]);
    } finally {
      await b.disconnect();
      await sql.end();
    }
  });
});

describe("postgres:// percent-encoded names", () => {
  it("a database and a user whose names need percent-encoding are decoded", async () => {
    const sql = admin();
    const database = `streamcast my db/é ${process.pid}`;
    const user = `streamcast us@er% ${process.pid}`;
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    await sql.unsafe(`create database ${quote(database)}`);
    await sql.unsafe(`create role ${quote(user)} login`);
    const app = `streamcast-test-encoded-${process.pid}`;
    const uri = `postgres://${encodeURIComponent(user)}@${SERVER.host}:${SERVER.port}/${encodeURIComponent(database)}`;
    let b: Broadcast | undefined;
    try {
      b = await Broadcast.connect(uri, { connectTimeout: 5_000, reconnect: { maxRetries: 1 }, backendOptions: { applicationName: app } });
      const rows = await sql`select datname, usename from pg_stat_activity where application_name = ${app}`;
      assert.deepEqual(rows.map((row) => [row.datname, row.usename]), [[database, user], [database, user]]);
      const channel = uniqueChannel("encoded");
      const reader = b.subscribe(channel).getReader();
      await b.ready();
      await b.publish(channel, "decoded");
      assert.deepEqual(events(await readEvents(reader, 1)), ["decoded"]);
    } finally {
      await b?.disconnect();
      await sql.unsafe(`drop database if exists ${quote(database)} with (force)`);
      await sql.unsafe(`drop role if exists ${quote(user)}`);
      await sql.end();
    }
  });
});
