/**
 * Call figures kept in rows of flat arrays: one row per subset (the split's counters), or one
 * per (method, subset) (the per-method figures). Every kind of figure has the same meaning in
 * every table, so the rows of one subset's methods add up to the subset's row exactly.
 * @internal
 * @module
 */
import { LATENCY_BUCKETS, latencyHistogram, latencyQuantile } from './latency.js';

/** gRPC status codes 0..16; anything else is counted as UNKNOWN (2). */
export const CODE_COUNT = 17;
const UNKNOWN_CODE = 2;

/** Where a status code is counted in a row's codes. */
export function codeSlot(code: number): number {
  return code >= 0 && code < CODE_COUNT ? code : UNKNOWN_CODE;
}

/**
 * The arrays of a table of figures, or of a copy of one (a mark): row `r` at `[r]`, its codes at
 * `[r * CODE_COUNT + code]`, its latency histogram at `[r * LATENCY_BUCKETS + bucket]`. A copy
 * taken before the table grew is shorter: the rows it lacks were all zero then.
 */
export interface FigureRows {
  readonly started: Float64Array;
  readonly finished: Float64Array;
  readonly abandoned: Float64Array;
  readonly refused: Float64Array;
  readonly rebalanced: Float64Array;
  readonly codes: Float64Array;
  readonly notStarted: Float64Array;
  readonly latency: Float64Array;
}

/** One row's figures, cumulative or since a copy. */
export interface RowFigures {
  started: number;
  finished: number;
  abandoned: number;
  refused: number;
  rebalanced: number;
  codes: Map<number, number>;
  notStarted: Map<number, number>;
  latencyMs: { p50: number | null; p90: number | null; p99: number | null };
  latencyHistogram: [ms: number, count: number][];
}

/** Row `row` of `now`, minus its value in `then` when given. */
export function rowFigures(now: FigureRows, then: FigureRows | null, row: number): RowFigures {
  const minus = (a: Float64Array, b: Float64Array | undefined) => a[row]! - (b?.[row] ?? 0);
  let latency: ArrayLike<number> = now.latency;
  let offset = row * LATENCY_BUCKETS;
  if (then !== null) {
    const window = new Float64Array(LATENCY_BUCKETS);
    for (let b = 0; b < LATENCY_BUCKETS; b++) window[b] = now.latency[offset + b]! - (then.latency[offset + b] ?? 0);
    latency = window;
    offset = 0;
  }
  return {
    started: minus(now.started, then?.started),
    finished: minus(now.finished, then?.finished),
    abandoned: minus(now.abandoned, then?.abandoned),
    refused: minus(now.refused, then?.refused),
    rebalanced: minus(now.rebalanced, then?.rebalanced),
    codes: codeCounts(now.codes, then?.codes, row),
    notStarted: codeCounts(now.notStarted, then?.notStarted, row),
    latencyMs: {
      p50: latencyQuantile(latency, offset, 0.5),
      p90: latencyQuantile(latency, offset, 0.9),
      p99: latencyQuantile(latency, offset, 0.99),
    },
    latencyHistogram: latencyHistogram(latency, offset),
  };
}

/** Attempts of row `row` started and not counted yet (cumulative: a gauge, never a difference). */
export function rowInFlight(rows: FigureRows, row: number): number {
  return rows.started[row]! - rows.finished[row]! - rows.abandoned[row]! - rows.refused[row]! - rows.rebalanced[row]!;
}

/** The non-zero counts of row `row` of a `[row * 17 + code]` table, minus a copy's. */
export function codeCounts(now: Float64Array, then: Float64Array | undefined, row: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let code = 0; code < CODE_COUNT; code++) {
    const i = row * CODE_COUNT + code;
    const n = now[i]! - (then?.[i] ?? 0);
    if (n > 0) counts.set(code, n);
  }
  return counts;
}

/** A table of `rows` rows of figures that can grow; its arrays are replaced when it does. */
export class FigureTable implements FigureRows {
  started: Float64Array;
  finished: Float64Array;
  abandoned: Float64Array;
  refused: Float64Array;
  rebalanced: Float64Array;
  codes: Float64Array;
  notStarted: Float64Array;
  latency: Float64Array;

  constructor(public rows: number) {
    this.started = new Float64Array(rows);
    this.finished = new Float64Array(rows);
    this.abandoned = new Float64Array(rows);
    this.refused = new Float64Array(rows);
    this.rebalanced = new Float64Array(rows);
    this.codes = new Float64Array(rows * CODE_COUNT);
    this.notStarted = new Float64Array(rows * CODE_COUNT);
    this.latency = new Float64Array(rows * LATENCY_BUCKETS);
  }

  /** Makes room for `rows` rows, keeping every count. */
  grow(rows: number): void {
    if (rows <= this.rows) return;
    const wider = (old: Float64Array, perRow: number) => {
      const array = new Float64Array(rows * perRow);
      array.set(old);
      return array;
    };
    this.started = wider(this.started, 1);
    this.finished = wider(this.finished, 1);
    this.abandoned = wider(this.abandoned, 1);
    this.refused = wider(this.refused, 1);
    this.rebalanced = wider(this.rebalanced, 1);
    this.codes = wider(this.codes, CODE_COUNT);
    this.notStarted = wider(this.notStarted, CODE_COUNT);
    this.latency = wider(this.latency, LATENCY_BUCKETS);
    this.rows = rows;
  }

  /** A frozen copy of every count now. */
  copy(): FigureRows {
    return Object.freeze({
      started: this.started.slice(),
      finished: this.finished.slice(),
      abandoned: this.abandoned.slice(),
      refused: this.refused.slice(),
      rebalanced: this.rebalanced.slice(),
      codes: this.codes.slice(),
      notStarted: this.notStarted.slice(),
      latency: this.latency.slice(),
    });
  }
}
