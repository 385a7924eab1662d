/**
 * The model-based randomized test (tests/model/model.ts) on memory://, a bounded
 * number of runs for CI; `npm run test:model -- --backbone memory --runs N` runs more.
 */
import { modelSuite } from "./model.ts";

modelSuite("memory", 80);
