/** Reading the SSE handler's streams in tests: events with their ids, and a client that waits for `ready`. */
import assert from "node:assert/strict";
import type { SseHandler } from "../lib/sse.ts";
import { eventually } from "./_support.ts";

const text = new TextDecoder();

/** An SSE stream read as events, `comments` counted apart. */
export class EventReader {
  readonly events: { event: string; data: string; id?: string }[] = [];
  chunks = 0;
  comments = 0;
  ended = false;
  #buffer = "";
  readonly done: Promise<void>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(body: ReadableStream<Uint8Array>) {
    const reader = this.#reader = body.getReader();
    this.done = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.chunks++;
          this.#take(text.decode(value, { stream: true }));
        }
      } catch {
        // Cut off: counted as ended.
      }
      this.ended = true;
    })();
  }

  #take(more: string): void {
    this.#buffer += more;
    let end;
    while ((end = this.#buffer.indexOf("\n\n")) >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const fields = Object.fromEntries(block.split("\n").filter((line) => !line.startsWith(":")).map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
      if (block.split("\n").some((line) => line.startsWith(": keep-alive"))) this.comments++;
      if (fields.event !== undefined) this.events.push({ event: fields.event, data: fields.data, ...fields.id !== undefined && { id: fields.id } });
    }
  }

  /** Goes away, as a closed page does. */
  async cancel(): Promise<void> {
    await this.#reader.cancel();
    await this.done;
  }

  /** The id the last event with one carried: what an EventSource sends back as Last-Event-ID. */
  lastEventId(): string | undefined {
    return this.events.findLast((e) => e.id !== undefined)?.id;
  }

  messages(): string[] {
    return this.events.filter((e) => e.event === "message").map((e) => JSON.parse(e.data).message);
  }

  async ready(): Promise<void> {
    await eventually(() => this.events.some((e) => e.event === "ready"), 5_000, "the ready event");
  }
}

/** A client of `channels`, read once its `ready` event came; `headers` such as Last-Event-ID. */
export async function open(sse: SseHandler, channels: string[], origin = "http://localhost", headers: HeadersInit = {}): Promise<EventReader> {
  const response = await sse.fetch(new Request(`${origin}/subscribe?${channels.map((c) => `channel=${encodeURIComponent(c)}`).join("&")}`, { headers }));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = new EventReader(response.body!);
  await reader.ready();
  return reader;
}

