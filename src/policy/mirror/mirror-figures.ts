/**
 * The figures of shadow traffic: what happened to the copies, kept apart from the subsets'
 * regular figures (a rollout judges real traffic only). Pure counting: no gRPC, no clock of its
 * own besides `performance.now()` durations handed in by the caller.
 * @module
 */
import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from '../../algorithms/latency.js';
import { CODE_COUNT } from '../call/counters.js';
import { Status } from '../grpc/grpc.js';
import type { StatusName } from '../../base/names.js';
import type { MirrorNoiseStats } from './noise/mirror-noise.js';

/** The copies' counters; `stats().mirror.lifetime` and the metrics read a cumulative set. */
export interface MirrorCounts {
  /** Copies started. */
  sent: number;
  /** Copies fully accounted for: ended, and compared when they could be
   * (`completed = failed + matched + mismatched + notCompared`). */
  completed: number;
  /** Copies chosen by the schedule and given up (`droppedBy` says why): before they were sent,
   * or, for `maxBufferedBytes`, when an answer arrived that the mirror could not keep (such a
   * copy is in `sent` too, and never in `completed`). `completed + dropped` is every copy the
   * schedule chose once none is in flight. */
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

/**
 * Why a copy was given up: `maxInFlight` copies were in flight; its bytes (request, or an answer
 * kept for comparison) would pass `maxBufferedBytes`; its primary had no time left; the mirror
 * was replaced or turned off (or the split closed) before it started; its primary ended (was
 * cancelled, or sent no request) before it started.
 */
export type MirrorDropReason = 'maxInFlight' | 'maxBufferedBytes' | 'noTimeLeft' | 'mirrorChanged' | 'primaryEnded';

/** Every drop reason, in the order `droppedBy` lists them. */
export const MIRROR_DROP_REASONS: readonly MirrorDropReason[] = [
  'maxInFlight',
  'maxBufferedBytes',
  'noTimeLeft',
  'mirrorChanged',
  'primaryEnded',
];

/** Where the figures reserve the bytes of the samples they keep (the split's byte bound). */
export interface ByteBudget {
  /** Takes `bytes` of the bound, or returns false when they would pass it. */
  reserve(bytes: number): boolean;
  release(bytes: number): void;
}

/** What a sample is counted for in the byte bound: a fixed part for its strings and numbers,
 * and, for a body kept with `keepBodies`, twice its serialized size (an estimate of the
 * deserialized object); with `noise`, the baseline's side and the field paths too. */
export function sampleBytes(sample: MirrorSample): number {
  const body = (side: MirrorSampleSide): number => ('response' in side ? 2 * (side.bytes ?? 0) : 0);
  const paths = (list: readonly string[] | undefined): number =>
    (list ?? []).reduce((sum, path) => sum + PATH_BASE_BYTES + 2 * path.length, 0);
  const baseline = sample.baseline === undefined ? 0 : SIDE_BASE_BYTES + body(sample.baseline);
  return (
    SAMPLE_BASE_BYTES +
    2 * (sample.reason.length + sample.method.length) +
    body(sample.primary) +
    body(sample.mirror) +
    baseline +
    paths(sample.fields) +
    paths(sample.noiseFields)
  );
}

/** The part of a sample's count that does not depend on its contents (two sides included). */
const SAMPLE_BASE_BYTES = 512;
/** A third side's part (the baseline's: status, size, a hex SHA-256). */
const SIDE_BASE_BYTES = 192;
/** A field path's part besides its characters. */
const PATH_BASE_BYTES = 16;

/** `split.stats().mirror`: the mirror in force (or the last one, `active: false`). */
export interface MirrorStats extends MirrorCounts {
  subset: string;
  percent: number;
  /** False once `setMirror(null)` (or a new mirror) replaced it. */
  active: boolean;
  /** Copies in flight now (what `maxInFlight` bounds). */
  inFlight: number;
  /** The copies given up, by reason (they add up to `dropped`). */
  droppedBy: Record<MirrorDropReason, number>;
  /** Bytes the mirror holds now, over every configuration of the split: requests of copies in
   * flight, answers kept for comparison, samples (what `maxBufferedBytes` bounds). */
  bufferedBytes: number;
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
  private readonly droppedBy = new Float64Array(MIRROR_DROP_REASONS.length);
  /** The latest mismatches, oldest first, with what each is counted for in the byte bound. */
  private readonly samples: { sample: MirrorSample; bytes: number }[] = [];
  /** Replaced by a newer configuration: its samples are let go, and no more are kept. */
  private retired = false;

  constructor(
    private readonly lifetime: MirrorCounts,
    private readonly maxSamples: number,
    private readonly budget: ByteBudget,
  ) {}

  dropped(reason: MirrorDropReason): void {
    this.counts.dropped++;
    this.lifetime.dropped++;
    this.droppedBy[MIRROR_DROP_REASONS.indexOf(reason)]!++;
  }

  /** The configuration was replaced: its samples will never be read again. */
  retire(): void {
    this.retired = true;
    while (this.samples.length > 0) this.evictOldest();
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
    if (sample !== null) this.keep(sample);
  }

  /** Keeps `sample` within `maxSamples` and the byte bound: without its bodies if they do not
   * fit, and the oldest samples give way to it if it still does not. */
  private keep(sample: MirrorSample): void {
    if (this.maxSamples === 0 || this.retired) return;
    if (this.samples.length >= this.maxSamples) this.evictOldest();
    let kept = sample;
    let bytes = sampleBytes(kept);
    while (!this.budget.reserve(bytes)) {
      if ('response' in kept.primary || 'response' in kept.mirror) {
        kept = { ...kept, primary: withoutBody(kept.primary), mirror: withoutBody(kept.mirror) };
        bytes = sampleBytes(kept);
      } else if (this.samples.length > 0) {
        this.evictOldest();
      } else {
        return;
      }
    }
    this.samples.push({ sample: kept, bytes });
  }

  private evictOldest(): void {
    this.budget.release(this.samples.shift()!.bytes);
  }

  snapshot(subset: string, percent: number, active: boolean, bufferedBytes: number): MirrorStats {
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
      droppedBy: Object.fromEntries(MIRROR_DROP_REASONS.map((reason, i) => [reason, this.droppedBy[i]!])) as Record<
        MirrorDropReason,
        number
      >,
      bufferedBytes,
      notCompared: this.notCompared,
      compareErrors: this.compareErrors,
      codes,
      latencyMs: quantiles(this.latency),
      primaryLatencyMs: quantiles(this.primaryLatency),
      samples: this.samples.map(({ sample }) => ({
        ...sample,
        primary: { ...sample.primary },
        mirror: { ...sample.mirror },
      })),
      lifetime: { ...this.lifetime },
    };
  }
}

function withoutBody({ response: _response, ...side }: MirrorSampleSide): MirrorSampleSide {
  return side;
}

function quantiles(histogram: Float64Array): Quantiles {
  return {
    p50: latencyQuantile(histogram, 0, 0.5),
    p90: latencyQuantile(histogram, 0, 0.9),
    p99: latencyQuantile(histogram, 0, 0.99),
  };
}
