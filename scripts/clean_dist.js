// Empties dist/ before a build that is about to be packed, so that a file left
// behind by a renamed or deleted source never ships in the tarball.
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
