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

/** How an answered attempt is counted besides `finished`, `codes` and `latency`. */
export const enum AnswerKind {
  /** A unary call, or a call the split's pipeline never saw (it cannot tell a stream). */
  Unary = 0,
  /** A stream that delivered no message. */
  Stream = 1,
  /** A stream that delivered at least one message. */
  StreamAfterMessage = 2,
}

/**
 * The figures of streaming calls, in rows like the rest of the table: `finished` at `[r]`,
 * `afterMessage` at `[r * CODE_COUNT + code]`, the histograms at `[r * LATENCY_BUCKETS + bucket]`.
 * Made at the table's first stream, so a split of unary calls never pays for them.
 */
export interface StreamRows {
  /** Answered attempts of streams (a part of `finished`). */
  readonly finished: Float64Array;
  /** Of those, the ones that had delivered a message, by code. */
  readonly afterMessage: Float64Array;
  readonly firstMessage: Float64Array;
  readonly gaps: Float64Array;
  /** The streams' part of `latency` (their lifetimes): the rest of it is the unary latency. */
  readonly lifetimes: Float64Array;
}

/**
 * The arrays of a table of figures, or of a copy of one (a mark): row `r` at `[r]`, its codes at
 * `[r * CODE_COUNT + code]`, its latency histogram at `[r * LATENCY_BUCKETS + bucket]`. A copy
 * taken before the table grew is shorter: the rows it lacks were all zero then; so were the
 * stream figures of a copy whose `streams` is null.
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
  readonly streams: StreamRows | null;
}

/** Quantiles of a histogram in milliseconds, null before any sample. */
export interface Quantiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** One row's stream figures (`StreamStats` names them by status code). */
export interface StreamFigures {
  finished: number;
  codesAfterFirstMessage: Map<number, number>;
  firstMessageMs: Quantiles;
  firstMessageHistogram: [ms: number, count: number][];
  gapMs: Quantiles;
  gapHistogram: [ms: number, count: number][];
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
  latencyMs: Quantiles;
  latencyHistogram: [ms: number, count: number][];
  unaryLatencyMs: Quantiles;
  unaryLatencyHistogram: [ms: number, count: number][];
  streams: StreamFigures;
}

/** Row `row` of `now`, minus its value in `then` when given. */
export function rowFigures(now: FigureRows, then: FigureRows | null, row: number): RowFigures {
  const minus = (a: Float64Array, b: Float64Array | undefined) => a[row]! - (b?.[row] ?? 0);
  const latency = rowWindow(now.latency, then?.latency, row, LATENCY_BUCKETS);
  const lifetimes = rowWindow(now.streams?.lifetimes, then?.streams?.lifetimes, row, LATENCY_BUCKETS);
  const unary = latency.map((count, bucket) => count - lifetimes[bucket]!);
  return {
    started: minus(now.started, then?.started),
    finished: minus(now.finished, then?.finished),
    abandoned: minus(now.abandoned, then?.abandoned),
    refused: minus(now.refused, then?.refused),
    rebalanced: minus(now.rebalanced, then?.rebalanced),
    codes: codeCounts(now.codes, then?.codes, row),
    notStarted: codeCounts(now.notStarted, then?.notStarted, row),
    latencyMs: quantiles(latency),
    latencyHistogram: latencyHistogram(latency, 0),
    unaryLatencyMs: quantiles(unary),
    unaryLatencyHistogram: latencyHistogram(unary, 0),
    streams: streamFigures(now.streams, then?.streams ?? null, row),
  };
}

function streamFigures(now: StreamRows | null, then: StreamRows | null, row: number): StreamFigures {
  const firstMessage = rowWindow(now?.firstMessage, then?.firstMessage, row, LATENCY_BUCKETS);
  const gaps = rowWindow(now?.gaps, then?.gaps, row, LATENCY_BUCKETS);
  return {
    finished: now === null ? 0 : now.finished[row]! - (then?.finished[row] ?? 0),
    codesAfterFirstMessage: now === null ? new Map() : codeCounts(now.afterMessage, then?.afterMessage, row),
    firstMessageMs: quantiles(firstMessage),
    firstMessageHistogram: latencyHistogram(firstMessage, 0),
    gapMs: quantiles(gaps),
    gapHistogram: latencyHistogram(gaps, 0),
  };
}

