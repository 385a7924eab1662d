import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  atPlace,
  comparePositions,
  epochOf,
  fromLog,
  isEpoch,
  isPosition,
  newEpoch,
  placeOf,
  sameLog,
} from "../../lib/contract/position.ts";

/** Positions of two epochs and none, places of one and two numbers, of several lengths. */
const SAMPLE = [
  "0", "1", "2", "9", "10", "42", "1700000000000-0", "1700000000000-3", "1700000000000-10", "1700000000001-0",
  "abc:0", "abc:1", "abc:10", "abc:9", "abc:1700000000000-3", "zz9:1", "zz9:2", "zz9:100", "k3x9q2:1-1", "k3x9q2:1-2",
];

const sign = (n: number) => n > 0 ? 1 : n < 0 ? -1 : 0;

describe("positions", () => {
  it("within an epoch, or without one, places are ordered number by number", () => {
    const ordered = ["0", "1", "9", "10", "42", "1700000000000-0", "1700000000000-3", "1700000000000-10", "1700000000001-0"];
    for (const prefix of ["", "abc:"]) {
      for (let i = 0; i < ordered.length; i++) {
        for (let j = 0; j < ordered.length; j++) {
          assert.equal(sign(comparePositions(prefix + ordered[i], prefix + ordered[j])), sign(i - j), `${prefix}${ordered[i]} vs ${ordered[j]}`);
        }
      }
    }
    assert.equal(comparePositions("5", "5-0"), 0, "a missing number counts as 0");
  });

  it("the order is total across epochs: reflexive, antisymmetric, and transitive among positions with epochs and within one log", () => {
    for (const a of SAMPLE) {
      assert.equal(comparePositions(a, a), 0, a);
      for (const b of SAMPLE) {
        assert.equal(sign(comparePositions(a, b)) + sign(comparePositions(b, a)), 0, `${a} vs ${b}`);
        if (a !== b && epochOf(a) !== undefined && epochOf(b) !== undefined) {
          assert.notEqual(comparePositions(a, b), 0, `two positions with epochs are equal only when they are one: ${a}, ${b}`);
        }
      }
    }
    const withEpochs = SAMPLE.filter((p) => epochOf(p) !== undefined);
    const logs = [withEpochs, ...["abc", "zz9"].map((epoch) => SAMPLE.filter((p) => (epochOf(p) ?? epoch) === epoch))];
    for (const log of logs) {
      for (const a of log) {
        for (const b of log) {
          for (const c of log) {
            if (comparePositions(a, b) <= 0 && comparePositions(b, c) <= 0) assert.ok(comparePositions(a, c) <= 0, `${a} <= ${b} <= ${c}`);
          }
        }
      }
    }
    assert.deepEqual([...withEpochs].sort(comparePositions), [
      "abc:0", "abc:1", "abc:9", "abc:10", "abc:1700000000000-3", "k3x9q2:1-1", "k3x9q2:1-2", "zz9:1", "zz9:2", "zz9:100",
    ], "by epoch, then by place within each");
  });

  it("a position without an epoch is compared by place with one that has an epoch", () => {
    assert.ok(comparePositions("3", "abc:4") < 0);
    assert.ok(comparePositions("abc:4", "3") > 0);
    assert.equal(comparePositions("4", "abc:4"), 0, "the same place: neither is after the other");
    // Read in any log, a position without an epoch is not ordered against two epochs at once:
    // "abc:9" > "5" > "zz9:1", yet "abc:9" < "zz9:1". Ask sameLog before ordering such a mix.
    assert.ok(comparePositions("abc:9", "5") > 0 && comparePositions("5", "zz9:1") > 0 && comparePositions("abc:9", "zz9:1") < 0);
  });

  it("isPosition takes a place with or without an epoch, and refuses anything else", () => {
    for (const ok of ["0", "42", "1700000000000-3", "1-2-3", "abc:0", "k3x9q2:1700000000000-3", `${"z".repeat(32)}:1`, newEpoch() + ":7"]) {
      assert.ok(isPosition(ok), ok);
    }
    const bad = ["", "x", "-1", "1-", "01", "1--2", ":1", "abc:", "ABC:1", "a-b:1", "a:b:1", `${"z".repeat(33)}:1`, "1.5", " 1", "1 ", "abc:01"];
    for (const text of bad) assert.equal(isPosition(text), false, JSON.stringify(text));
    assert.equal(isPosition("1".repeat(21)), false, "a number of more than 20 digits");
  });

  it("epochOf, placeOf and atPlace take a position apart and put it together again", () => {
    assert.equal(epochOf("abc:1-2"), "abc");
    assert.equal(placeOf("abc:1-2"), "1-2");
    assert.equal(epochOf("1-2"), undefined, "a position issued before epochs has none");
    assert.equal(placeOf("1-2"), "1-2");
    assert.equal(atPlace("abc", "1-2"), "abc:1-2");
    assert.equal(atPlace(undefined, "1-2"), "1-2", "a log without an epoch gives bare places");
    for (const position of SAMPLE) assert.equal(atPlace(epochOf(position), placeOf(position)), position);
  });

  it("sameLog is lenient (a position without an epoch may be of any log); fromLog is strict for one with an epoch", () => {
    assert.equal(sameLog("abc:1", "abc:9"), true);
    assert.equal(sameLog("abc:1", "zz9:1"), false);
    assert.equal(sameLog("1", "zz9:1"), true);
    assert.equal(sameLog("zz9:1", "1"), true);
    assert.equal(sameLog("1", "2"), true);
    assert.equal(fromLog("abc:5", "abc"), true);
    assert.equal(fromLog("abc:5", "zz9"), false, "another epoch: the log was made again");
    assert.equal(fromLog("abc:5", undefined), false, "a log without an epoch now: not the one it came from");
    assert.equal(fromLog("5", "zz9"), true, "a position issued before epochs is read in whatever log is there");
    assert.equal(fromLog("5", undefined), true);
  });

  it("newEpoch makes epochs: 16 lowercase letters and digits, a new one each time", () => {
    const epochs = new Set(Array.from({ length: 1000 }, () => newEpoch()));
    assert.equal(epochs.size, 1000);
    for (const epoch of epochs) {
      assert.equal(epoch.length, 16, epoch);
      assert.ok(isEpoch(epoch), epoch);
    }
    assert.equal(isEpoch(""), false);
    assert.equal(isEpoch("A"), false);
    assert.equal(isEpoch("a".repeat(33)), false);
  });
});
