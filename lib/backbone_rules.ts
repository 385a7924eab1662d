/**
 * What the core knows of a backbone without loading its driver: the package
 * the backend needs, which channel names it accepts, and how large a message
 * may be. Each backend states its rules in a small driver-free file of its
 * own (`backends/_<name>_rules.ts`), which the scheme table imports.
 *
 * @module
 */

/** A problem with one part of a URI, e.g. `parameter sslmode`, `database`. */
export interface UriProblem {
  /** The part, as the message names it after the URI's name: `parameter sslmode`. */
  readonly part: string;
  readonly expected: string;
  /** As printed: never a password. */
  readonly received: string;
}

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
  /** What is wrong with a URI of this scheme beyond its scheme (parameters, names); nothing when absent. */
  readonly uri?: (url: URL) => readonly UriProblem[];
  /** The largest message in UTF-8 bytes under the backend's settings; no limit when absent. */
  readonly messageLimit?: (settings: Readonly<Record<string, unknown>>) => number;
}
