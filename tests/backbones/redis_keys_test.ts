/**
 * Where history mode's keys live on a Redis Cluster: the keys kept beside a
 * channel's stream hash to the stream's own slot, for any channel name (a
 * script that touches them all runs on one node), and a `CLUSTER SLOTS`
 * reply is read into the master of every slot.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { slotKey, slotTag } from "../../backends/redis/keys.ts";
import { epochKey } from "../../backends/redis/stream_replies.ts";
import { hostAndPort, SLOTS, SlotMap, slotOf } from "../../backends/redis/cluster/slots.ts";

describe("Redis Cluster keys and slots", () => {
  it("hashes as Redis does: the whole name, or its first non-empty {tag}", () => {
    // Values Redis itself gives for CLUSTER KEYSLOT.
    assert.equal(slotOf("foo"), 12182);
    assert.equal(slotOf("{user1000}.following"), slotOf("user1000"));
    assert.equal(slotOf("foo{}{bar}"), slotOf("foo{}{bar}"));
    assert.notEqual(slotOf("foo{}{bar}"), slotOf("bar"));
  });

  it("keeps a channel's epoch and origins keys in its stream's slot, whatever braces its name holds", () => {
    const name = fc.oneof(fc.string(), fc.stringMatching(/^[a-z{}]{0,8}$/), fc.constantFrom("a}b", "}{", "{}x", "a{b", "x{y}z}", "{", "}"));
    fc.assert(fc.property(name, fc.constantFrom("epoch", "origins"), (channel, kind) => {
      assert.equal(slotOf(slotKey(kind, channel)), slotOf(channel), `${kind} key of ${JSON.stringify(channel)}`);
    }), { numRuns: 2_000 });
  });

  it("names the keys of a plain channel readably, as redis-cli shows them", () => {
    assert.equal(epochKey("news"), "streamcast:epoch:{news}");
    assert.equal(slotKey("origins", "news"), "streamcast:origins:{news}");
    assert.equal(slotKey("epoch", "{eu}.news"), "streamcast:epoch:{eu}:{eu}.news");
  });

  it("has a short tag for every slot, the same each time", () => {
    for (let slot = 0; slot < SLOTS; slot++) {
      const tag = slotTag(slot);
      assert.ok(tag.length <= 3 && slotOf(tag) === slot, `slot ${slot}: ${tag}`);
    }
    assert.equal(slotTag(42), slotTag(42));
    assert.throws(() => slotTag(SLOTS), RangeError);
  });

  it("reads CLUSTER SLOTS into the master of each slot, through the address map", () => {
    const reply = [
      [0, 5460, ["127.0.0.1", 7000, "id0"], ["127.0.0.1", 7003, "id3"]],
      [5461, 10922, ["", 7001, "id1"]],
      [10923, 16383, ["10.0.0.9", 7002, "id2"]],
    ];
    const map = SlotMap.parse(reply, "fallback", (address) => address === "10.0.0.9:7002" ? "127.0.0.1:17002" : address);
    assert.equal(map.owner(0), "127.0.0.1:7000");
    assert.equal(map.owner(5461), "fallback:7001");
    assert.equal(map.owner(16383), "127.0.0.1:17002");
    assert.deepEqual([...map.masters()].sort(), ["127.0.0.1:17002", "127.0.0.1:7000", "fallback:7001"]);
    assert.equal(SlotMap.parse([[0, 99, ["h", 1]]], "x", (a) => a).owner(100), undefined);
    assert.deepEqual(hostAndPort("[::1]:7000"), { host: "::1", port: 7000 });
  });
});
