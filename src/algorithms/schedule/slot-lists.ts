/**
 * Items filed by calendar slot: one intrusive doubly-linked list per slot, over fixed arrays
 * (an item is in at most one list), so filing and unfiling allocate nothing.
 * @module
 */

/** Lists of items by slot; the slack schedule keeps two (by first deadline, by next due job). */
export class SlotLists {
  private heads = new Int32Array(0);
  private readonly after: Int32Array;
  private readonly before: Int32Array;

  constructor(items: number) {
    this.after = new Int32Array(items);
    this.before = new Int32Array(items);
  }

  /** Empties every list, for `slots` slots. */
  reset(slots: number): void {
    if (this.heads.length < slots) this.heads = new Int32Array(slots);
    this.heads.fill(-1, 0, slots);
  }

  /** The first item of the slot's list, -1 when empty. */
  first(slot: number): number {
    return this.heads[slot]!;
  }

  /** The item after `item` in its list, -1 at the end. */
  next(item: number): number {
    return this.after[item]!;
  }

  add(item: number, slot: number): void {
    const head = this.heads[slot]!;
    this.after[item] = head;
    this.before[item] = -1;
    if (head >= 0) this.before[head] = item;
    this.heads[slot] = item;
  }

  /** Takes `item` out of the list of `slot`, where it must be. */
  remove(item: number, slot: number): void {
    const previous = this.before[item]!;
    const following = this.after[item]!;
    if (previous >= 0) this.after[previous] = following;
    else this.heads[slot] = following;
    if (following >= 0) this.before[following] = previous;
  }
}
