/**
 * Any value as text for an error message, without throwing: `String(value)`
 * where it converts, else the object's tag (a null-prototype object, one
 * whose `toString` is not a function or throws: what a caller's junk holds).
 *
 * @example
 * ```ts
 * import { printable } from "./printable.ts";
 * if (printable(5) !== "5") throw new Error();
 * if (printable(Object.create(null)) !== "[object Object]") throw new Error();
 * ```
 */
export function printable(value: unknown): string {
  try {
    return String(value);
  } catch {
    // No usable toString: fall back on the tag every object has.
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return typeof value;
  }
}
