/**
 * kafkajs 2.2.4 re-arms a timer every millisecond on every connection that
 * ever had a response, pending requests or not, until the connection is
 * disconnected (upstream issues #1556 and #1704; the fix is not released).
 * That costs a few percent of a core per idle link, and a connection kafkajs
 * drops without disconnecting it keeps its timer, and the process, alive for
 * good. This skips the re-arming when nothing is pending and the connection
 * is not throttled, which is the upstream proposal; with requests pending or
 * a throttle in force kafkajs schedules the check as before. Private to
 * `backends/kafka.ts`.
 *
 * @module
 */
import { createRequire } from "node:module";

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
}

const PATCHED = Symbol.for("streamcast.kafkajsIdleLoop");

/** Applies the fix once to the kafkajs that `kafkajs` resolves to; a kafkajs laid out differently is left alone. */
export function fixKafkajsIdleLoop(): void {
  let prototype: RequestQueue | undefined;
  try {
    const require = createRequire(import.meta.url);
    prototype = require("kafkajs/src/network/requestQueue/index.js")?.prototype;
  } catch {
    return;
  }
  const original = prototype?.scheduleCheckPendingRequests;
  if (prototype === undefined || typeof original !== "function" || PATCHED in original) return;
  const scheduleCheckPendingRequests = function (this: RequestQueue): void {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    original.call(this);
  };
  Object.defineProperty(scheduleCheckPendingRequests, PATCHED, { value: true });
  prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
}
