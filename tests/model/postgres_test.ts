/**
 * The model-based randomized test (tests/model/model.ts) on postgres://, a bounded
 * number of runs for CI; `npm run test:model -- --backbone postgres --runs N` runs more.
 */
import { modelSuite } from "./model.ts";

modelSuite("postgres", 60);
