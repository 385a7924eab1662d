/**
 * Every error streamcast throws is one of these classes: each sets `name`, a
 * literal `code` to switch on, its domain fields, and the original error in
 * `cause` where there is one. No message ever prints a password.
 *
 * @module
 */

/** One problem found while validating configuration. */
export interface ConfigIssue {
  /** The option path (`reconnect.maxDelay`) or variable name (`OPAL_BROADCAST_URI`). */
  readonly path: string;
  /** What was expected, e.g. `integer >= 0`. */
  readonly expected: string;
  /** What was received, as printed (a URI with its password masked). */
  readonly received: string;
  /** The whole sentence, `Invalid X: Expected Y but received Z`. */
  readonly message: string;
}

/** One issue in the shared shape: `Invalid <path>: Expected <expected> but received <received>`. */
export function configIssue(path: string, expected: string, received: string): ConfigIssue {
  return { path, expected, received, message: `Invalid ${path}: Expected ${expected} but received ${received}` };
}

/** Options or environment variables that do not validate. Never retried. */
export class ConfigError extends Error {
  /** Always `"ConfigError"`. */
  override name = "ConfigError" as const;
  /** Always `"CONFIG_INVALID"`. */
  readonly code = "CONFIG_INVALID" as const;
  /** Every issue found, not only the first. */
  readonly issues: readonly ConfigIssue[];
  /** The message joins the issues' messages with `; `. */
  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions) {
    super(issues.map((issue) => issue.message).join("; "), options);
    this.issues = issues;
  }
}

/** A URI whose scheme has no backend, or whose backend cannot be loaded. */
export class UnsupportedBackendError extends Error {
  /** Always `"UnsupportedBackendError"`. */
  override name = "UnsupportedBackendError" as const;
  /** Always `"BACKEND_UNSUPPORTED"`. */
  readonly code = "BACKEND_UNSUPPORTED" as const;
  /** The scheme as written, with its colon: `amqp:`. */
  readonly scheme: string;
  /** `message` says what is missing, such as the driver package to install. */
  constructor(scheme: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.scheme = scheme;
  }
}

/**
 * The backbone cannot be reached or was lost: a failed connection attempt, a
 * publish that could not be buffered (replay buffer disabled), or a drop with
 * reconnect disabled.
 */
export class BackboneUnavailableError extends Error {
  /** Always `"BackboneUnavailableError"`. */
  override name = "BackboneUnavailableError" as const;
  /** Always `"BACKBONE_UNAVAILABLE"`. */
  readonly code = "BACKBONE_UNAVAILABLE" as const;
  /** `options.cause` is the driver's or the runtime's own error, where there is one. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The backbone rejected our credentials: retrying cannot fix it. */
export class AuthenticationError extends Error {
  /** Always `"AuthenticationError"`. */
  override name = "AuthenticationError" as const;
  /** Always `"AUTHENTICATION_FAILED"`. */
  readonly code = "AUTHENTICATION_FAILED" as const;
  /** `options.cause` is the backbone's refusal, as the driver reported it. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** `maxRetries` consecutive attempts failed; `cause` is the last failure. */
export class GiveUpError extends Error {
  /** Always `"GiveUpError"`. */
  override name = "GiveUpError" as const;
  /** Always `"GAVE_UP"`. */
  readonly code = "GAVE_UP" as const;
  /** How many consecutive attempts failed. */
  readonly attempts: number;
  /** The message counts the `attempts`; `options.cause` is the last failure. */
  constructor(attempts: number, options?: ErrorOptions) {
    super(`Gave up on the backbone after ${attempts} failed attempts`, options);
    this.attempts = attempts;
  }
}

/** A message or channel name larger than the backbone can carry. */
export class PayloadTooLargeError extends Error {
  /** Always `"PayloadTooLargeError"`. */
  override name = "PayloadTooLargeError" as const;
  /** Always `"PAYLOAD_TOO_LARGE"`. */
  readonly code = "PAYLOAD_TOO_LARGE" as const;
  /** The size that was refused, in bytes. */
  readonly size: number;
  /** The largest size the backbone accepts, in bytes. */
  readonly limit: number;
  /** `what` names the refused thing (`A message on channel "news"`); `size` and `limit` in bytes. */
  constructor(what: string, size: number, limit: number, options?: ErrorOptions) {
    super(`${what} is ${size} bytes, over the limit of ${limit} bytes`, options);
    this.size = size;
    this.limit = limit;
  }
}

/** The Broadcast was disconnected (or never connected) when it was used. */
export class ClosedError extends Error {
  /** Always `"ClosedError"`. */
  override name = "ClosedError" as const;
  /** Always `"BROADCAST_CLOSED"`. */
  readonly code = "BROADCAST_CLOSED" as const;
  /** `message` may say more than the default: not connected yet, or disconnected while connecting. */
  constructor(message = "The broadcast is closed", options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Whether retrying the same connection attempt could ever succeed: not for
 * bad configuration, a missing backend, refused credentials or permissions,
 * nor for a channel the backbone cannot carry (in history mode on Redis, a
 * key of the channel's name that is not a stream).
 */
export function isFatal(error: unknown): boolean {
  return error instanceof ConfigError ||
    error instanceof ChannelError ||
    error instanceof UnsupportedBackendError ||
    error instanceof AuthenticationError ||
    isPermissionError(error);
}

/**
 * A runtime's refusal of a permission the process was not given (Deno's
 * `NotCapable`, `PermissionDenied`), itself or as the cause of a driver's
 * error (a few levels deep: drivers wrap what the socket threw).
 */
export function isPermissionError(error: unknown): boolean {
  for (let depth = 0; depth < 5 && error !== null && typeof error === "object"; depth++) {
    const name = (error as { name?: unknown }).name;
    if (name === "NotCapable" || name === "PermissionDenied") return true;
    error = (error as { cause?: unknown }).cause;
  }
  return false;
}

/** A channel name the backbone cannot use; `rule` says what it accepts. */
export class ChannelError extends Error {
  /** Always `"ChannelError"`. */
  override name = "ChannelError" as const;
  /** Always `"CHANNEL_INVALID"`. */
  readonly code = "CHANNEL_INVALID" as const;
  /** The channel name that was refused. */
  readonly channel: string;
  /** `rule` is what the backbone accepts, as the message's "Expected …" part. */
  constructor(channel: string, rule: string, options?: ErrorOptions) {
    super(`Invalid channel: Expected ${rule} but received ${JSON.stringify(channel)}`, options);
    this.channel = channel;
  }
}

/** A message the backbone cannot carry as it is: not a string, not well-formed UTF-16, or against its rule. */
export class MessageError extends Error {
  /** Always `"MessageError"`. */
  override name = "MessageError" as const;
  /** Always `"MESSAGE_INVALID"`. */
  readonly code = "MESSAGE_INVALID" as const;
  /** The channel it was published on. */
  readonly channel: string;
  /** `expected` defaults to what every backbone needs: a well-formed string. */
  constructor(
    channel: string,
    received: string,
    expected = "a well-formed string (no lone surrogate, which UTF-8 cannot carry)",
    options?: ErrorOptions,
  ) {
    super(`Invalid message on channel ${JSON.stringify(channel)}: Expected ${expected} but received ${received}`, options);
    this.channel = channel;
  }
}
