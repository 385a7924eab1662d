/**
 * Run in a fresh process by `kafkajs_idle_loop_test.ts`: prints, as JSON,
 * whether kafkajs's idle-loop fix is in force once the Kafka backend is
 * imported, and once it has built a connector (which connects nothing).
 */
import { kafka, kafkajsIdleLoopFixed } from "../../backends/kafka/mod.ts";
import { connectorContext } from "../fixtures/support.ts";

const imported = kafkajsIdleLoopFixed();
kafka(new URL("kafka://127.0.0.1:9"), connectorContext().context);
const built = kafkajsIdleLoopFixed();
console.log(JSON.stringify({ imported, built }));
