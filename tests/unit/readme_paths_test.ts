/**
 * Every path of this repository that the README names exists: a file moved
 * or renamed takes its README mention along, or this fails naming it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";

const ROOT = new URL("../../", import.meta.url);
const FOLDERS = "lib|backends|tests|cli|bench|scripts|examples|\\.ci";

/** Whether `path` exists; for `prefix…`, whether some file or folder starts with the prefix. */
function exists(path: string): boolean {
  if (!path.endsWith("…")) return existsSync(new URL(path, ROOT));
  const prefix = path.slice(0, -1);
  const folder = prefix.slice(0, prefix.lastIndexOf("/") + 1);
  const start = prefix.slice(folder.length);
  return existsSync(new URL(folder, ROOT)) && readdirSync(new URL(folder, ROOT)).some((name) => name.startsWith(start));
}

/**
 * The repository paths the README names: `lib/…`, `tests/…` and the like. A
 * placeholder or a glob (`backends/<name>/`, `tests/model/*_test.ts`) is
 * named by what comes before it, followed by `…`: `tests/model/…`.
 */
function pathsIn(markdown: string): string[] {
  const pattern = new RegExp(`(?<![\\w./@-])(?:${FOLDERS})/[\\w./-]*|(?<![\\w./@-])(?:mod\\.ts|deno\\.json|package\\.json|tsconfig\\.json)\\b`, "g");
  const found = new Set<string>();
  for (const match of markdown.matchAll(pattern)) {
    const [path] = match;
    const cut = /[<*{]/.test(markdown[match.index + path.length] ?? "");
    found.add(cut ? `${path}…` : path.replace(/[.,:;)]+$/, ""));
  }
  return [...found].sort();
}

describe("README", () => {
  it("every path it names exists", () => {
    const readme = readFileSync(new URL("README.md", ROOT), "utf8");
    const paths = pathsIn(readme);
    assert.ok(paths.length > 50, `the README names paths (found ${paths.length})`);
    assert.deepEqual(paths.filter((path) => !exists(path)), []);
  });

  it("the check finds a path that does not exist, a placeholder or glob under a folder that does not, and takes the ones that do", () => {
    const paths = pathsIn("see `lib/nowhere.ts`, `backends/<name>/mod.ts`, `tests/model_*_test.ts`, `tests/model/*_test.ts` and lib/util/clock.ts.");
    assert.deepEqual(paths, ["backends/…", "lib/nowhere.ts", "lib/util/clock.ts", "tests/model/…", "tests/model_…"]);
    assert.deepEqual(paths.filter((path) => !exists(path)), ["lib/nowhere.ts", "tests/model_…"]);
  });
});
