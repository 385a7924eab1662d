/**
 * esbuild bundles of the library for runtimes that are not servers: code
 * split, so the scheme table's literal `import()`s become one chunk per
 * backend, fetched only when its scheme is used. The drivers (the package's
 * peer dependencies) and Node's built-ins are left as imports: in a runtime
 * without them, only loading that backend fails, and `connect()` says so.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { gzipSync } from "node:zlib";
import assert from "node:assert/strict";
import type * as Esbuild from "esbuild";
import type { ConnectOutcome } from "./_edge_scenarios.ts";

const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { peerDependencies: Record<string, string> };

/** What a runtime cannot be assumed to have: Node's built-ins and the backends' drivers. */
export const EXTERNAL: readonly string[] = ["node:*", ...Object.keys(manifest.peerDependencies)];

/** One built bundle: its files by name, and what each imports. */
export interface Bundle {
  /** File name (`mod.js`, `chunk-….js`) to its text. */
  readonly files: ReadonlyMap<string, string>;
  /** File name to what it imports statically: other files by name, or an external specifier as written. */
  readonly imports: ReadonlyMap<string, readonly string[]>;
  /** File name to the files it loads with `import()`. */
  readonly dynamicImports: ReadonlyMap<string, readonly string[]>;
  /** The output file name of the source file `source` (say `backends/memory.ts`), which must be a chunk of its own. */
  chunkOf(source: string): string;
  /** `name` and every file and external it imports statically, transitively: what loads with it. */
  closure(name: string): Set<string>;
  /** Bytes of `names` gzipped one by one, as a server would send them, and raw. */
  size(names: Iterable<string>): { raw: number; gzipped: number };
}

/** Settings each bundle shares; `entryPoints` and `plugins` vary. */
export interface BundleOptions {
  /** Output name (without `.js`) to source path, relative to the repository. */
  readonly entryPoints: Record<string, string>;
  readonly plugins?: Esbuild.Plugin[];
  /** @default {true} */
  readonly minify?: boolean;
}

/** Bundles `entryPoints` as ES modules for browsers and edge runtimes, code split, in memory. */
export async function bundle(options: BundleOptions): Promise<Bundle> {
  let esbuild: typeof Esbuild;
  try {
    esbuild = await import("esbuild");
  } catch (cause) {
    throw new Error("The bundle tests need esbuild: npm install -D esbuild", { cause });
  }
  const root = new URL("..", import.meta.url).pathname;
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: options.entryPoints,
    plugins: options.plugins,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: options.minify ?? true,
    outdir: "bundle",
    write: false,
    metafile: true,
    external: [...EXTERNAL],
    logLevel: "silent",
  });
  const files = new Map(result.outputFiles.map((file) => [basename(file.path), file.text]));
  const imports = new Map<string, string[]>();
  const dynamicImports = new Map<string, string[]>();
  const sources = new Map<string, string>();
  for (const [path, output] of Object.entries(result.metafile.outputs)) {
    const name = basename(path);
    const target = (imported: Esbuild.Metafile["outputs"][string]["imports"][number]) => imported.external ? imported.path : basename(imported.path);
    imports.set(name, output.imports.filter((i) => i.kind === "import-statement").map(target));
    dynamicImports.set(name, output.imports.filter((i) => i.kind === "dynamic-import").map(target));
    if (output.entryPoint !== undefined) sources.set(output.entryPoint, name);
  }
  return {
    files,
    imports,
    dynamicImports,
    chunkOf(source) {
      const name = sources.get(source);
      if (name === undefined) throw new Error(`${source} is no chunk of its own in the bundle`);
      return name;
    },
    closure(name) {
      const seen = new Set<string>();
      const visit = (file: string) => {
        if (seen.has(file)) return;
        seen.add(file);
        for (const next of imports.get(file) ?? []) visit(next);
      };
      visit(name);
      return seen;
    },
    size(names) {
      let raw = 0;
      let gzipped = 0;
      for (const name of names) {
        const text = files.get(name);
        if (text === undefined) continue;
        raw += Buffer.byteLength(text);
        gzipped += gzipSync(text, { level: 9 }).length;
      }
      return { raw, gzipped };
    },
  };
}

/** `n` bytes as kilobytes with one decimal: `12.3 kB`. */
export function kilobytes(n: number): string {
  return `${(n / 1000).toFixed(1)} kB`;
}

/**
 * What `connect()` to a backend that needs Node must give in a runtime
 * without it: an `UnsupportedBackendError` at the first attempt, saying where
 * the backend runs (installing the driver would not help there).
 */
export function assertUnsupportedAtOnce(outcome: ConnectOutcome, scheme: string, driver: string): void {
  assert.equal(outcome.outcome, "rejected", `connect() ${outcome.outcome} within its bound`);
  assert.ok(outcome.outcome === "rejected");
  assert.equal(outcome.name, "UnsupportedBackendError");
  assert.equal(outcome.code, "BACKEND_UNSUPPORTED");
  assert.equal(outcome.state, "failed");
  assert.equal(outcome.attempts, 1, "one attempt, not retried");
  assert.match(outcome.message, new RegExp(`^Could not load the ${scheme}// backend \\(it runs on Node, Deno or Bun, with the "${driver}" package installed\\): .`));
}
