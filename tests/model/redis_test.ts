/**
 * The model-based randomized test (tests/model/model.ts) on redis://, a bounded
 * number of runs for CI; `npm run test:model -- --backbone redis --runs N` runs more.
 */
import { modelSuite } from "./model.ts";

modelSuite("redis", 60);
