/**
 * The helpers behind every configuration error: valibot issues turned into
 * `ConfigIssue`s that name the option, the refusal of a value that is not an
 * object, and the range of a time in milliseconds. The core's options, the
 * backends' settings and the SSE handler's options all read through them.
 *
 * @module
 */
import * as v from "valibot";
import { type ConfigIssue, ConfigError, configIssue } from "./errors.ts";

/**
 * The longest time an option may hold, in milliseconds (about 24.8 days):
 * runtimes keep timers in a signed 32-bit integer and fire a longer one after 1 ms.
 */
export const MAX_MILLISECONDS = 2 ** 31 - 1;

/** A time in milliseconds from `min` to {@linkcode MAX_MILLISECONDS}. */
export function milliseconds(min: number) {
  const expected = `a finite number of milliseconds from ${min} to at most ${MAX_MILLISECONDS}`;
  return v.pipe(
    v.number(),
    v.check(
      (input) => Number.isFinite(input) && input >= min && input <= MAX_MILLISECONDS,
      (issue) => `Expected ${expected} but received ${issue.received}`,
    ),
  );
}
/** What valibot's checks that carry no `expected` (it is null) expect, in words. */
const WITHOUT_EXPECTED: Readonly<Record<string, string>> = {
  integer: "an integer",
  finite: "a finite number",
  safe_integer: "a safe integer",
  regex: "a matching string",
  custom: "a valid value",
  check: "a valid value",
};

/** Turns valibot issues into config issues, naming each place with `name`. */
export function toConfigIssues(
  issues: readonly v.BaseIssue<unknown>[],
  name: (path: string) => string,
): ConfigIssue[] {
  return issues.map((issue) => {
    const path = name(v.getDotPath(issue) ?? "value");
    // Our own messages already read "Expected … but received …"; valibot's get the same shape.
    const detail = issue.message.startsWith("Expected ")
      ? issue.message
      : `Expected ${issue.expected === "never" ? "no such key" : issue.expected ?? WITHOUT_EXPECTED[issue.type] ?? issue.type} but received ${issue.received}`;
    const [, expected = String(issue.expected), received = issue.received] = /^Expected (.*) but received (.*)$/s.exec(detail) ?? [];
    return { path, expected, received, message: `Invalid ${path}: ${detail}` };
  });
}

/** Throws a `ConfigError` naming `name` unless `value` is a plain object (not null, not an array). */
export function notAnObject(value: unknown, name: string): void {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return;
  const received = Array.isArray(value) ? "an array" : value === null ? "null" : typeof value;
  throw new ConfigError([configIssue(name, "an object", received)]);
}
