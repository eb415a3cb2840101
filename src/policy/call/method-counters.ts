/**
 * The per-method figures of a split: the same figures as its subsets' (counters.ts), in one row
 * per (method, subset), counted by the same hooks at the same moments, so a subset's methods add
 * up to the subset exactly. Which methods are named is bounded (method-names.ts). A call's
 * method is resolved to its slot once, and cached on its context; counting is then array
 * increments, as for the subsets.
 * @module
 */
import {
  FigureTable,
  rowFigures,
  rowInFlight,
  type FigureRows,
  type RowFigures,
} from '../../algorithms/figure-rows.js';
import { MethodNames, type MethodFiguresSettings } from '../../algorithms/method-names.js';
import type { CallContext } from './call-context.js';

/** Slots made room for at first (the table grows by doubling up to the bound). */
const FIRST_SLOTS = 8;

export class MethodCounters {
  readonly names: MethodNames;
  /** Row `slot * subsetCount + subset`. */
  readonly table: FigureTable;

  constructor(
    settings: MethodFiguresSettings,
    readonly subsetCount: number,
  ) {
    this.names = new MethodNames(settings.methods, settings.limit);
    this.table = new FigureTable(Math.min(this.names.maxSlots, FIRST_SLOTS + this.names.names.length) * subsetCount);
  }

  /** The slot of the call of `context` (`unknown` without one); cached on the context. */
  slotOf(context: CallContext | undefined): number {
    if (context === undefined) return this.room(this.names.slotOf(''));
    if (context.methodTable === this) return context.methodSlot;
    const slot = this.room(this.names.slotOf(context.method));
    context.methodTable = this;
    context.methodSlot = slot;
    return slot;
  }

  /** `slot`, once the table has its rows. */
  private room(slot: number): number {
    const rows = (slot + 1) * this.subsetCount;
    if (rows > this.table.rows)
      this.table.grow(Math.min(this.names.maxSlots * this.subsetCount, Math.max(rows, this.table.rows * 2)));
    return slot;
  }

  /** The row of (`slot`, `subset`). */
  row(slot: number, subset: number): number {
    return slot * this.subsetCount + subset;
  }

  /** Figures of `slot`'s calls on `subset`, cumulative or since `since` (a copy of the table). */
  figures(slot: number, subset: number, since: FigureRows | null): RowFigures {
    return rowFigures(this.table, since, this.row(slot, subset));
  }

  inFlight(slot: number, subset: number): number {
    return rowInFlight(this.table, this.row(slot, subset));
  }
}
