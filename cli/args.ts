/**
 * Command-line parsing shared by the subcommands: `node:util` parseArgs for the
 * grammar, valibot for the values, and one error class for every misuse, so
 * the dispatcher can print one line and exit 2.
 */
import { parseArgs } from "node:util";
import * as v from "valibot";

/** A misused command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError" as const;
  readonly code = "USAGE" as const;
}

/**
 * One option: a flag, or a string whose text a valibot schema turns into a
 * value; a `multiple` string may be given several times, and its value is the
 * list of what each gave.
 */
export type OptionSpec =
  | { type: "boolean"; short?: string }
  | { type: "string"; short?: string; multiple?: boolean; schema: v.GenericSchema<string, unknown>; expected: string };

/** What a subcommand accepts. */
export type CommandSpec = Record<string, OptionSpec>;

/** The parsed command line: option values by name (absent when not given) and the positionals. */
export interface Parsed {
  values: Record<string, unknown>;
  positionals: string[];
}

/** A decimal integer in `[min, max]`, from its text (`1_000` allowed). */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): v.GenericSchema<string, number> {
  return v.pipe(
    v.string(),
    v.regex(/^-?\d[\d_]*$/),
    v.transform((text) => Number(text.replaceAll("_", ""))),
    v.minValue(min),
    v.maxValue(max),
  );
}

/** `an integer >= min` or `an integer from min to max`, for error messages. */
export function describeInteger(min: number, max?: number): string {
  return max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
}

/** Any non-empty text. */
export const text: v.GenericSchema<string, string> = v.pipe(v.string(), v.minLength(1));

/**
 * Parses `argv` against `spec` (plus `--help`/`-h`). Throws `UsageError` for
 * an unknown option, a missing value, or a value its schema refuses, naming
 * the option, what was expected and what was received.
 */
export function parseCommand(argv: string[], spec: CommandSpec): Parsed {
  const options = Object.fromEntries(
    Object.entries({ ...spec, help: { type: "boolean", short: "h" } as OptionSpec })
      .map(([name, o]) => [name, { type: o.type, ...o.short ? { short: o.short } : {}, ...o.type === "string" && o.multiple ? { multiple: true } : {} }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: joinValues(argv, spec), options, strict: true, allowPositionals: true });
  } catch (error) {
    throw grammarError(error, spec);
  }
  const values: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(parsed.values)) {
    const option = spec[name];
    if (option?.type !== "string") {
      values[name] = raw;
      continue;
    }
    const each = (one: string) => {
      const result = v.safeParse(option.schema, one);
      if (!result.success) throw invalid(`--${name}`, option.expected, JSON.stringify(one));
      return result.output;
    };
    values[name] = Array.isArray(raw) ? raw.map((one) => each(String(one))) : each(String(raw));
  }
  return { values, positionals: parsed.positionals };
}

/** `Invalid NAME: Expected X but received Y`, valibot's one template. */
export function invalid(name: string, expected: string, received: string): UsageError {
  return new UsageError(`Invalid ${name}: Expected ${expected} but received ${received}`);
}

// `--size -1` (or `-s -1`) would be refused by parseArgs as ambiguous before
// the schema could say what is wrong with -1: glue a string option to its
// value first, under its long name.
function joinValues(argv: string[], spec: CommandSpec): string[] {
  const longName = (arg: string) =>
    arg.startsWith("--")
      ? arg.slice(2)
      : Object.keys(spec).find((key) => arg.length === 2 && spec[key].short === arg.slice(1));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") return [...out, ...argv.slice(i)];
    const name = arg.startsWith("-") ? longName(arg) : undefined;
    const next = argv[i + 1];
    if (name && spec[name]?.type === "string" && next !== undefined && !next.startsWith("--")) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

function grammarError(error: unknown, spec: CommandSpec): unknown {
  const { code, message } = error as { code?: string; message: string };
  // parseArgs names an option with a short form as '-h, --help': report the long one.
  const name = /'(?:-\w, )?(--?[^' ,]+)/.exec(message)?.[1] ?? "option";
  const known = [...Object.keys(spec), "help"].map((key) => `--${key}`).join(", ");
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return invalid("option", `one of ${known}`, JSON.stringify(name));
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const option = spec[name.replace(/^-+/, "")];
    if (option?.type === "string") return invalid(name, option.expected, "nothing");
    return invalid(name, "no value (it is a flag)", "a value");
  }
  return error;
}
