/**
 * The model-based randomized test (tests/model/model.ts) on memory:// in history
 * mode, with its stronger invariants; `npm run test:model -- --backbone
 * memory --history --runs N` runs more.
 */
import { modelSuite } from "./model.ts";

modelSuite("memory", 60, { history: true });
