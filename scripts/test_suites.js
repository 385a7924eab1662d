// Which test files run where (scripts/test_matrix.js), by folder of tests/
// (tests/README.md says what each folder covers). A test file is portable
// unless its folder is listed here: it must pass on every runtime row (Node 20
// with tsx, the newest Node without tsx, Bun, Deno). deno.json's test.exclude
// lists exactly these folders, so a bare `deno test` runs the Deno row's suite
// (scripts/check_deno_json.js keeps the two in step).
import { readdirSync } from "node:fs";

/** Folders whose tests run on the first row (Node 20, the full suite) only, and why. */
export const FIRST_ROW_ONLY = {
  cluster: "Redis Cluster: one shared cluster started by scripts/redis-cluster.sh, failovers take seconds",
  cli: "the streamcast command is a Node program (node:cluster); some drive Chromium",
  kafka: "Kafka: the tests start brokers of their own, minutes per run",
  runtimes: "they drive another runtime (Deno, tsc on the npm package's declarations)",
};

/** Tests that are rows of their own: they drive another runtime, or test the npm package. */
export const OWN_ROW = { browser: "runtimes/browser_test.ts", workerd: "runtimes/workerd_test.ts", package: "runtimes/package_test.ts" };

/** Every test file under tests/, as a path inside tests/, sorted. */
export function allTests() {
  return readdirSync(new URL("../tests", import.meta.url), { recursive: true })
    .map((name) => name.split("\\").join("/"))
    .filter((name) => name.endsWith("_test.ts"))
    .sort();
}

/** The folders of tests/ that are not portable, as deno.json's test.exclude names them. */
export function notPortableFolders() {
  return Object.keys(FIRST_ROW_ONLY).sort().map((folder) => `tests/${folder}/`);
}

/** The portable test files. */
export function portableTests() {
  return allTests().filter((name) => !(name.split("/")[0] in FIRST_ROW_ONLY));
}
