/**
 * The model-based randomized test (tests/model/model.ts) on kafka://, a bounded
 * number of runs for CI; `npm run test:model -- --backbone kafka --runs N` runs more.
 */
import { modelSuite } from "../model/model.ts";

modelSuite("kafka", 30);
