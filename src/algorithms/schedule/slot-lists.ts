/**
 * Items filed by calendar slot: one intrusive stack per slot over fixed arrays (an item is in at
 * most one), so filing and taking allocate nothing.
 * @module
 */

/** Stacks of items by slot; the plan keeps its release, deadline and overflow lists in one. */
export class SlotLists {
  private heads = new Int32Array(0);
  private readonly after: Int32Array;

  constructor(items: number) {
    this.after = new Int32Array(items);
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

  /** The item after `item` in its list, -1 at the end (still readable after `takeAll`). */
  next(item: number): number {
    return this.after[item]!;
  }

  add(item: number, slot: number): void {
    this.after[item] = this.heads[slot]!;
    this.heads[slot] = item;
  }

  /** Takes the first item of the slot's list, which must not be empty. */
  takeFirst(slot: number): number {
    const item = this.heads[slot]!;
    this.heads[slot] = this.after[item]!;
    return item;
  }

  /** Empties the slot's list and returns its first item: walk the rest with `next` before adding any. */
  takeAll(slot: number): number {
    const item = this.heads[slot]!;
    this.heads[slot] = -1;
    return item;
  }

  /** Takes `item` out of the slot's list, where it must be: O(length of the list). */
  remove(item: number, slot: number): void {
    if (this.heads[slot] === item) {
      this.heads[slot] = this.after[item]!;
      return;
    }
    let before = this.heads[slot]!;
    while (this.after[before] !== item) before = this.after[before]!;
    this.after[before] = this.after[item]!;
  }
}
