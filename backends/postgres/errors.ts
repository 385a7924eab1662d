/**
 * What a Postgres error means to streamcast: whether retrying can fix it, and
 * which streamcast error a failed connection attempt becomes. Messages name
 * the server by its URI with the password masked.
 *
 * @module
 */
import postgres from "postgres";
import { AuthenticationError, BackboneUnavailableError, ConfigError } from "../../lib/contract/errors.ts";
import { errorMessage } from "../../lib/util/error_message.ts";
import { maskUri } from "../../lib/util/mask_uri.ts";

/** SQLSTATE of a server error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  return error instanceof postgres.PostgresError ? error.code : undefined;
}

/**
 * Errors that retrying the same message cannot fix: bad data (class 22) and
 * no privilege (42501). Everything else, a lost connection above all, is
 * retried on a new link.
 */
export function isPermanent(error: unknown): boolean {
  const code = sqlState(error);
  return code !== undefined && (code.startsWith("22") || code === "42501");
}

/**
 * What a failed connection attempt means: rejected credentials are an
 * `AuthenticationError`, a missing database or a setting the server refuses
 * (from the URI's `options`) a `ConfigError` (none is retried); anything
 * else is a `BackboneUnavailableError` (retried).
 */
export function connectError(uri: URL, error: unknown): Error {
  const code = sqlState(error);
  const masked = maskUri(uri);
  const detail = errorMessage(error);
  // 28P01 wrong password, 28000 unknown role or no pg_hba.conf entry, 42501 no CONNECT privilege.
  if (code === "28P01" || code === "28000" || code === "42501") {
    return new AuthenticationError(`Postgres refused the credentials of ${masked}: ${detail}`, { cause: error });
  }
  // 3D000 no such database; at startup, 42704 an unknown setting and 22023 a bad value of one.
  if (code === "3D000") return uriError(masked, "a database that exists", detail, error);
  if (code === "42704" || code === "22023") return uriError(masked, "settings the server accepts", detail, error);
  return new BackboneUnavailableError(`Could not connect to ${masked}: ${detail}`, { cause: error });
}

function uriError(masked: string, expected: string, detail: string, cause: unknown): ConfigError {
  const received = JSON.stringify(masked);
  const message = `Invalid URI: Expected ${expected} but received ${received} (${detail})`;
  return new ConfigError([{ path: "URI", expected, received, message }], { cause });
}

/** The error a link reports when it is lost. */
export function lostError(uri: URL, cause: unknown): BackboneUnavailableError {
  if (cause instanceof BackboneUnavailableError) return cause;
  const detail = errorMessage(cause);
  return new BackboneUnavailableError(`Lost the Postgres connection to ${maskUri(uri)}: ${detail}`, { cause });
}
