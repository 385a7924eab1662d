/**
 * Random bad input, with fast-check: URIs (known and unknown schemes, a
 * password with spaces, `@`, `:`, `%`, unicode, raw or percent-encoded, a
 * `password=` parameter, ports out of range), environment maps, options of any
 * shape, and channels and messages of any value. Whatever comes in, the
 * library either accepts it or throws one of its own error classes (never a
 * TypeError from deep inside), prints no password, and a publish or subscribe
 * settles: delivered, or refused with ChannelError or MessageError.
 *
 * Runs per property: `FUZZ_RUNS` (default 300), e.g. `FUZZ_RUNS=5000 node
 * --import tsx --test tests/input/fuzz_test.ts`. A failure prints fast-check's seed
 * and path, to replay it with `{ seed, path }` in `fc.assert`'s options.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import fc from "fast-check";
import { channel, environment, forms, message, options, uri, value } from "./fuzz_arbitraries.ts";
import * as errors from "../../lib/contract/errors.ts";
import { Broadcast, ChannelError, MessageError } from "../../mod.ts";
import { within } from "../fixtures/support.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const LIBRARY_ERRORS = Object.values(errors).filter((value) => typeof value === "function" && value.prototype instanceof Error);

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);

/** Asserts `error` is one of the library's classes and prints none of `secrets`' forms. */
function assertLibraryError(error: unknown, secrets: string[] = []): void {
  assert.ok(LIBRARY_ERRORS.some((type) => error instanceof type), `not a library error: ${inspect(error)}`);
  assertNoSecret([String(error), (error as Error).message, inspect(error, { depth: Infinity, showHidden: true })], secrets);
}

function assertNoSecret(texts: string[], secrets: string[]): void {
  for (const secret of secrets.flatMap(forms)) {
    for (const text of texts) assert.ok(!text.includes(secret), `the password ${JSON.stringify(secret)} in:\n${text}`);
  }
}

describe("fuzz: whatever comes in, a library error or success, and no password printed", () => {
  it("new Broadcast(uri, options)", () => {
    fc.assert(
      fc.property(uri, fc.option(options, { nil: undefined }), ({ text, secret }, opts) => {
        try {
          const broadcast = new Broadcast(text, opts as never);
          assertNoSecret([broadcast.uri], [secret]);
        } catch (error) {
          assertLibraryError(error, [secret]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("new Broadcast(value, options) with values that are no URI", () => {
    fc.assert(
      fc.property(value, options, (bad, opts) => {
        try {
          new Broadcast(bad as never, opts as never);
        } catch (error) {
          assertLibraryError(error);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("Broadcast.fromEnv(env)", () => {
    fc.assert(
      fc.property(environment, ({ prefix, uri, variables }) => {
        const env: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(variables)) env[name === "UVICORN_NUM_WORKERS" ? name : prefix + name] = value;
        if (uri !== undefined) env[`${prefix}BROADCAST_URI`] = uri.text;
        try {
          const broadcast = Broadcast.fromEnv(env, { prefix });
          assertNoSecret([broadcast.uri], uri ? [uri.secret] : []);
        } catch (error) {
          assertLibraryError(error, uri ? [uri.secret] : []);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: publish and subscribe on memory:// settle, delivering or refusing", () => {
  let broadcast: Broadcast;
  before(async () => {
    broadcast = await Broadcast.connect("memory://fuzz");
  });
  after(() => broadcast?.disconnect());

  it("publish(channel, message) with a subscriber: delivered as sent, or ChannelError / MessageError", async () => {
    await fc.assert(
      fc.asyncProperty(channel, message, async (ch, msg) => {
        let reader: ReadableStreamDefaultReader | undefined;
        try {
          reader = broadcast.subscribe(ch as string).getReader();
        } catch (error) {
          assert.ok(error instanceof ChannelError, `subscribe: ${inspect(error)}`);
        }
        try {
          await within(broadcast.ready(), 5_000, "ready()");
          await within(broadcast.publish(ch as string, msg as string), 5_000, "publish to settle");
          assert.ok(reader !== undefined, "published on a channel subscribe refused");
          const { value } = await within(reader.read(), 5_000, "the message to arrive");
          assert.deepEqual(value, { type: "event", channel: ch, message: msg });
        } catch (error) {
          assert.ok(error instanceof ChannelError || error instanceof MessageError, `publish: ${inspect(error)}`);
        } finally {
          await reader?.cancel();
        }
      }),
      { numRuns: RUNS },
    );
    assert.equal(broadcast.state, "up");
  });

  it("publisher(channel).write(message): written, or ChannelError / MessageError", async () => {
    await fc.assert(
      fc.asyncProperty(channel, fc.array(message, { maxLength: 3 }), async (ch, messages) => {
        let writer: WritableStreamDefaultWriter;
        try {
          writer = broadcast.publisher(ch as string).getWriter();
        } catch (error) {
          assert.ok(error instanceof ChannelError, `publisher: ${inspect(error)}`);
          return;
        }
        for (const msg of messages) {
          await within(writer.write(msg), 5_000, "write to settle").catch((error) => {
            assert.ok(error instanceof MessageError, `write: ${inspect(error)}`);
          });
        }
        await within(writer.close(), 5_000, "close to settle").catch(() => {}); // errored by a bad chunk
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: the whole run", () => {
  it("left no unhandled rejection", async () => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // one more turn for a late one to surface
    process.off("unhandledRejection", onUnhandled);
    assert.deepEqual(unhandled.map((reason) => inspect(reason)), []);
  });
});
