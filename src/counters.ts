/**
 * Per-subset call figures, shared by every channel of a split: calls started and finished,
 * finished by status code, and a latency histogram. Counting happens in the pick result's
 * `onCallStarted` / `onCallEnded` hooks. Each call needs its own start time, so the hooks belong
 * to a pooled `CallTimer` whose two functions are made once: the call path allocates nothing
 * here once the pool has warmed up.
 * @internal
 * @module
 */
import type { PickResult } from './grpc.js';
import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from './latency.js';

/** gRPC status codes 0..16; anything else is counted as UNKNOWN (2). */
export const CODE_COUNT = 17;
const UNKNOWN_CODE = 2;
const MAX_POOLED_TIMERS = 4096;

/** Marks the hook functions this module made, so a re-used pick result is not wrapped twice. */
const OWN_HOOKS = new WeakSet<object>();

/** Times one call attempt on one subset. */
class CallTimer {
  subset = 0;
  private startedAt = 0;
  readonly started: () => void;
  readonly ended: (code: number) => void;

  constructor(counters: SubsetCounters) {
    this.started = () => {
      this.startedAt = performance.now();
      counters.started[this.subset]!++;
    };
    this.ended = (code: number) => counters.finish(this, code, performance.now() - this.startedAt);
    OWN_HOOKS.add(this.started);
    OWN_HOOKS.add(this.ended);
  }
}

/** A copy of the cumulative figures at one moment; `stats({ since })` subtracts it. */
export interface CountersMark {
  readonly at: number;
  readonly started: Float64Array;
  readonly finished: Float64Array;
  readonly codes: Float64Array;
  readonly latency: Float64Array;
}

export class SubsetCounters {
  readonly started: Float64Array;
  readonly finished: Float64Array;
  /** `codes[subset * 17 + code]`. */
  readonly codes: Float64Array;
  /** `latency[subset * LATENCY_BUCKETS + bucket]`. */
  readonly latency: Float64Array;
  private readonly pool: CallTimer[] = [];

  constructor(subsetCount: number) {
    this.started = new Float64Array(subsetCount);
    this.finished = new Float64Array(subsetCount);
    this.codes = new Float64Array(subsetCount * CODE_COUNT);
    this.latency = new Float64Array(subsetCount * LATENCY_BUCKETS);
  }

  /**
   * Makes a COMPLETE pick result count its call against `subset`. grpc-js's leaf pickers return
   * a fresh object with no hooks, which is filled in place. A result that carries a child
   * policy's own hooks is copied, and both run.
   */
  attach(subset: number, result: PickResult): PickResult {
    const timer = this.pool.pop() ?? new CallTimer(this);
    timer.subset = subset;
    const childStarted = result.onCallStarted;
    const childEnded = result.onCallEnded;
    if ((childStarted === null || OWN_HOOKS.has(childStarted)) && (childEnded === null || OWN_HOOKS.has(childEnded))) {
      result.onCallStarted = timer.started;
      result.onCallEnded = timer.ended;
      return result;
    }
    return {
      ...result,
      onCallStarted: () => {
        timer.started();
        childStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        timer.ended(code);
        childEnded?.(code, details, metadata);
      },
    };
  }

  /** @internal Called by a timer when its call ends. */
  finish(timer: CallTimer, code: number, elapsedMs: number): void {
    const subset = timer.subset;
    this.finished[subset]!++;
    const slot = code >= 0 && code < CODE_COUNT ? code : UNKNOWN_CODE;
    this.codes[subset * CODE_COUNT + slot]!++;
    this.latency[subset * LATENCY_BUCKETS + latencyBucket(elapsedMs)]!++;
    // A timer whose call never started (the pick was retried) is simply not returned.
    if (this.pool.length < MAX_POOLED_TIMERS) this.pool.push(timer);
  }

  mark(): CountersMark {
    return Object.freeze({
      at: Date.now(),
      started: this.started.slice(),
      finished: this.finished.slice(),
      codes: this.codes.slice(),
      latency: this.latency.slice(),
    });
  }

  /** Figures of one subset, cumulative or since `mark`. */
  figures(subset: number, since: CountersMark | null) {
    const minus = (now: Float64Array, then: Float64Array | undefined, i: number) => now[i]! - (then?.[i] ?? 0);
    const codes = new Map<number, number>();
    for (let code = 0; code < CODE_COUNT; code++) {
      const n = minus(this.codes, since?.codes, subset * CODE_COUNT + code);
      if (n > 0) codes.set(code, n);
    }
    let latency: ArrayLike<number> = this.latency;
    if (since !== null) {
      const window = new Float64Array(LATENCY_BUCKETS);
      for (let b = 0; b < LATENCY_BUCKETS; b++) window[b] = minus(this.latency, since.latency, subset * LATENCY_BUCKETS + b);
      latency = window;
    }
    const offset = since === null ? subset * LATENCY_BUCKETS : 0;
    return {
      started: minus(this.started, since?.started, subset),
      finished: minus(this.finished, since?.finished, subset),
      codes,
      latencyMs: {
        p50: latencyQuantile(latency, offset, 0.5),
        p90: latencyQuantile(latency, offset, 0.9),
        p99: latencyQuantile(latency, offset, 0.99),
      },
    };
  }
}
