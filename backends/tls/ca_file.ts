/**
 * Reads the PEM file a URI's `ca=` parameter names, for TLS backbones.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { errorMessage } from "../../lib/util/error_message.ts";

/** The file's text, or a one-line reason it cannot be read (path quoted, no stack). */
export function readCaFile(path: string): { ca: string } | { problem: string } {
  try {
    return { ca: readFileSync(path, "utf8") };
  } catch (cause) {
    return { problem: `${JSON.stringify(path)} (${errorMessage(cause)})` };
  }
}
