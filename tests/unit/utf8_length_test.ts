import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { utf8Exceeds, utf8Length } from "../../lib/util/utf8_length.ts";

describe("utf8Length", () => {
  it("counts what a TextEncoder writes, for any string, lone surrogates included", () => {
    const encoder = new TextEncoder();
    fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => utf8Length(text) === encoder.encode(text).length), { numRuns: 2_000 });
    assert.equal(utf8Length("\uD800"), 3);
  });

  it("utf8Exceeds answers like a measure against the limit", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), fc.nat(40), (text, limit) => utf8Exceeds(text, limit) === (utf8Length(text) > limit)));
  });
});
