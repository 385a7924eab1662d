import { ConfigError, isPermissionError } from "../contract/errors.ts";

/**
 * The runtime's environment variables, for `Broadcast.fromEnv()`: Deno's or
 * Node's and Bun's `process.env`, or none elsewhere (a browser, an edge
 * runtime). Deno without `--allow-env` is a `ConfigError` that says so,
 * rather than the runtime's own refusal.
 */
export function runtimeEnv(): Record<string, string | undefined> {
  const global = globalThis as {
    Deno?: { env: { toObject(): Record<string, string> } };
    process?: { env: Record<string, string | undefined> };
  };
  try {
    if (global.Deno) return global.Deno.env.toObject();
    return global.process?.env ?? {};
  } catch (cause) {
    if (!isPermissionError(cause)) throw cause;
    const message = "Invalid environment: Expected access to the environment variables (Deno: run with --allow-env) but received none";
    throw new ConfigError([{ path: "environment", expected: "access to the environment variables", received: "none", message }], { cause });
  }
}
