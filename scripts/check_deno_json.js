// Fails when deno.json drifts from package.json: the version, and the npm
// ranges that deno.json's "imports" give valibot and the optional drivers;
// or from scripts/test_suites.js: test.exclude must list exactly the folders
// of tests that are not portable.
import { readFileSync } from "node:fs";
import { notPortableFolders } from "./test_suites.js";

const read = (name) => readFileSync(new URL(`../${name}`, import.meta.url), "utf8");
const pkg = JSON.parse(read("package.json"));
// deno.json is JSONC; its comments are whole lines.
const deno = JSON.parse(read("deno.json").replace(/^\s*\/\/.*$/gm, ""));

const problems = [];
if (deno.version !== pkg.version) {
  problems.push(`version: deno.json has ${deno.version}, package.json has ${pkg.version}`);
}
const ranges = { ...pkg.peerDependencies, ...pkg.dependencies };
for (const [name, range] of Object.entries(ranges)) {
  const expected = `npm:${name}@${range}`;
  if (deno.imports?.[name] !== expected) {
    problems.push(`imports.${name}: deno.json has ${deno.imports?.[name]}, expected ${expected}`);
  }
}
const excluded = JSON.stringify([...(deno.test?.exclude ?? [])].sort());
const expected = JSON.stringify(notPortableFolders());
if (excluded !== expected) {
  problems.push(`test.exclude: deno.json has ${excluded}, scripts/test_suites.js says ${expected}`);
}
if (problems.length > 0) {
  console.error(`deno.json is out of step with package.json or scripts/test_suites.js:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
