/**
 * Where a Kafka consumer starts in a topic (backends/kafka/positions.ts),
 * without a broker: offsets never carry over to a topic of another epoch (one
 * deleted and created again), a position of another epoch starts at the new
 * topic's first offset with a resync frame owed, and offsets without an epoch
 * (kept or asked for before epochs) are read in whatever topic is there.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keepWithin, positionBefore, startIn, type TopicLog, type TopicPosition } from "../../backends/kafka/positions.ts";

/** A topic of epoch `epoch` whose two partitions keep offsets `low` to `high` (excluded). */
function log(epoch: string | undefined, low: string, high: string): TopicLog {
  return { epoch, partitions: [0, 1].map((partition) => ({ partition, low, high })) };
}

function position(epoch: string | undefined, next: string): TopicPosition {
  return { epoch, offsets: new Map([[0, next], [1, next]]) };
}

/** A position as plain data: epoch, the next offset of each partition, a gap owed. */
function plain(at: TopicPosition): [string | undefined, string[], boolean] {
  return [at.epoch, [...at.offsets.values()], at.gap === true];
}

describe("kafka:// positions: where a consumer starts in a topic", () => {
  it("a topic new to the link starts at its end, in its epoch", () => {
    assert.deepEqual(plain(startIn(log("e1", "2", "9"), undefined, "new", true)), ["e1", ["9", "9"], false]);
  });

  it("where the link stood, in the same topic, carries over", () => {
    assert.deepEqual(plain(startIn(log("e1", "2", "9"), position("e1", "5"), "new", true)), ["e1", ["5", "5"], false]);
    assert.deepEqual(plain(startIn(log("e1", "2", "9"), position(undefined, "5"), "new", true)), ["e1", ["5", "5"], false], "kept without an epoch: read in the topic there, which it adopts");
  });

  it("where the link stood in a topic since made again does not: the new topic's first offsets, a gap owed in history mode", () => {
    assert.deepEqual(plain(startIn(log("e2", "0", "3"), position("e1", "5"), "new", true)), ["e2", ["0", "0"], true]);
    assert.deepEqual(plain(startIn(log("e2", "0", "3"), position("e1", "5"), "new", false)), ["e2", ["0", "0"], false], "pub/sub mode: no resync frame of its own");
  });

  it("history mode: right after a position of the topic; at its first offset, a gap owed, after one of a topic since made again", () => {
    assert.deepEqual(plain(startIn(log("e1", "2", "9"), undefined, { after: "e1:5" }, true)), ["e1", ["6", "9"], false]);
    assert.deepEqual(plain(startIn(log("e1", "2", "9"), undefined, { after: "5" }, true)), ["e1", ["6", "9"], false], "a position from before epochs: an offset in the topic there");
    assert.deepEqual(plain(startIn(log("e2", "0", "3"), undefined, { after: "e1:5" }, true)), ["e2", ["0", "3"], true]);
    assert.deepEqual(plain(startIn(log("e2", "1", "3"), undefined, "oldest", true)), ["e2", ["1", "3"], false], "oldest: no gap");
  });

  it("before the consumer starts, a topic made again moves to its first offsets and one trimmed to its oldest kept", () => {
    const replaced = position("e1", "5");
    keepWithin(replaced, log("e2", "0", "3"), true);
    assert.deepEqual(plain(replaced), ["e2", ["0", "0"], true]);
    const trimmed = position("e1", "1");
    keepWithin(trimmed, log("e1", "4", "9"), true);
    assert.deepEqual(plain(trimmed), ["e1", ["4", "4"], true]);
    const kept = position("e1", "5");
    keepWithin(kept, log("e1", "4", "9"), true);
    assert.deepEqual(plain(kept), ["e1", ["5", "5"], false]);
    const unmarked = position(undefined, "5");
    keepWithin(unmarked, log("e1", "4", "9"), true);
    assert.deepEqual(plain(unmarked), ["e1", ["5", "5"], false], "kept without an epoch: adopts the topic's");
  });

  it("a subscription resolves with the position before where partition 0 starts: in its epoch, none before offset 0", () => {
    assert.equal(positionBefore(position("e1", "5")), "e1:4");
    assert.equal(positionBefore(position(undefined, "5")), "4");
    assert.equal(positionBefore(position("e1", "0")), undefined);
    assert.equal(positionBefore(undefined), undefined);
  });
});
