/**
 * The `kafka://` backbone's rules: kafkajs, channels that are valid topic
 * names, and the backend's own message limit.
 *
 * @module
 */
import type { BackboneRules } from "../lib/backbone_rules.ts";

/**
 * The default of `backendOptions.maxMessageBytes`: below the broker's default
 * `message.max.bytes` (1 MiB), so that a message is refused at publish rather
 * than accepted and dropped.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** kafkajs; topic names only; messages up to `backendOptions.maxMessageBytes`. */
export const kafkaRules: BackboneRules = {
  driver: "kafkajs",
  channel: {
    test: (channel) => TOPIC.test(channel) && channel !== "." && channel !== "..",
    rule: "a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ - (not . or ..)",
  },
  messageLimit: (settings) =>
    typeof settings.maxMessageBytes === "number" ? settings.maxMessageBytes : DEFAULT_MAX_MESSAGE_BYTES,
};
