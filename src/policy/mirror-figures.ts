/**
 * The figures of shadow traffic: what happened to the copies, kept apart from the subsets'
 * regular figures (a rollout judges real traffic only). Pure counting: no gRPC, no clock of its
 * own besides `performance.now()` durations handed in by the caller.
 * @module
 */
import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from '../algorithms/latency.js';
import { CODE_COUNT } from './counters.js';
import { Status } from './grpc.js';
import type { StatusName } from '../base/names.js';
import type { MirrorNoiseStats } from './mirror-noise.js';

/** The copies' counters; `stats().mirror.lifetime` and the metrics read a cumulative set. */
export interface MirrorCounts {
  /** Copies started. */
  sent: number;
  /** Copies fully accounted for: ended, and compared when they could be
   * (`completed = failed + matched + mismatched + notCompared`). */
  completed: number;
  /** Copies chosen by the schedule but not sent: `maxInFlight` copies were already in flight,
   * the primary had no time left, or the mirror was replaced (or the split closed) before the
   * copy could start. `sent + dropped` is every copy the schedule chose. */
  dropped: number;
  /** Copies that got no usable answer: they ended with CANCELLED, UNKNOWN, INTERNAL, UNAVAILABLE,
   * DEADLINE_EXCEEDED, DATA_LOSS or RESOURCE_EXHAUSTED (the mirror subset down, its timeout,
   * `close()`). Not compared. */
  failed: number;
  /** Compared and equal. */
  matched: number;
  /** Compared and different (a comparator that throws or returns neither a boolean nor a string
   * counts here too, and in `compareErrors`). */
  mismatched: number;
}

/** One side of a mismatch sample. */
export interface MirrorSampleSide {
  status: StatusName;
  /** Serialized response size in bytes, null without a response. */
  bytes: number | null;
  /** SHA-256 of the serialized response, hex; null without a response. */
  sha256: string | null;
  /** The deserialized response, with `keepBodies` only (and when at most 64 KiB). */
  response?: unknown;
}

/** One mismatched copy. */
export interface MirrorSample {
  /** When it was compared, ISO 8601. */
  at: string;
  method: string;
  /** `status OK vs NOT_FOUND`, `response differs (31 vs 33 bytes)`, or the comparator's reason. */
  reason: string;
  primary: MirrorSampleSide;
  mirror: MirrorSampleSide;
  /** With `noise`: the baseline copy's answer (never its body), absent if it never started. */
  baseline?: MirrorSampleSide;
  /** With `noise`: the field paths where the copy differed and the baseline agreed, at fields
   * that are not noise (what made this a mismatch); at most 32. */
  fields?: string[];
  /** With `noise`: the paths where the copy differed too, forgiven as noise; at most 32. */
  noiseFields?: string[];
}

type Quantiles = { p50: number | null; p90: number | null; p99: number | null };

/** `split.stats().mirror`: the mirror in force (or the last one, `active: false`). */
export interface MirrorStats extends MirrorCounts {
  subset: string;
  percent: number;
  /** False once `setMirror(null)` (or a new mirror) replaced it. */
  active: boolean;
  /** Copies in flight now (what `maxInFlight` bounds). */
  inFlight: number;
  /** Copies that ended with an answer while comparison is off, or whose primary itself got no
   * usable answer (nothing to compare with). */
  notCompared: number;
  /** Comparator calls that threw or returned neither a boolean nor a string. */
  compareErrors: number;
  /** Ended copies by status code name. */
  codes: Partial<Record<StatusName, number>>;
  /** Latency of the ended copies, from their start to their status, in milliseconds. */
  latencyMs: Quantiles;
  /** Latency of the primaries of those same calls, from their start to their status. */
  primaryLatencyMs: Quantiles;
  /** The latest mismatches, oldest first. */
  samples: MirrorSample[];
  /** Counts over every mirror this split has had to this subset (monotonic: what the metrics
   * export). */
  lifetime: MirrorCounts;
  /** With `noise`: the three-way comparison (`matched` and `mismatched` above are its
   * noise-filtered verdicts). */
  noise?: MirrorNoiseStats;
}

