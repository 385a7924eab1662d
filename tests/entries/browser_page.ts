/**
 * The browser test's page script: hands the edge scenarios to the test as
 * `globalThis.edge`. It is bundled apart from the library, importing the
 * library's own bundle (`./mod.js`) as it is served.
 */
import { connectOutcome, memoryRoundTrip } from "./edge_scenarios.ts";

/** What the page offers the test. */
export interface EdgePage {
  memoryRoundTrip: typeof memoryRoundTrip;
  connectOutcome: typeof connectOutcome;
}

(globalThis as { edge?: EdgePage }).edge = { memoryRoundTrip, connectOutcome };
