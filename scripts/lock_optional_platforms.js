// Adds to package-lock.json the platform packages of `deno` that npm could not
// resolve, so that `npm ci` accepts the lockfile.
//
// Why: the registry this project installs from holds @deno/linux-x64-glibc at
// deno's version but not yet its other platform builds (@deno/darwin-arm64 …).
// `npm install` then leaves them out of the lockfile while `deno` still lists
// them as optional dependencies, and `npm ci` refuses the lockfile as out of
// sync ("Missing: @deno/darwin-arm64@ from lock file"). An entry carrying
// os/cpu/libc lets npm skip a foreign platform without fetching anything.
// npm keeps these entries through later installs; run this again only after
// regenerating package-lock.json from scratch:
//
//   node scripts/lock_optional_platforms.js && npm ci
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const deno = lock.packages["node_modules/deno"];
if (deno === undefined) throw new Error("package-lock.json has no node_modules/deno");

const platforms = {
  "darwin-arm64": { os: "darwin", cpu: "arm64" },
  "darwin-x64": { os: "darwin", cpu: "x64" },
  "linux-arm64-glibc": { os: "linux", cpu: "arm64", libc: "glibc" },
  "linux-x64-glibc": { os: "linux", cpu: "x64", libc: "glibc" },
  "win32-arm64": { os: "win32", cpu: "arm64" },
  "win32-x64": { os: "win32", cpu: "x64" },
};

let added = 0;
for (const [name, version] of Object.entries(deno.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  const platform = platforms[name.replace(/^@deno\//, "")];
  if (key in lock.packages || platform === undefined) continue;
  lock.packages[key] = {
    version,
    cpu: [platform.cpu],
    dev: true,
    ...(platform.libc ? { libc: [platform.libc] } : {}),
    license: deno.license,
    optional: true,
    os: [platform.os],
  };
  console.log(`added ${key}@${version}`);
  added++;
}

if (added > 0) {
  const [root, ...rest] = Object.entries(lock.packages);
  rest.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  lock.packages = Object.fromEntries([root, ...rest]);
  writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
}
