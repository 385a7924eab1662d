/**
 * What the core knows of a backbone without loading its driver: the package
 * the backend needs, which channel names it accepts, how large a message may
 * be, and which URI parts and settings it reads. Each backend states its rules
 * in a small driver-free file of its own (`backends/<name>/rules.ts`), which
 * the scheme table imports.
 *
 * @module
 */
import * as v from "valibot";
import type { ConfigIssue } from "./errors.ts";
import { toConfigIssues } from "./config.ts";

/** A problem with one part of a URI, e.g. `parameter sslmode`, `database`. */
export interface UriProblem {
  /** The part, as the message names it after the URI's name: `parameter sslmode`; "" for the whole URI. */
  readonly part: string;
  readonly expected: string;
  /** As printed: never a password. */
  readonly received: string;
}

/** A backbone's rules, checked by the core before anything reaches a link. */
export interface BackboneRules {
  /**
   * The npm package the backend needs, a Node driver: named, with the
   * runtimes it runs on, in the error when the backend cannot be loaded.
   */
  readonly driver?: string;
  /** Which channel names the backbone accepts; any non-empty string when absent. */
  readonly channel?: {
    readonly test: (channel: string) => boolean;
    /** The rule in words, for `ChannelError`. */
    readonly rule: string;
  };
  /**
   * What is wrong with a URI of this scheme beyond its scheme (path,
   * parameters, names), seen without connecting: an unknown parameter
   * included, so that a typo is loud when the Broadcast is made.
   */
  readonly uri: (url: URL) => UriProblem[];
  /** What is wrong with `backendOptions`, unknown keys included. */
  readonly settings: (settings: Readonly<Record<string, unknown>>) => ConfigIssue[];
  /** Which messages the backbone can carry beyond well-formed strings; any when absent. */
  readonly message?: {
    readonly test: (message: string) => boolean;
    /** The rule in words, for `MessageError`. */
    readonly rule: string;
    /** What a message that breaks it holds, in words. */
    readonly breach: string;
  };
  /** The largest message in UTF-8 bytes under the backend's settings; no limit when absent. */
  readonly messageLimit?: (settings: Readonly<Record<string, unknown>>) => number;
}

/** A problem for each query parameter of `url` that is not in `known`. */
export function unknownParameters(url: URL, known: readonly string[]): UriProblem[] {
  const expected = known.length === 0 ? "no parameters" : `one of ${known.join(", ")}`;
  return [...new Set(url.searchParams.keys())]
    .filter((key) => !known.includes(key))
    .map((key) => ({ part: "parameter", expected, received: JSON.stringify(key) }));
}

/** The issues of a settings schema, each named `option backendOptions.<key>`. */
export function settingsIssues(schema: v.GenericSchema, settings: Readonly<Record<string, unknown>>): ConfigIssue[] {
  const parsed = v.safeParse(schema, settings);
  return parsed.success ? [] : toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`);
}

/** Whether `text` percent-decodes. */
export function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
