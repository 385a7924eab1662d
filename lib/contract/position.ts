/**
 * The positions that events carry in history mode: opaque to users, ordered
 * within a channel. Imports nothing, so that every module can order them.
 *
 * @module
 */

/**
 * Orders two positions of one channel: negative when `a` comes first. A
 * position is one or more decimal numbers joined by "-" (a Redis stream ID
 * `1700000000000-3`, a log row `42`), compared number by number.
 */
export function comparePositions(a: string, b: string): number {
  if (a === b) return 0;
  // The common case, on every event: one or two numbers of the same lengths compare as text.
  const dash = a.indexOf("-");
  if (a.length === b.length && dash === b.indexOf("-") && a.indexOf("-", dash + 1) < 0 && b.indexOf("-", dash + 1) < 0) {
    return a < b ? -1 : 1;
  }
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

/** Whether `text` is a position as {@linkcode comparePositions} orders them. */
export function isPosition(text: string): boolean {
  return /^(0|[1-9]\d{0,19})(-(0|[1-9]\d{0,19}))*$/.test(text) && text.length <= 64;
}
