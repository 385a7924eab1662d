/**
 * A bounded double-ended queue. Pushing onto a full buffer drops the oldest
 * item and returns it; storage grows on demand up to the capacity, so a
 * thousand idle subscribers do not each hold a full-size array.
 */
export class RingBuffer<T> {
  readonly capacity: number;
  #items: (T | undefined)[] = new Array(4);
  #head = 0;
  #length = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`Invalid capacity: Expected an integer >= 0 but received ${capacity}`);
    }
    this.capacity = capacity;
  }

  get length(): number {
    return this.#length;
  }

  /** Appends `item`; when full, drops the oldest and returns it (with capacity 0, `item` itself). */
  push(item: T): T | undefined {
    if (this.capacity === 0) return item;
    let dropped: T | undefined;
    if (this.#length === this.capacity) dropped = this.shift();
    else if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
    return dropped;
  }

  /** Puts `item` before the oldest; when full, drops the newest and returns it. */
  unshift(item: T): T | undefined {
    if (this.capacity === 0) return item;
    let dropped: T | undefined;
    if (this.#length === this.capacity) dropped = this.pop();
    else if (this.#length === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#items.length - 1);
    this.#items[this.#head] = item;
    this.#length++;
    return dropped;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    return item;
  }

  /** The item `index` places from the oldest, or undefined. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    return this.#items[(this.#head + index) & (this.#items.length - 1)];
  }

  /** Removes and returns the newest item. */
  pop(): T | undefined {
    if (this.#length === 0) return undefined;
    const index = (this.#head + this.#length - 1) & (this.#items.length - 1);
    const item = this.#items[index];
    this.#items[index] = undefined;
    this.#length--;
    return item;
  }

  /** Removes every item and returns them, oldest first. */
  drain(): T[] {
    const out: T[] = new Array(this.#length);
    for (let i = 0; i < out.length; i++) out[i] = this.shift()!;
    return out;
  }

  /** Removes every item and releases the storage. */
  clear(): void {
    this.#items = new Array(4);
    this.#head = 0;
    this.#length = 0;
  }

  #grow(): void {
    const size = this.#items.length;
    const next: (T | undefined)[] = new Array(size * 2);
    for (let i = 0; i < this.#length; i++) next[i] = this.#items[(this.#head + i) & (size - 1)];
    this.#items = next;
    this.#head = 0;
  }
}
