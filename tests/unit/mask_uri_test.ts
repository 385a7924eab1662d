import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maskUri } from "../../lib/util/mask_uri.ts";

describe("maskUri", () => {
  it("replaces the password of a URI", () => {
    assert.equal(maskUri("redis://app:s3cret@cache:6379/2"), "redis://app:***@cache:6379/2");
    assert.equal(maskUri("postgres://u:p%40ss@db/test?sslmode=require"), "postgres://u:***@db/test?sslmode=require");
  });

  it("masks password-like query parameters", () => {
    const masked = maskUri("kafka://a:9092,b:9092?sasl=plain&user=u&password=hunter2");
    assert.doesNotMatch(masked, /hunter2/);
    assert.match(masked, /password=\*\*\*/);
  });

  it("leaves a URI without secrets as written", () => {
    assert.equal(maskUri("redis://localhost:6379"), "redis://localhost:6379");
    assert.equal(maskUri("memory://"), "memory://");
  });

  it("masks text that does not parse as a URI", () => {
    assert.equal(maskUri("redis://u:pw@ho st:bad"), "redis://u:***@ho st:bad");
  });

  it("leaves a log line that holds an http:// address and a masked URI as it is", () => {
    const line = "starting 1 worker on http://127.0.0.1:8080, backbone redis://app:***@cache:6379";
    assert.equal(maskUri(line), line);
  });

  it("hides a fragment and what follows an '@' past the host: a password's, not percent-encoded", () => {
    assert.equal(maskUri("redis://app:p@ss#word@cache:6379"), "redis://app:***@cache:6379");
    assert.equal(maskUri("kafka://k:9092?user=u&password=ab#cd"), "kafka://k:9092?user=u&password=***#***");
  });
});
