/**
 * The library against the bad-input table (`bad_input_rows.ts`): each class
 * of bad input is its own test. Every refusal is the expected error class
 * with its `code`, names the culprit, and holds no password in its message,
 * cause chain or fields; on a live Broadcast (memory://, and a few rows on
 * Redis and Postgres), the good publishes before and after the bad input all
 * reach a subscriber, in order, and the link stays up.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { Broadcast } from "../../mod.ts";
import { type Backbone, type Row, ROWS, SECRETS } from "./bad_input_rows.ts";
import { SERVER_URI } from "../fixtures/postgres.ts";
import { events, readEvents, uniqueChannel, within } from "../fixtures/support.ts";

const URIS: Record<Backbone, string> = {
  memory: "memory://bad-input",
  redis: "redis://127.0.0.1:6379",
  // Names its user: without one, postgres.js asks the runtime, and Bun answers "unknown" when USER is unset.
  postgres: SERVER_URI,
};

/** Everything a user could print of an error: message, cause chain, own and hidden fields. */
function everything(error: unknown): string {
  return inspect(error, { depth: Infinity, showHidden: true }) + String(error);
}

type Outcome = { error: unknown } | { value: unknown };

/** What the bad input led to: an error (thrown or rejected), or a value; never a hang. */
async function outcome(act: () => unknown): Promise<Outcome> {
  try {
    return { value: await within(Promise.resolve().then(act), 10_000, "the bad input to settle") };
  } catch (error) {
    return { error };
  }
}

function assertRefused(row: Row, result: Outcome): void {
  if (row.error === "ends") {
    assert.ok("value" in result, `expected the stream to end, got ${"error" in result && everything(result.error)}`);
    assert.deepEqual(result.value, { done: true, value: undefined });
    return;
  }
  assert.ok("error" in result, `expected ${row.error.name}, but it was accepted: ${inspect((result as { value: unknown }).value)}`);
  const { error } = result;
  assert.ok(error instanceof row.error, `expected ${row.error.name}, got ${everything(error)}`);
  if (row.code !== undefined) assert.equal((error as { code?: string }).code, row.code);
  assert.match(error.message, row.names);
  const printed = everything(error);
  for (const secret of SECRETS) assert.ok(!printed.includes(secret), `a password in:\n${printed}`);
}

/**
 * Runs a live row: three good publishes, the bad input, three more; the
 * subscriber must get all six in order, on a link that stayed up.
 */
async function onLiveBroadcast(row: Row & { on: Backbone }): Promise<Outcome> {
  const broadcast = await Broadcast.connect(URIS[row.on]);
  try {
    const channel = uniqueChannel("bad-input");
    const reader = broadcast.subscribe(channel).getReader();
    await broadcast.ready();
    const before = ["before 1", "before 2", "before 3"];
    const after = ["after 1", "after 2", "after 3"];
    for (const message of before) await broadcast.publish(channel, message);
    const result = await outcome(() => row.act(broadcast, channel));
    for (const message of after) await broadcast.publish(channel, message);
    assert.deepEqual(events(await readEvents(reader, 6, 10_000)), [...before, ...after]);
    assert.equal(broadcast.state, "up");
    assert.equal(broadcast.stats.dropped, 0);
    return result;
  } finally {
    await broadcast.disconnect();
  }
}

describe("bad input to the library: each class is refused, naming the culprit, losing nothing", () => {
  for (const row of ROWS) {
    const where = row.on === undefined ? "" : ` (live, ${row.on})`;
    it(`${row.name}${where}`, async () => {
      const result = row.on === undefined
        ? await outcome(() => row.act(undefined as never, "room"))
        : await onLiveBroadcast(row as Row & { on: Backbone });
      assertRefused(row, result);
    });
  }

  it("the table covers at least 40 classes, each named once", () => {
    const names = ROWS.map((row) => row.name);
    assert.ok(names.length >= 40, `${names.length} classes`);
    assert.equal(new Set(names).size, names.length);
  });
});