/** Status codes that mean the copy got no usable answer. */
const FAILURE_CODES: ReadonlySet<number> = new Set([
  Status.CANCELLED,
  Status.UNKNOWN,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DEADLINE_EXCEEDED,
  Status.DATA_LOSS,
  Status.RESOURCE_EXHAUSTED,
]);

/** True when a call that ended with `code` got no usable answer. */
export function isFailureCode(code: number): boolean {
  return FAILURE_CODES.has(code);
}

/** A status code's name (UNKNOWN for a code outside 0..16). */
export function statusName(code: number): StatusName {
  return ((code >= 0 && code < CODE_COUNT ? Status[code] : undefined) ?? 'UNKNOWN') as StatusName;
}

export function emptyCounts(): MirrorCounts {
  return { sent: 0, completed: 0, dropped: 0, failed: 0, matched: 0, mismatched: 0 };
}

/** How a settled copy is counted. */
export type CopyVerdict = 'failed' | 'matched' | 'mismatched' | 'notCompared';

/** The figures of one mirror configuration; every count also goes to the split's lifetime set. */
export class MirrorFigures {
  private readonly counts = emptyCounts();
  /** Copies decided and not ended; kept by the controller's slots. */
  inFlight = 0;
  private notCompared = 0;
  private compareErrors = 0;
  private readonly codes = new Float64Array(CODE_COUNT);
  private readonly latency = new Float64Array(LATENCY_BUCKETS);
  private readonly primaryLatency = new Float64Array(LATENCY_BUCKETS);
  private readonly samples: MirrorSample[] = [];

  constructor(
    private readonly lifetime: MirrorCounts,
    private readonly maxSamples: number,
  ) {}

  dropped(): void {
    this.counts.dropped++;
    this.lifetime.dropped++;
  }

  sent(): void {
    this.counts.sent++;
    this.lifetime.sent++;
  }

  /** The copy's call ended. */
  copyEnded(code: number, durationMs: number): void {
    this.codes[code >= 0 && code < CODE_COUNT ? code : Status.UNKNOWN]!++;
    this.latency[latencyBucket(durationMs)]!++;
  }

  primaryEnded(durationMs: number): void {
    this.primaryLatency[latencyBucket(durationMs)]!++;
  }

  /** The copy is fully accounted for. */
  settled(verdict: CopyVerdict, sample: MirrorSample | null, compareError: boolean): void {
    this.counts.completed++;
    this.lifetime.completed++;
    if (verdict === 'notCompared') this.notCompared++;
    else {
      this.counts[verdict]++;
      this.lifetime[verdict]++;
    }
    if (compareError) this.compareErrors++;
    if (sample !== null && this.maxSamples > 0) {
      if (this.samples.length >= this.maxSamples) this.samples.shift();
      this.samples.push(sample);
    }
  }

  snapshot(subset: string, percent: number, active: boolean): MirrorStats {
    const codes: Partial<Record<StatusName, number>> = {};
    this.codes.forEach((n, code) => {
      if (n > 0) codes[statusName(code)] = n;
    });
    return {
      subset,
      percent,
      active,
      ...this.counts,
      inFlight: this.inFlight,
      notCompared: this.notCompared,
      compareErrors: this.compareErrors,
      codes,
      latencyMs: quantiles(this.latency),
      primaryLatencyMs: quantiles(this.primaryLatency),
      samples: this.samples.map((sample) => ({ ...sample, primary: { ...sample.primary }, mirror: { ...sample.mirror } })),
      lifetime: { ...this.lifetime },
    };
  }
}

function quantiles(histogram: Float64Array): Quantiles {
  return { p50: latencyQuantile(histogram, 0, 0.5), p90: latencyQuantile(histogram, 0, 0.9), p99: latencyQuantile(histogram, 0, 0.99) };
}
