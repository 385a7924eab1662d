/**
 * The model-based randomized test (tests/model/model.ts) on postgres:// in history
 * mode, with its stronger invariants; `npm run test:model -- --backbone
 * postgres --history --runs N` runs more.
 */
import { modelSuite } from "./model.ts";

modelSuite("postgres", 40, { history: true });
