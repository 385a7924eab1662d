/**
 * kafkajs 2.2.4 re-arms a timer every millisecond on every connection that
 * ever had a response, pending requests or not, until the connection is
 * disconnected (upstream issues #1556 and #1704; the fix is not released).
 * That costs a few percent of a core per idle link, and a connection kafkajs
 * drops without disconnecting it keeps its timer, and the process, alive for
 * good. This skips the re-arming when nothing is pending and the connection
 * is not throttled, which is the upstream proposal; with requests pending or
 * a throttle in force kafkajs schedules the check as before.
 *
 * Nothing happens on import: the Kafka backend applies the fix when it builds
 * its first connector, and only to the kafkajs release it was checked against.
 * Private to `backends/kafka/mod.ts` (and the Kafka benchmark).
 *
 * @module
 */
import { createRequire } from "node:module";

/** The only kafkajs release whose `RequestQueue` the fix was checked against. */
export const CHECKED_KAFKAJS_VERSION = "2.2.4";

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
}

const PATCHED = Symbol.for("streamcast.kafkajsIdleLoop");

/**
 * Applies the fix, once, to the kafkajs that `kafkajs` resolves to; returns
 * whether it is in force. Another kafkajs version, or one laid out
 * differently, is left alone.
 */
export function fixKafkajsIdleLoop(): boolean {
  const kafkajs = requestQueue();
  if (kafkajs === undefined || kafkajs.version !== CHECKED_KAFKAJS_VERSION) return false;
  const { prototype } = kafkajs;
  const original = prototype.scheduleCheckPendingRequests;
  if (PATCHED in original) return true;
  const scheduleCheckPendingRequests = function (this: RequestQueue): void {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    original.call(this);
  };
  Object.defineProperty(scheduleCheckPendingRequests, PATCHED, { value: true });
  prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  return true;
}

/** Whether the fix is in force in the kafkajs that `kafkajs` resolves to. */
export function kafkajsIdleLoopFixed(): boolean {
  const method = requestQueue()?.prototype.scheduleCheckPendingRequests;
  return method !== undefined && PATCHED in method;
}

/** kafkajs's version and `RequestQueue` prototype; undefined when either cannot be found. */
function requestQueue(): { version: string; prototype: RequestQueue } | undefined {
  try {
    const require = createRequire(import.meta.url);
    const version: unknown = require("kafkajs/package.json")?.version;
    const prototype: RequestQueue | undefined = require("kafkajs/src/network/requestQueue/index.js")?.prototype;
    if (typeof version !== "string" || typeof prototype?.scheduleCheckPendingRequests !== "function") return undefined;
    return { version, prototype };
  } catch {
    return undefined;
  }
}
