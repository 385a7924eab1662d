/**
 * What the core knows of a backbone without loading its driver: the package
 * the backend needs, which channel names it accepts, how large a message may
 * be, and which URI parts and settings it reads. Each backend states its rules
 * in a small driver-free file of its own (`backends/_<name>_rules.ts`), which
 * the scheme table imports.
 *
 * @module
 */
import { configIssue, type ConfigIssue } from "./errors.ts";

/** A backbone's rules, checked by the core before anything reaches a link. */
export interface BackboneRules {
  /** The npm package the backend needs, named in the error when it is missing. */
  readonly driver?: string;
  /** Which channel names the backbone accepts; any non-empty string when absent. */
  readonly channel?: {
    readonly test: (channel: string) => boolean;
    /** The rule in words, for `ChannelError`. */
    readonly rule: string;
  };
  /** The largest message in UTF-8 bytes under the backend's settings; no limit when absent. */
  readonly messageLimit?: (settings: Readonly<Record<string, unknown>>) => number;
  /**
   * Every problem with the URI's backend-specific parts (path, parameters) and
   * with `backendOptions` that can be seen without connecting: unknown keys
   * and parameters included, so that a typo is loud when the Broadcast is made.
   */
  readonly validate: (url: URL, settings: Readonly<Record<string, unknown>>) => ConfigIssue[];
}

/** An issue for each query parameter of `url` that is not in `known`. */
export function unknownParameters(url: URL, known: readonly string[]): ConfigIssue[] {
  const expected = known.length === 0 ? "no parameters" : `one of ${known.join(", ")}`;
  return [...new Set(url.searchParams.keys())]
    .filter((key) => !known.includes(key))
    .map((key) => configIssue(`URI parameter ${JSON.stringify(key)}`, expected, "an unknown parameter"));
}
