/**
 * History mode's option: the one that every backbone takes.
 *
 * History is off by default. It is turned on by the URI parameter
 * `history=<messages>[,<age>]` (say `?history=10000` or `?history=10000,1h`)
 * or by `backendOptions.history` (`10000`, or `{ messages: 10000, maxAge: 3_600_000 }`).
 * The core takes it out of both before the backend reads them, and hands it
 * to the backend as `ConnectorContext.history`. Positions, and their order,
 * are in `position.ts`.
 *
 * @module
 */
import * as v from "valibot";
import { ConfigError, configIssue } from "../contract/errors.ts";
import type { HistoryOptions } from "../contract/link.ts";
import { MAX_MILLISECONDS } from "../contract/config.ts";

/** The URI parameter and the `backendOptions` key that turn history mode on. */
export const HISTORY = "history";

/** The most events a channel's history may keep. */
const MAX_MESSAGES = 1e9;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const HistorySchema = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_MESSAGES)),
  v.strictObject({
    messages: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_MESSAGES)), 10_000),
    maxAge: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_MILLISECONDS))),
  }),
]);

/**
 * Reads the history option from `url` and `settings` (the URI parameter and
 * `backendOptions.history`; both given is an error) and returns it with the
 * URI and settings stripped of it, for the backend. Throws `ConfigError`
 * naming what is wrong.
 */
export function takeHistory(
  url: URL,
  settings: Readonly<Record<string, unknown>>,
): { history: HistoryOptions | undefined; url: URL; settings: Readonly<Record<string, unknown>> } {
  const text = url.searchParams.getAll(HISTORY);
  const fromSettings = settings[HISTORY];
  if (text.length === 0 && fromSettings === undefined) return { history: undefined, url, settings };
  const rest = new URL(url);
  rest.searchParams.delete(HISTORY);
  if (rest.search === "?") rest.search = "";
  const { [HISTORY]: _, ...restSettings } = settings;
  if (text.length > 0 && fromSettings !== undefined) {
    throw new ConfigError([configIssue("option backendOptions.history", "history given once, in the URI or in backendOptions", "both")]);
  }
  const history = text.length > 0 ? historyFromUri(text) : historyFromSettings(fromSettings);
  return { history, url: rest, settings: restSettings };
}

function historyFromUri(values: string[]): HistoryOptions {
  const expected = "history=<messages>[,<age>], such as history=10000 or history=10000,1h (age in ms, s, m, h or d)";
  const match = values.length === 1 ? /^(\d{1,10})(?:,(\d{1,10})(ms|s|m|h|d))?$/.exec(values[0]) : null;
  const messages = Number(match?.[1]);
  const maxAge = match?.[2] === undefined ? undefined : Number(match[2]) * UNITS[match[3]];
  if (match === null || messages < 1 || messages > MAX_MESSAGES || maxAge === 0 || (maxAge ?? 0) > MAX_MILLISECONDS) {
    throw new ConfigError([configIssue("URI parameter history", expected, JSON.stringify(values.join("&")))]);
  }
  return maxAge === undefined ? { messages } : { messages, maxAge };
}

function historyFromSettings(value: unknown): HistoryOptions {
  const parsed = v.safeParse(HistorySchema, value);
  if (!parsed.success) {
    const expected = `a number of messages from 1 to ${MAX_MESSAGES}, or { messages, maxAge } (maxAge in milliseconds)`;
    throw new ConfigError([configIssue("option backendOptions.history", expected, JSON.stringify(value) ?? String(value))]);
  }
  return typeof parsed.output === "number" ? { messages: parsed.output } : parsed.output;
}
