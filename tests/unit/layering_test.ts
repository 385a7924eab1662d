/**
 * The layering of the code, by folder (the table is in
 * tests/fixtures/layering.ts): each folder imports only the folders below it,
 * lib/ is web-standard and driver-free, only the façade names a backend, and
 * no file takes part in an import cycle, type-only imports included. The
 * check itself is shown to fail on trees that break the table.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { importsOf, layeringProblems } from "../fixtures/layering.ts";

const ROOT = new URL("../../", import.meta.url);
/** The folders whose TypeScript is checked, with mod.ts beside them. */
const FOLDERS = ["lib", "backends", "cli", "bench", "tests", "examples"];

/** Every .ts file of the repository's code, path → text. */
async function tree(): Promise<Map<string, string>> {
  const files = ["mod.ts"];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(new URL(folder, ROOT), { withFileTypes: true })) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  };
  for (const folder of FOLDERS) await walk(folder);
  const texts = await Promise.all(files.map((file) => readFile(new URL(file, ROOT), "utf8")));
  return new Map(files.map((file, i) => [file, texts[i]]));
}

const BACKEND = /^\.\.\/\.\.\/backends\/(memory|redis|redis\/cluster|postgres|kafka)\/mod\.ts$/;

describe("layering", () => {
  it("every import follows the folder table, and no import cycle exists, type-only ones included", async () => {
    assert.deepEqual(layeringProblems(await tree()), []);
  });

  it("only the scheme table loads a backend, one literal import() per backend", async () => {
    const loaded = [...await tree()].flatMap(([file, text]) =>
      file.startsWith("lib/") || file.startsWith("backends/") ? importsOf(file, text).filter((i) => i.lazy).map((i) => `${file} -> ${i.target}`) : []
    );
    assert.deepEqual(loaded.sort(), ["kafka", "memory", "postgres", "redis/cluster", "redis"].map((name) => `lib/broadcast/schemes.ts -> backends/${name}/mod.ts`));
  });

  it("fails on an import against the table: a lower layer importing a higher one, a backend reaching past the contract, lib/ importing node:", () => {
    const problems = layeringProblems(new Map([
      ["lib/util/a.ts", `import { Pipeline } from "../pipeline/pipeline.ts";`],
      ["lib/pipeline/pipeline.ts", `export class Pipeline {}`],
      ["backends/redis/mod.ts", `import type { Pipeline } from "../../lib/pipeline/pipeline.ts";`],
      ["lib/contract/b.ts", `import { readFile } from "node:fs";`],
      ["backends/memory/rules.ts", `import { memory } from "./mod.ts";`],
      ["backends/memory/mod.ts", `export const memory = 1;`],
    ]));
    assert.deepEqual(problems, [
      "lib/util/a.ts imports lib/pipeline/pipeline.ts: lib/util/ may import nothing outside itself",
      "backends/redis/mod.ts imports lib/pipeline/pipeline.ts: backends/redis/ may import lib/contract, lib/util, backends/tls",
      "lib/contract/b.ts imports the package node:fs",
      "backends/memory/rules.ts imports backends/memory/mod.ts: backends/memory/ may import lib/contract, lib/util",
    ]);
  });

  it("fails on a backend loaded lazily outside the scheme table, or named by another file of lib/broadcast/", () => {
    const problems = layeringProblems(new Map([
      ["lib/pipeline/a.ts", `const m = await import("../../backends/redis/mod.ts");`],
      ["lib/broadcast/b.ts", `const m = await import("../../backends/redis/mod.ts");`],
      ["lib/broadcast/c.ts", `import { rules } from "../../backends/redis/rules.ts";`],
    ]));
    assert.deepEqual(problems, [
      "lib/pipeline/a.ts loads backends/redis/mod.ts lazily",
      "lib/broadcast/b.ts loads backends/redis/mod.ts lazily",
      "lib/broadcast/c.ts imports backends/redis/rules.ts: only lib/broadcast/schemes.ts names backends",
    ]);
  });

  it("fails on a computed import(), and on a file of lib/ or backends/ in a folder the table does not name", () => {
    const problems = layeringProblems(new Map([
      ["lib/pipeline/a.ts", `const u = "../../backends/redis/mod.ts";\nconst m = await import(u);`],
      ["backends/nats/mod.ts", `import { Pipeline } from "../../lib/pipeline/pipeline.ts";`],
      ["lib/extra/x.ts", `export const x = 1;`],
      ["tests/t.ts", `export const t = 1;`],
    ]));
    assert.deepEqual(problems, [
      "lib/pipeline/a.ts loads a computed module (import(u)): only a literal can be checked",
      "backends/nats/mod.ts is in no folder of the table: give its folder a rule",
      "lib/extra/x.ts is in no folder of the table: give its folder a rule",
    ]);
  });

  it("fails on an import cycle, a type-only one included, and not on an import in a doc comment", () => {
    const problems = layeringProblems(new Map([
      ["tests/a.ts", `import type { B } from "./b.ts";\nexport interface A { b: B }`],
      ["tests/b.ts", `/** @example\n * import { A } from "./c.ts";\n */\nexport interface B { a: import("./a.ts").A }`],
      ["tests/c.ts", `import { A } from "./a.ts";`],
    ]));
    assert.deepEqual(problems, ["import cycle: tests/a.ts -> tests/b.ts -> tests/a.ts"]);
  });

  it("lib/ type-checks against web globals alone, the backends it loads lazily left out", () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      fileURLToPath(new URL("tsconfig.lib.json", ROOT)),
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
    assert.deepEqual(files.filter((name) => /@types\/node|\/backends\/(?!\w+\/rules\.ts$)/.test(name)), [], "no Node types, no backend but the rules files");
  });
});
