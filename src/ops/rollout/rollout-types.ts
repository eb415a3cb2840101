/**
 * The public types of a rollout: its events, its status, its result and the `Rollout` handle.
 * @module
 */
import type { EventEmitter } from 'node:events';
import type { CanaryVerdict } from './canary-judge.js';
import type { RolloutFigures } from './rollout-options.js';
import type { RolloutStepPlan } from './rollout-plan.js';
import type { ShadowRecord } from './rollout-shadow.js';

/** How a rollout ended. */
export type RolloutOutcome = 'promoted' | 'rolled-back' | 'aborted';

/** `running` (a step's interval is counting), `paused`, or `done`. */
export type RolloutState = 'running' | 'paused' | 'done';

/** One judged step: its plan, its figures and its verdict. */
export interface RolloutStepRecord extends RolloutStepPlan {
  figures: RolloutFigures;
  verdict: 'pass' | 'fail';
  /** `error rate 0% (0 of 240 calls) <= 1%`, `p99 52 ms > 20 ms`, `judge: ...`. */
  reason: string;
  /** The comparison with `analysis.baseline`: both subsets' calls, failures, error rates and
   * quantiles, the test statistics, p-values and effect sizes. Absent without a baseline, or
   * when the step ended before it could be compared (too few calls). */
  comparison?: RolloutComparison;
  /** With `analysis.sequential`, when the sequential judge decided the step (a rollback, or an
   * early promotion): the test that fired and the calls it had seen of each side. */
  sequential?: {
    decision: 'rollback' | 'promote';
    test: string | null;
    metric: string | null;
    /** The method whose test fired, or null for a test over every method. */
    stratum: string | null;
    calls: { canary: number; baseline: number } | null;
  };
}

/** A step's comparison with its baseline: `judgeCanary()`'s verdict and the subsets' names. */
export type RolloutComparison = CanaryVerdict & { subsets: { canary: string; baseline: string } };

/** What `rollout.done` resolves to. */
export interface RolloutResult {
  outcome: RolloutOutcome;
  /** Why it ended: `all 3 steps passed`, `step 1 (10%): error rate 100% (12 of 12 calls) > 1%`. */
  reason: string;
  /** The judged steps, in order. */
  history: RolloutStepRecord[];
  /** The weights in force when it ended. */
  weights: Record<string, number>;
  /** The weights before it began (what a rollback or `abort()` restores). */
  previousWeights: Record<string, number>;
  durationMs: number;
  /** The judged shadow phase (absent without one, or when the rollout ended before its verdict). */
  shadow?: ShadowRecord;
}

/** A step waiting one more interval for `analysis.minCalls`. */
export interface RolloutWait {
  /** The step, or -1 for the shadow phase. */
  step: number;
  calls: number;
  minCalls: number;
  /** Extra intervals waited so far, this one included. */
  waited: number;
  maxWaitIntervals: number;
}

/** Events of a rollout. All are emitted on the next tick after the change they report, in
 * order, so listeners attached right after `startRollout()` returns see the first step. */
export interface RolloutEvents {
  /** A step's weights are in force and its interval started. */
  step: [step: RolloutStepPlan];
  /** A step had too few calls and waits one more interval. */
  wait: [wait: RolloutWait];
  /** A step was judged. */
  verdict: [record: RolloutStepRecord];
  /** The shadow phase was judged. */
  shadow: [record: ShadowRecord];
  /** The rollout ended; same value as `done`. */
  done: [result: RolloutResult];
}

/** A plain, JSON-able view of a rollout (what `GET /rollout` of the admin server returns). */
export interface RolloutStatus {
  subset: string;
  state: RolloutState;
  /** `shadow` while the shadow phase runs (no step's weights are in force yet), then `steps`. */
  phase: 'shadow' | 'steps';
  /** The judged shadow phase, or null. */
  shadow: ShadowRecord | null;
  /** Index of the step in force (or the last one reached). */
  step: number;
  percent: number;
  intervalMs: number;
  plan: RolloutStepPlan[];
  previousWeights: Record<string, number>;
  history: RolloutStepRecord[];
  result: RolloutResult | null;
}

/** A rollout in progress (or finished). */
export interface Rollout extends EventEmitter<RolloutEvents> {
  readonly subset: string;
  /** The weights of every step, fixed at the start. */
  readonly plan: readonly RolloutStepPlan[];
  readonly previousWeights: Readonly<Record<string, number>>;
  readonly state: RolloutState;
  /** Index of the step in force. */
  readonly step: number;
  /** Resolves (never rejects) when the rollout ends, however it ends. */
  readonly done: Promise<RolloutResult>;
  /** Stops the clock: the step's weights stay, nothing is judged. No-op unless running. */
  pause(): void;
  /** Starts the current step's interval over, from a fresh mark. No-op unless paused. */
  resume(): void;
  /** Ends the rollout and restores `previousWeights`. No-op once done. Resolves to the result. */
  abort(reason?: string): Promise<RolloutResult>;
  toJSON(): RolloutStatus;
}
