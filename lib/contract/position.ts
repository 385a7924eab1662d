/**
 * The positions that events carry in history mode: opaque to users, ordered
 * within a channel's log. Imports nothing, so that every module can order them.
 *
 * A position is one or more decimal numbers joined by "-", its *place* in the
 * log (a Redis stream ID `1700000000000-3`, a log row `42`), after the
 * *epoch* of the log it came from and a colon (`k3x9q2:1700000000000-3`). A
 * log gets a new epoch each time it is made again (a stream deleted and
 * recreated, a server restarted without persistence, a table truncated, a
 * topic recreated, a hub restarted), so a position from another epoch is
 * known for what it is: a gap, never a place in the new log. A position
 * without an epoch (issued before epochs, or by a log that holds nothing yet)
 * is read as a place in whatever log is there now.
 *
 * @module
 */

/** Separates a position's epoch from its place. */
const SEPARATOR = ":";

/**
 * Orders two positions of one channel: negative when `a` comes first. Within
 * an epoch (or where either has none) places are compared number by number;
 * positions of two epochs are ordered by their epochs' text, which keeps the
 * order total but says nothing of which log came first: ask
 * {@linkcode sameLog} before reading one as after the other.
 */
export function comparePositions(a: string, b: string): number {
  if (a === b) return 0;
  const x = a.indexOf(SEPARATOR);
  const y = b.indexOf(SEPARATOR);
  // The common case, on every event: epochs of one length (or none) and places of one or
  // two numbers of the same lengths compare as text, the epoch first.
  if (x === y && a.length === b.length) {
    const dash = a.indexOf("-", x + 1);
    if (dash === b.indexOf("-", x + 1) && a.indexOf("-", dash + 1) < 0 && b.indexOf("-", dash + 1) < 0) return a < b ? -1 : 1;
  }
  if (x >= 0 && y >= 0) {
    const epochs = compareText(a.slice(0, x), b.slice(0, y));
    if (epochs !== 0) return epochs;
  }
  return comparePlaces(x < 0 ? a : a.slice(x + 1), y < 0 ? b : b.slice(y + 1));
}

/** Orders two places: numbers joined by "-", compared number by number. */
function comparePlaces(a: string, b: string): number {
  if (a === b) return 0;
  const x = a.split("-");
  const y = b.split("-");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? "0";
    const q = y[i] ?? "0";
    if (p.length !== q.length) return p.length - q.length; // no leading zeros: longer is larger
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

function compareText(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/** Whether `text` is a position as {@linkcode comparePositions} orders them. */
export function isPosition(text: string): boolean {
  return /^([0-9a-z]{1,32}:)?(0|[1-9]\d{0,19})(-(0|[1-9]\d{0,19}))*$/.test(text) && text.length <= 96;
}

/** Whether `text` can be an epoch: 1 to 32 lowercase letters and digits. */
export function isEpoch(text: string): boolean {
  return /^[0-9a-z]{1,32}$/.test(text);
}

/** The epoch of the log `position` came from; undefined for a position without one. */
export function epochOf(position: string): string | undefined {
  const at = position.indexOf(SEPARATOR);
  return at < 0 ? undefined : position.slice(0, at);
}

/** Where `position` stands in its log, without its epoch. */
export function placeOf(position: string): string {
  const at = position.indexOf(SEPARATOR);
  return at < 0 ? position : position.slice(at + 1);
}

/** The position at `place` in the log of `epoch`; the bare place when the log has no epoch. */
export function atPlace(epoch: string | undefined, place: string): string {
  return epoch === undefined ? place : `${epoch}${SEPARATOR}${place}`;
}

/**
 * Whether two positions can be of one log: their epochs are equal, or either
 * has none (it is read in whatever log is there).
 */
export function sameLog(a: string, b: string): boolean {
  const x = a.indexOf(SEPARATOR);
  if (x < 0) return true;
  const y = b.indexOf(SEPARATOR);
  if (y < 0) return true;
  if (x !== y) return false;
  for (let i = 0; i < x; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}

/**
 * Whether `position` can be read as a place in the log whose epoch is
 * `current` (undefined: a log without one): a position without an epoch can,
 * one with an epoch only in its own log. False means the log was made again
 * since (or lost its epoch), and what came after the position is gone.
 */
export function fromLog(position: string, current: string | undefined): boolean {
  const epoch = epochOf(position);
  return epoch === undefined || epoch === current;
}

/** A new epoch: 16 random lowercase letters and digits. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let epoch = "";
  for (const byte of bytes) epoch += (byte % 36).toString(36);
  return epoch.slice(0, 10) + Date.now().toString(36).slice(-6);
}
