/**
 * The `memory://` backbone: an in-process hub shared by every Broadcast in the
 * process, so that several instances behave like several servers on one
 * backbone. `memory://` names the default hub; `memory://name` another one.
 *
 * {@linkcode memoryHub} is a control surface for tests and demonstrations: it
 * makes a hub go down, come back, or stall without closing. The connector
 * holds nothing beyond its links: the hub is the state, and it outlives them.
 *
 * In history mode the hub keeps each channel's last events (as many as the
 * largest `messages` any connector asked for, and no older than its
 * `maxAge`), numbered 1, 2, … per channel after the hub's epoch
 * (`k3x9q2…:1`); a link resumes after a position, so a cut or a stall of the
 * hub costs a subscriber nothing it keeps. `memoryHub(name).restart()` is a
 * server restart without persistence: history is forgotten and the hub
 * takes a new epoch, so a position from before (or from another hub) is a
 * gap: one resync frame, then the hub's history from its oldest.
 *
 * @module
 */
import type { Backend, Connector } from "../../lib/contract/link.ts";
import { memoryHub } from "./hub.ts";

export { type MemoryHub, memoryHub } from "./hub.ts";

/** Builds a connector whose links go to the in-process hub named by the URI's host. */
export const memory: Backend = (uri, context): Connector => {
  const hub = memoryHub(uri.hostname);
  const { history, clock } = context;
  if (history) hub.keep(history);
  return { open: () => hub.connect(history ? clock : undefined) };
};

export default memory;
