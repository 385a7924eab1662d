/**
 * The flags of the benchmarks, parsed once: the measurement plan that every
 * backbone bench takes (`--messages --runs --rate --seconds --json`), the
 * few strings of its own (a URI, a broker), and `--help`, which prints the
 * flags with their defaults (the file's header says what each measures).
 */
import path from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";

/** The plan's flags. */
export interface PlanFlags {
  messages: number;
  runs: number;
  rate: number;
  seconds: number;
  json: boolean;
}

/** A flag as `node:util`'s parseArgs takes it. */
type Option = { type: "string"; default?: string } | { type: "boolean"; default?: boolean };

/** `usage: tsx bench/<file> [--flag default] …` for `options`. */
export function usage(options: Readonly<Record<string, Option>>): string {
  const file = path.relative(process.cwd(), process.argv[1] ?? "bench");
  const flags = Object.entries(options).map(([name, o]) => o.type === "boolean" ? `[--${name}]` : `[--${name} ${o.default ?? "…"}]`);
  return `usage: tsx ${file} ${flags.join(" ")}`;
}

/**
 * The plan's flags over `plan`'s defaults, and `strings` (each with its
 * default, or undefined for none); `--help` prints the usage and exits.
 */
export function benchFlags<Strings extends Record<string, string | undefined>>(
  plan: Omit<PlanFlags, "json">,
  strings: Strings,
): PlanFlags & Strings {
  const options: Record<string, Option> = {};
  for (const [name, value] of Object.entries({ ...strings, ...plan })) {
    options[name] = value === undefined ? { type: "string" } : { type: "string", default: String(value) };
  }
  options.json = { type: "boolean", default: false };
  // The options are built at run time, so their values are typed here.
  const values: Record<string, string | boolean | undefined> = parseArgs({ options: { ...options, help: { type: "boolean" } } }).values;
  if (values.help) {
    console.log(usage(options));
    process.exit(0);
  }
  const number = (name: keyof typeof plan) => {
    const text = String(values[name]);
    const value = Number(text.replaceAll("_", ""));
    // Counts are whole; a rate or a duration need not be.
    const whole = name === "messages" || name === "runs";
    if (!(value > 0) || (whole && !Number.isInteger(value))) {
      throw new Error(`Invalid --${name}: Expected a positive ${whole ? "integer" : "number"} but received ${JSON.stringify(text)}`);
    }
    return value;
  };
  const given = Object.fromEntries(Object.keys(strings).map((name) => [name, values[name]]));
  return {
    ...given as Strings,
    messages: number("messages"),
    runs: number("runs"),
    rate: number("rate"),
    seconds: number("seconds"),
    json: values.json === true,
  };
}
