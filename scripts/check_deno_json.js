// Fails when deno.json drifts from package.json: the version, and the npm
// ranges that deno.json's "imports" give valibot and the optional drivers.
import { readFileSync } from "node:fs";

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
if (problems.length > 0) {
  console.error(`deno.json is out of step with package.json:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
