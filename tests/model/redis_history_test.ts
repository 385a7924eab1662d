/**
 * The model-based randomized test (tests/model/model.ts) on redis:// in history
 * mode, with its stronger invariants; `npm run test:model -- --backbone
 * redis --history --runs N` runs more.
 */
import { modelSuite } from "./model.ts";

modelSuite("redis", 40, { history: true });
