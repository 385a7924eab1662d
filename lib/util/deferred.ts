/** A promise with its `resolve` and `reject` at hand. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/**
 * Creates a promise that whoever holds it settles later, such as the answer to
 * a batch of publishes.
 *
 * @example Settled from outside
 * ```ts
 * import { deferred } from "./deferred.ts";
 * const answer = deferred<number>();
 * answer.resolve(42);
 * if (await answer.promise !== 42) throw new Error();
 * ```
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
