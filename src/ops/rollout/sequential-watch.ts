/**
 * The sequential judge of a rollout (`analysis.sequential`): every call the canary or its
 * baseline answers is fed, as it ends, to tests that stay valid however often they are read
 * (src/algorithms/judge/, docs/judging.md). One judge for the whole rollout, so that its bound on
 * false rollbacks covers every step; its equivalence tests start afresh at each step.
 * @module
 */
import { methodMatches } from './method-window.js';
import { BASELINE, CANARY, type Side } from '../../algorithms/judge/blocks.js';
import {
  requestMetrics,
  SequentialJudge,
  streamMetrics,
  type SequentialVerdict,
} from '../../algorithms/judge/sequential-judge.js';
import { Status, type CallEnded, type SplitHandle } from '../../split/ops-port.js';

/** What the watch needs of the rollout's options. */
export interface WatchOptions {
  readonly canary: string;
  readonly baseline: string;
  readonly confidence: number;
  readonly maxErrorRateIncrease: number;
  readonly maxLatencyRatio: number;
  readonly failureCodes: ReadonlySet<number>;
  /** Judge each method apart (the strata), or pool every call. */
  readonly stratify: boolean;
  /** The rollout's methods (full names or service prefixes), or null for every method. */
  readonly methods: readonly string[] | null;
}

/** Metric indices: request metrics first, then stream metrics (see sequential-judge.ts). */
const ERRORS = 0;
const LATENCY = 1;
const FIRST_MESSAGE = 2;
const MID_STREAM = 3;
const GAPS = 4;

/** Strata kept for methods first called after the rollout started: each takes its share of the
 * false-rollback budget from the start, so more spares cost every method power. A split that
 * has counted methods already needs few; one that has seen no call yet, enough for a service. */
const SPARE_STRATA = 2;
const SPARE_STRATA_WHEN_NONE_KNOWN = 4;

/** The pooled stratum's name when methods are not judged apart. */
const POOL = 'all';

export class SequentialWatch {
  private readonly judge: SequentialJudge;
  private unsubscribe: (() => void) | null = null;
  /** The decision last told (in this step): each is told once, and a rollback after a promotion
   * the rollout held back (paused) is still told. */
  private told: SequentialVerdict['decision'] = 'continue';

  /**
   * `strata`: the methods judged apart (others go to the judge's `other`); `onDecision` is told,
   * once per decision and never inside the call path (on a later tick), of a rollback or a
   * promotion.
   */
  constructor(
    private readonly split: SplitHandle,
    private readonly options: WatchOptions,
    strata: readonly string[],
    private readonly onDecision: (verdict: SequentialVerdict) => void,
  ) {
    const margins = { maxErrorRateIncrease: options.maxErrorRateIncrease, maxLatencyRatio: options.maxLatencyRatio };
    this.judge = new SequentialJudge({
      confidence: options.confidence,
      metrics: [...requestMetrics(margins), ...streamMetrics(margins)],
      // Methods first called during the rollout get strata of their own too, up to SPARE_STRATA.
      ...(options.stratify && {
        strata,
        spareStrata: strata.length === 0 ? SPARE_STRATA_WHEN_NONE_KNOWN : SPARE_STRATA,
      }),
      names: [options.canary, options.baseline],
    });
  }

  start(): void {
    this.unsubscribe ??= this.split.onCallEnded((call) => this.observe(call));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** A new step, or a fresh window of one (resumed): its promotion must be shown on its own calls. */
  newStep(): void {
    this.judge.resetEquivalence();
    this.told = 'continue';
  }

  private observe(call: CallEnded): void {
    const side: Side | -1 =
      call.subset === this.options.canary ? CANARY : call.subset === this.options.baseline ? BASELINE : -1;
    if (side === -1 || !this.concerns(call.method)) return;
    const judge = this.judge;
    const stratum = this.options.stratify ? call.method : POOL;
    const failed = this.options.failureCodes.has(call.code) ? 1 : 0;
    judge.observe(ERRORS, stratum, side, failed);
    if (!call.streaming) {
      if (call.latencyMs !== null) judge.observe(LATENCY, stratum, side, call.latencyMs);
    } else if (call.firstMessageMs !== null) {
      // A stream that delivered a message: how soon, whether it then failed, and its pace.
      judge.observe(FIRST_MESSAGE, stratum, side, call.firstMessageMs);
      judge.observe(MID_STREAM, stratum, side, failed);
      if (call.meanGapMs !== null) judge.observe(GAPS, stratum, side, call.meanGapMs);
    } else if (call.code === Status.CANCELLED || call.code === Status.DEADLINE_EXCEEDED) {
      // Given up before its first message: that message would have come later than this, so its
      // lifetime is a lower bound of its time to first message (a slow side is still seen slower).
      judge.observe(FIRST_MESSAGE, stratum, side, call.durationMs);
    }
    const decision = judge.decision();
    if (decision === 'continue' || decision === this.told) return;
    this.told = decision;
    // Told on a later tick: the rollout changes weights, which must not happen inside a call's status.
    process.nextTick(() => {
      if (this.unsubscribe !== null) this.onDecision(judge.verdict());
    });
  }

  private concerns(method: string): boolean {
    const keys = this.options.methods;
    return keys === null || methodMatches(method, keys);
  }
}
