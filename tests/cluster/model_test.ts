/**
 * The model-based randomized test (tests/model/model.ts) on redis+cluster://,
 * the shared cluster through a proxy in front of each node, in pub/sub mode
 * and in history mode, a bounded number of runs; `npm run test:model --
 * --backbone redis-cluster [--history] --runs N` runs more.
 */
import { modelSuite } from "../model/model.ts";

modelSuite("redis-cluster", 25);
modelSuite("redis-cluster", 20, { history: true });
