/**
 * Per-subset call figures, shared by every channel of a split: calls started and finished,
 * finished by status code, and a latency histogram. Counting happens in the pick result's
 * `onCallStarted` / `onCallEnded` hooks, without allocating on the call path:
 * - `onCallStarted` is a function made once per subset;
 * - when a call really starts, it takes a `CallTimer` from a pool (made once, reused) and sets the
 *   result's `onCallEnded` to that timer's. grpc-js 1.14 calls `onCallStarted` with the pick
 *   result as `this` and reads `onCallEnded` from the result right after (load-balancing-call.ts),
 *   so the timer is bound only to calls that start, and every timer taken comes back.
 * @internal
 * @module
 */
import type { PickResult } from './grpc.js';
import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from './latency.js';

/** gRPC status codes 0..16; anything else is counted as UNKNOWN (2). */
export const CODE_COUNT = 17;
const UNKNOWN_CODE = 2;

/** Marks the hook functions this module made, so a re-used pick result is not wrapped twice. */
const OWN_HOOKS = new WeakSet<object>();

/** Times one call attempt. Its start time lives in a Float64Array slot, not in a field, so that
 * storing a fresh double allocates nothing. */
class CallTimer {
  subset = 0;
  readonly ended: (code: number) => void;

  constructor(
    counters: SubsetCounters,
    readonly slot: number,
  ) {
    this.ended = (code: number) => counters.finish(this, code);
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
  /** Idle timers; as many exist as calls were ever in flight at once. */
  private readonly pool: CallTimer[] = [];
  private timerCount = 0;
  private startTimes = new Float64Array(64);
  private readonly startHooks: (() => void)[] = [];
  /** Told of every finished attempt while telemetry is on (null otherwise). */
  finishObserver: ((subset: number, code: number, durationMs: number) => void) | null = null;

  constructor(subsetCount: number) {
    this.started = new Float64Array(subsetCount);
    this.finished = new Float64Array(subsetCount);
    this.codes = new Float64Array(subsetCount * CODE_COUNT);
    this.latency = new Float64Array(subsetCount * LATENCY_BUCKETS);
    for (let subset = 0; subset < subsetCount; subset++) {
      const counters = this;
      const hook = function (this: PickResult | undefined): void {
        const timer = counters.startCall(subset);
        // Without the result as `this` (a grpc-js that calls the hook differently) the call
        // is still counted as started, but its end cannot be seen.
        if (typeof this === 'object' && this !== null) this.onCallEnded = timer.ended;
      };
      OWN_HOOKS.add(hook);
      this.startHooks.push(hook);
    }
  }

  /**
   * Makes a COMPLETE pick result count its call against `subset`. grpc-js's leaf pickers return
   * a fresh object with no hooks, which is filled in place. A result that carries a child
   * policy's own hooks is copied, and both run.
   */
  attach(subset: number, result: PickResult): PickResult {
    const childStarted = result.onCallStarted;
    const childEnded = result.onCallEnded;
    if ((childStarted === null || OWN_HOOKS.has(childStarted)) && (childEnded === null || OWN_HOOKS.has(childEnded))) {
      result.onCallStarted = this.startHooks[subset]!;
      result.onCallEnded = null;
      return result;
    }
    let timer: CallTimer | null = null;
    return {
      ...result,
      onCallStarted: () => {
        timer = this.startCall(subset);
        childStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        timer?.ended(code);
        childEnded?.(code, details, metadata);
      },
    };
  }

  private startCall(subset: number): CallTimer {
    const timer = this.pool.pop() ?? this.newTimer();
    timer.subset = subset;
    this.started[subset]!++;
    this.startTimes[timer.slot] = performance.now();
    return timer;
  }

  /** Only when every timer made so far is in use: each timer owns the next slot. */
  private newTimer(): CallTimer {
    const slot = this.timerCount++;
    if (slot >= this.startTimes.length) {
      const grown = new Float64Array(this.startTimes.length * 2);
      grown.set(this.startTimes);
      this.startTimes = grown;
    }
    return new CallTimer(this, slot);
  }

  /** @internal Called by a timer when its call ends. */
  finish(timer: CallTimer, code: number): void {
    const subset = timer.subset;
    this.finished[subset]!++;
    const codeSlot = code >= 0 && code < CODE_COUNT ? code : UNKNOWN_CODE;
    this.codes[subset * CODE_COUNT + codeSlot]!++;
    const durationMs = performance.now() - this.startTimes[timer.slot]!;
    this.latency[subset * LATENCY_BUCKETS + latencyBucket(durationMs)]!++;
    this.pool.push(timer);
    this.finishObserver?.(subset, code, durationMs);
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
