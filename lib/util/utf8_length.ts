/**
 * The size of `text` in UTF-8 bytes, without encoding it (a lone surrogate
 * counts as the 3 bytes of its replacement character, as encoders write it).
 * With `atLeast`, a text that cannot reach that size is answered from its
 * length alone: a UTF-16 unit is at most 3 UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./utf8_length.ts";
 * if (utf8Length("aé€😀") !== 1 + 2 + 3 + 4) throw new Error();
 * ```
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** Whether `text` is more than `limit` UTF-8 bytes; measures only when its length allows it. */
export function utf8Exceeds(text: string, limit: number): boolean {
  return text.length * 3 > limit && utf8Length(text) > limit;
}
