/**
 * lib/ stays web-standard and driver-free. `tsconfig.lib.json` type-checks
 * lib/ without Node's types, but the scheme table's literal imports of the
 * backends pull the backends, and through their drivers Node's types, into
 * that program. So lib/ is type-checked here once more with those four
 * imports left unresolved, and its imports are checked: lib/ imports lib/,
 * valibot and the backends' rules files, which import nothing but lib/'s
 * rules type; only lib/schemes.ts imports a backend, lazily.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const STATIC = /^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm;
const DYNAMIC = /\bimport\(\s*"([^"]+)"\s*\)/g;

async function sources(folder: string, name: RegExp): Promise<Map<string, string>> {
  const files = (await readdir(new URL(`../${folder}/`, import.meta.url))).filter((file) => name.test(file));
  const texts = await Promise.all(files.map((file) => readFile(new URL(`../${folder}/${file}`, import.meta.url), "utf8")));
  return new Map(files.map((file, i) => [`${folder}/${file}`, texts[i]]));
}

function imports(text: string, pattern: RegExp): string[] {
  return [...text.matchAll(pattern)].map((match) => match[1] ?? match[2]);
}

const BACKEND = /^\.\.\/backends\/(memory|redis|postgres|kafka)\.ts$/;

describe("lib/ imports", () => {
  it("lib/ type-checks against web globals alone, the backends it loads lazily left out", () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      fileURLToPath(new URL("../tsconfig.lib.json", import.meta.url)),
      {},
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => assert.fail(String(diagnostic.messageText)) },
    )!;
    const host = ts.createCompilerHost(config.options);
    host.resolveModuleNameLiterals = (literals, containingFile, _redirect, options) =>
      literals.map(({ text }) => BACKEND.test(text) ? { resolvedModule: undefined } : ts.resolveModuleName(text, containingFile, options, host));
    const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, host });
    const problems = ts.getPreEmitDiagnostics(program)
      .filter((d) => !(d.code === 2307 && BACKEND.test(/'([^']+)'/.exec(ts.flattenDiagnosticMessageText(d.messageText, "\n"))?.[1] ?? "")))
      .map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
    assert.deepEqual(problems, []);
    const files = program.getSourceFiles().map((file) => file.fileName);
    assert.deepEqual(files.filter((name) => /@types\/node|\/backends\/(?!_\w+_rules\.ts$)/.test(name)), [], "no Node types, no backend");
  });

  it("lib/ imports only lib/, valibot, jose (the SSE handler's JWTs) and the backends' driver-free rules files", async () => {
    for (const [file, text] of await sources("lib", /\.ts$/)) {
      for (const specifier of imports(text, STATIC)) {
        assert.match(specifier, /^(\.\/\w+\.ts|valibot|jose|\.\.\/backends\/_\w+_rules\.ts)$/, `${file} imports ${specifier}`);
      }
    }
  });

  it("only lib/schemes.ts loads a backend, with a literal dynamic import", async () => {
    for (const [file, text] of await sources("lib", /\.ts$/)) {
      const loaded = imports(text, DYNAMIC);
      if (file !== "lib/schemes.ts") assert.deepEqual(loaded, [], `${file} loads a backend`);
      else assert.deepEqual(loaded.sort(), ["../backends/kafka.ts", "../backends/memory.ts", "../backends/postgres.ts", "../backends/redis.ts"]);
    }
  });

  it("the backends' rules files import only lib/ and valibot: no driver, nothing of node", async () => {
    const rules = await sources("backends", /^_\w+_rules\.ts$/);
    assert.deepEqual([...rules.keys()].sort(), ["_kafka_rules.ts", "_memory_rules.ts", "_postgres_rules.ts", "_redis_rules.ts"].map((f) => `backends/${f}`));
    for (const [file, text] of rules) {
      for (const imported of imports(text, STATIC)) assert.match(imported, /^(\.\.\/lib\/\w+\.ts|valibot)$/, file);
      assert.deepEqual(imports(text, DYNAMIC), [], file);
    }
  });
});
