/**
 * A Kafka channel subscribed again right after its last subscriber cancelled
 * (tests/fixtures/resubscribing.ts), counted by the group's members.
 */
import type { Admin as KafkaAdmin } from "kafkajs";
import { kafkaAdmin, sharedBroker, topicMembers } from "../fixtures/kafka.ts";
import { resubscribing } from "../fixtures/resubscribing.ts";

resubscribing("kafka://", async () => {
  const broker = await sharedBroker();
  const direct: KafkaAdmin = await kafkaAdmin(broker);
  return {
    uri: `kafka://${broker}`,
    options: { connectTimeout: 5_000 },
    wait: 10_000,
    subscribers: (channel) => topicMembers(direct, channel),
    close: () => direct.disconnect(),
  };
});
