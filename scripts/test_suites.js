// Which test files run where (scripts/test_matrix.js). A test file is
// portable unless listed here: it must pass on every runtime row (Node 20 with
// tsx, the newest Node without tsx, Bun, Deno). deno.json's test.exclude lists
// exactly the files that are not portable, so a bare `deno test` runs the
// Deno row's suite (scripts/check_deno_json.js keeps the two in step).
import { readdirSync } from "node:fs";

/** Tests that run on the first row (Node 20, the full suite) only, and why. */
export const FIRST_ROW_ONLY = {
  "kafka_test.ts": "Kafka: starts brokers of its own, minutes per run",
  "kafka_history_test.ts": "Kafka: starts a broker of its own, stops and starts it",
  "model_kafka_test.ts": "Kafka",
  "kafkajs_idle_loop_test.ts": "Kafka",
  "churn_test.ts": "its Kafka case starts a broker",
  "cli_test.ts": "the streamcast command is a Node program (node:cluster)",
  "serve_test.ts": "the streamcast command",
  "serve_outage_test.ts": "the streamcast command",
  "serve_hostile_test.ts": "the streamcast command",
  "serve_auth_test.ts": "the streamcast command",
  "serve_cors_test.ts": "the streamcast command",
  "bad_input_http_test.ts": "the streamcast command",
  "serve_eventsource_test.ts": "the streamcast command, and Chromium",
  "serve_history_browser_test.ts": "the streamcast command, and Chromium",
  "deno_permissions_test.ts": "drives Deno itself, with chosen permissions",
  "deno_consumer_test.ts": "drives Deno itself, from a project outside the checkout",
  "public_types_test.ts": "type-checks the npm package's declarations with tsc",
};

/** Tests that are rows of their own: they drive another runtime, or test the npm package. */
export const OWN_ROW = { browser: "browser_test.ts", workerd: "workerd_test.ts", package: "package_test.ts" };

/** Every test file in tests/, sorted. */
export function allTests() {
  return readdirSync(new URL("../tests", import.meta.url)).filter((name) => name.endsWith("_test.ts")).sort();
}

/** The test files that are not portable: first-row-only and own-row ones. */
export function notPortable() {
  return [...Object.keys(FIRST_ROW_ONLY), ...Object.values(OWN_ROW)].sort();
}

/** The portable test files. */
export function portableTests() {
  const excluded = new Set(notPortable());
  return allTests().filter((name) => !excluded.has(name));
}
