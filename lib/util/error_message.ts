import { printable } from "./printable.ts";

/**
 * The message of anything thrown: an `Error`'s message, else the value as a
 * string. For error texts that quote a cause in one line.
 *
 * @example
 * ```ts
 * import { errorMessage } from "./error_message.ts";
 * if (errorMessage(new Error("refused")) !== "refused") throw new Error();
 * if (errorMessage("down") !== "down") throw new Error();
 * ```
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof (error as { message?: unknown })?.message === "string") return (error as { message: string }).message;
  return printable(error);
}
