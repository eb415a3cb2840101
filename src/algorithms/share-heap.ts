/**
 * The binary heap behind the weighted schedule's EEVDF (three or more items).
 * @module
 */

/**
 * A binary min-heap of item indices keyed by `(credits[i] + offset) / weights[i]`, ties to the
 * lower index. Offset 0 orders by virtual start, offset W by virtual deadline. An item's key is
 * computed when it is pushed; an item's credit only changes while it is in neither heap, or
 * every credit together, with `shift` applied to the keys.
 */
export class ShareHeap {
  private readonly items: Int32Array;
  /** Key of each item, by item index. */
  private readonly keys: Float64Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly credits: Float64Array,
    private readonly weights: Float64Array,
  ) {
    this.items = new Int32Array(capacity);
    this.keys = new Float64Array(capacity);
  }

  top(): number {
    return this.items[0]!;
  }

  /** Subtracts `delta` from every key: the order stays. */
  shift(delta: number): void {
    for (let k = 0; k < this.size; k++) this.keys[this.items[k]!]! -= delta;
  }

  push(item: number, offset: number): void {
    const { items, keys } = this;
    const key = (this.credits[item]! + offset) / this.weights[item]!;
    keys[item] = key;
    let k = this.size++;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      const other = items[parent]!;
      const otherKey = keys[other]!;
      if (key > otherKey || (key === otherKey && item > other)) break;
      items[k] = other;
      k = parent;
    }
    items[k] = item;
  }

  pop(): number {
    const { items, keys } = this;
    const top = items[0]!;
    const last = items[--this.size]!;
    const lastKey = keys[last]!;
    const size = this.size;
    let k = 0;
    for (;;) {
      let child = 2 * k + 1;
      if (child >= size) break;
      let childItem = items[child]!;
      let childKey = keys[childItem]!;
      if (child + 1 < size) {
        const right = items[child + 1]!;
        const rightKey = keys[right]!;
        if (rightKey < childKey || (rightKey === childKey && right < childItem)) {
          child++;
          childItem = right;
          childKey = rightKey;
        }
      }
      if (lastKey < childKey || (lastKey === childKey && last < childItem)) break;
      items[k] = childItem;
      k = child;
    }
    if (size > 0) items[k] = last;
    return top;
  }
}
