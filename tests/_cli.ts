/**
 * Helpers for the command-line tests: run `streamcast` as a user does, from
 * the repository root, as a child process whose real stdout and stderr the
 * test reads.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import type { TestContext } from "node:test";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The command that runs cli/main.ts from the sources: this Node, with tsx. */
const COMMAND = [process.execPath, "--import", "tsx", "cli/main.ts"];

/** The environment without the OPAL_ variables of whoever runs the tests, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("OPAL_") && key !== "UVICORN_NUM_WORKERS") env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Every process started and not yet ended, so none outlives a failed test. */
const running = new Set<Cli>();

/**
 * Kills (SIGKILL) every `streamcast` process still running and waits for them
 * to end: for an `after` hook, so a test that failed half-way leaves no child
 * retrying forever to keep `node --test` from exiting.
 */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((cli) => {
    cli.kill("SIGKILL");
    return cli.exited;
  }));
}

/** A running `streamcast` process and what it has printed so far. */
export class Cli {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  readonly #started = performance.now();
  #waiters = new Set<() => void>();

  constructor(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
    const [bin, ...prefix] = COMMAND;
    this.child = spawn(bin, [...prefix, ...args], { cwd: ROOT, env: options.env ?? cleanEnv(), stdio: "pipe" });
    this.child.stdout!.setEncoding("utf8").on("data", (text: string) => this.#add("stdout", text));
    this.child.stderr!.setEncoding("utf8").on("data", (text: string) => this.#add("stderr", text));
    this.exited = new Promise((resolve) => this.child.once("close", (code, signal) => resolve(code ?? signal ?? "?")));
    running.add(this);
    void this.exited.then(() => running.delete(this));
    if (options.input !== undefined) this.child.stdin!.end(options.input);
  }

  /** Milliseconds since the process started. */
  get elapsed(): number {
    return performance.now() - this.#started;
  }

  /** The complete lines printed on stdout so far. */
  get lines(): string[] {
    return this.stdout.split("\n").slice(0, -1);
  }

  /** Waits until `test` holds for the output printed so far; fails after `ms`, showing the output. */
  async until(what: string, test: (cli: Cli) => boolean, ms = 10_000): Promise<void> {
    const deadline = performance.now() + ms;
    while (!test(this)) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}\n--- stdout\n${this.stdout}--- stderr\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 200));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
  }

  /** Sends `signal` to this process (by its own pid), unless it has already ended. */
  kill(signal: NodeJS.Signals = "SIGINT"): void {
    if (running.has(this)) this.child.kill(signal);
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return running.has(this);
  }

  #add(stream: "stdout" | "stderr", text: string): void {
    this[stream] += text;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }
}

/** The result of a finished run. */
export interface Finished {
  code: number | string;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `streamcast args…` to the end; kills it and fails after `ms`. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; input?: string; ms?: number } = {},
): Promise<Finished> {
  const cli = new Cli(args, options);
  const ms = options.ms ?? 20_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms));
  const code = await Promise.race([cli.exited, timeout]);
  clearTimeout(timer);
  if (code === "timeout") {
    cli.kill("SIGKILL");
    await cli.exited;
    throw new Error(`streamcast ${args.join(" ")} still running after ${ms} ms\n--- stdout\n${cli.stdout}--- stderr\n${cli.stderr}`);
  }
  return { code, stdout: cli.stdout, stderr: cli.stderr, ms: cli.elapsed };
}

/** Starts `streamcast args…`, killed (SIGKILL) when the test ends, pass or fail. */
export function start(t: TestContext, args: string[], options?: { env?: Record<string, string> }): Cli {
  const cli = new Cli(args, options);
  t.after(() => cli.kill("SIGKILL"));
  return cli;
}

/** Every line of `text` parsed as JSON; fails on a line that is not. */
export function jsonLines(text: string): unknown[] {
  return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

/** Asserts a usage failure: exit 2, nothing on stdout, one line on stderr matching `pattern`. */
export function assertUsageError(result: { code: number | string; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, "");
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line, got: ${result.stderr}`);
  assert.match(lines[0], pattern);
}