/** Row `row` of a `[row * width + i]` table, minus a copy's (zeros for a table not made yet). */
function rowWindow(now: Float64Array | undefined, then: Float64Array | undefined, row: number, width: number) {
  const window = new Float64Array(width);
  if (now === undefined) return window;
  const offset = row * width;
  for (let i = 0; i < width; i++) window[i] = now[offset + i]! - (then?.[offset + i] ?? 0);
  return window;
}

function quantiles(histogram: Float64Array): Quantiles {
  return {
    p50: latencyQuantile(histogram, 0, 0.5),
    p90: latencyQuantile(histogram, 0, 0.9),
    p99: latencyQuantile(histogram, 0, 0.99),
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

/** An array of `rows * perRow` zeros holding `old`'s counts. */
function wider(old: Float64Array, rows: number, perRow: number): Float64Array {
  const array = new Float64Array(rows * perRow);
  array.set(old);
  return array;
}

function streamRowsOf(rows: number, old: StreamRows | null): StreamRows {
  const empty = new Float64Array(0);
  return {
    finished: wider(old?.finished ?? empty, rows, 1),
    afterMessage: wider(old?.afterMessage ?? empty, rows, CODE_COUNT),
    firstMessage: wider(old?.firstMessage ?? empty, rows, LATENCY_BUCKETS),
    gaps: wider(old?.gaps ?? empty, rows, LATENCY_BUCKETS),
    lifetimes: wider(old?.lifetimes ?? empty, rows, LATENCY_BUCKETS),
  };
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
  streams: StreamRows | null = null;

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
    this.started = wider(this.started, rows, 1);
    this.finished = wider(this.finished, rows, 1);
    this.abandoned = wider(this.abandoned, rows, 1);
    this.refused = wider(this.refused, rows, 1);
    this.rebalanced = wider(this.rebalanced, rows, 1);
    this.codes = wider(this.codes, rows, CODE_COUNT);
    this.notStarted = wider(this.notStarted, rows, CODE_COUNT);
    this.latency = wider(this.latency, rows, LATENCY_BUCKETS);
    if (this.streams !== null) this.streams = streamRowsOf(rows, this.streams);
    this.rows = rows;
  }

  /** A frozen copy of every count now. */
  copy(): FigureRows {
    const streams = this.streams;
    return Object.freeze({
      started: this.started.slice(),
      finished: this.finished.slice(),
      abandoned: this.abandoned.slice(),
      refused: this.refused.slice(),
      rebalanced: this.rebalanced.slice(),
      codes: this.codes.slice(),
      notStarted: this.notStarted.slice(),
      latency: this.latency.slice(),
      streams:
        streams === null
          ? null
          : Object.freeze({
              finished: streams.finished.slice(),
              afterMessage: streams.afterMessage.slice(),
              firstMessage: streams.firstMessage.slice(),
              gaps: streams.gaps.slice(),
              lifetimes: streams.lifetimes.slice(),
            }),
    });
  }

  /** Counts an answered attempt in row `row`: its code's slot, its latency bucket and kind. */
  addAnswer(row: number, codeAt: number, bucket: number, kind: AnswerKind): void {
    this.finished[row]!++;
    this.codes[row * CODE_COUNT + codeAt]!++;
    this.latency[row * LATENCY_BUCKETS + bucket]!++;
    if (kind === AnswerKind.Unary) return;
    const streams = (this.streams ??= streamRowsOf(this.rows, null));
    streams.finished[row]!++;
    streams.lifetimes[row * LATENCY_BUCKETS + bucket]!++;
    if (kind === AnswerKind.StreamAfterMessage) streams.afterMessage[row * CODE_COUNT + codeAt]!++;
  }

  /** Counts a stream's first message (`gap` false) or a gap before a later one, in row `row`. */
  addStreamMessage(row: number, bucket: number, gap: boolean): void {
    const streams = (this.streams ??= streamRowsOf(this.rows, null));
    (gap ? streams.gaps : streams.firstMessage)[row * LATENCY_BUCKETS + bucket]!++;
  }
}
