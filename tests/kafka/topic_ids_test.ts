/**
 * Topic ids as epochs (backends/kafka/topic_ids.ts), without a broker: the
 * UUID Kafka gives a topic, in base 36, fits an epoch; the zero UUID (a topic
 * without an id) is none. tests/kafka/history_test.ts reads real ids.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { topicEpoch } from "../../backends/kafka/topic_ids.ts";
import { isEpoch } from "../../lib/contract/position.ts";

describe("kafka:// topic ids as epochs", () => {
  it("a topic id is an epoch of at most 25 letters and digits; two ids, two epochs; the zero UUID none", () => {
    const largest = topicEpoch(new Uint8Array(16).fill(0xff))!;
    assert.ok(isEpoch(largest) && largest.length === 25, largest);
    const id = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const other = Uint8Array.from(id, (byte, i) => i === 15 ? byte ^ 1 : byte);
    assert.ok(isEpoch(topicEpoch(id)!));
    assert.notEqual(topicEpoch(id), topicEpoch(other));
    assert.equal(topicEpoch(new Uint8Array(16)), undefined);
  });
});
