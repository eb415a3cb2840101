/**
 * One rollout as it runs: its steps, the timer of each step's window, the verdicts, and the
 * weights it puts in force or back. Started by `startRollout()` (rollout.ts).
 * @module
 */
import { EventEmitter } from 'node:events';
import type { ClockTimer } from '../../base/clock.js';
import {
  checkFigures,
  compareWithBaseline,
  failsBeforeMinCalls,
  measure,
  runJudge,
  type StepVerdict,
} from './rollout-analysis.js';
import type { ParsedRolloutOptions, RolloutFigures } from './rollout-options.js';
import { planRollout, promotedWeights, sameWeights, type RolloutStepPlan } from './rollout-plan.js';
import type { StatsMark, SplitHandle } from '../../split/ops-port.js';
import { ShadowPhase, type ShadowRecord } from './rollout-shadow.js';
import { methodMatches, restrictToMethods } from './method-window.js';
import { SequentialWatch } from './sequential-watch.js';
import type { SequentialVerdict } from '../../algorithms/judge/sequential-judge.js';
import type { SplitStats } from '../../split/ops-port.js';
import { mirrorSettingsJson } from '../../split/ops-port.js';
import type {
  Rollout,
  RolloutComparison,
  RolloutEvents,
  RolloutOutcome,
  RolloutResult,
  RolloutState,
  RolloutStatus,
  RolloutStepRecord,
} from './rollout-types.js';

export class RolloutRun extends EventEmitter<RolloutEvents> implements Rollout {
  readonly subset: string;
  readonly plan: readonly RolloutStepPlan[];
  readonly done: Promise<RolloutResult>;
  private stateValue: RolloutState = 'running';
  private stepIndex = 0;
  private waited = 0;
  private stepMark: StatsMark | null = null;
  /** When the step's window opened, on the rollout's clock. */
  private windowStartedAt = 0;
  private timer: ClockTimer | null = null;
  /** Set while `judge` runs; aborted (and replaced) when the answer no longer matters. */
  private judging: AbortController | null = null;
  /** The weights this rollout last set: any other value in a 'weights' event is foreign. */
  private expected: Record<string, number>;
  private readonly history: RolloutStepRecord[] = [];
  private result: RolloutResult | null = null;
  /** The sequential judge (`analysis.sequential`), or null. */
  private watch: SequentialWatch | null = null;
  /** The running shadow phase, or null. */
  private shadow: ShadowPhase | null = null;
  private shadowRecord: ShadowRecord | null = null;
  private resolveDone!: (result: RolloutResult) => void;
  private readonly startedAt: number;

  /** By methods: each method's override before the rollout (null: it had none). */
  private readonly previousOverrides: Readonly<Record<string, Record<string, number> | null>>;

  constructor(
    private readonly split: SplitHandle,
    private readonly options: ParsedRolloutOptions,
    /** The weights the rollout starts from: the split's, or those of its methods. */
    readonly previousWeights: Readonly<Record<string, number>>,
  ) {
    super();
    this.subset = options.subset;
    this.plan = Object.freeze(planRollout(options.subset, options.steps, previousWeights, options.experimentBaseline));
    this.expected = { ...previousWeights };
    const overrides = split.getMethodWeights();
    this.previousOverrides = Object.fromEntries((options.methods ?? []).map((key) => [key, overrides[key] ?? null]));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.startedAt = options.clock.now();
  }

  get state(): RolloutState {
    return this.stateValue;
  }

  get step(): number {
    return this.stepIndex;
  }

  start(): void {
    if (this.options.methods === null) this.split.on('weights', this.onWeights);
    else this.split.on('methodWeights', this.onMethodWeights);
    this.split.on('close', this.onClose);
    if (this.options.sequential) this.startWatch();
    try {
      if (this.options.shadow !== null) this.enterShadow();
      else this.enterStep(0);
    } catch (error) {
      // Its first weights were refused (a rollout by methods over a full set of overrides):
      // nothing changed, and the rollout never ran.
      this.stateValue = 'done';
      this.stopClock();
      this.stopListening();
      throw error;
    }
  }

  /** One sequential judge for the whole rollout, fed by every call of the subset and its baseline. */
  private startWatch(): void {
    const { options } = this;
    const watch = new SequentialWatch(
      this.split,
      {
        canary: this.subset,
        baseline: options.baseline!,
        confidence: options.confidence,
        maxErrorRateIncrease: options.maxErrorRateIncrease,
        maxLatencyRatio: options.maxLatencyRatio,
        failureCodes: options.failureCodes,
        stratify: options.stratify,
        methods: options.methods,
      },
      knownMethods(this.split.stats(), options.methods),
      (verdict) => this.onSequentialVerdict(verdict),
    );
    this.watch = watch;
    watch.start();
  }

  /** The sequential judge decided: roll back at once, or end the step early as passed. */
  private onSequentialVerdict(verdict: SequentialVerdict): void {
    if (this.stateValue === 'done' || this.shadow !== null || verdict.decision === 'continue') return;
    // Paused: a regression still rolls back; a promotion waits for the step's own end.
    if (verdict.decision === 'promote' && this.stateValue !== 'running') return;
    this.stopClock();
    const stats = this.split.stats({ since: this.stepMark! });
    const window = this.options.methods === null ? stats : restrictToMethods(stats, this.options.methods);
    const periodMs = this.options.clock.now() - this.windowStartedAt;
    const figures = measure(window, this.subset, this.options.failureCodes, periodMs, this.waited);
    const { decision, test, metric, stratum, calls } = verdict;
    this.conclude(figures, { verdict: decision === 'rollback' ? 'fail' : 'pass', reason: verdict.reason }, undefined, {
      decision,
      test,
      metric,
      stratum,
      calls,
    });
  }

  pause(): void {
    if (this.stateValue !== 'running') return;
    this.stateValue = 'paused';
    this.stopClock();
  }

  resume(): void {
    if (this.stateValue !== 'paused') return;
    this.stateValue = 'running';
    // A fresh window: figures from before the pause would judge the step on calls made while
    // nobody was watching the clock, and a partial interval would be judged on too few.
    this.waited = 0;
    this.shadow?.markWindow();
    // Likewise the sequential judge's equivalence; its regression tests go on.
    if (this.shadow === null) this.watch?.newStep();
    this.startWindow();
  }

  abort(reason = 'aborted by abort()'): Promise<RolloutResult> {
    this.finish('aborted', reason, true);
    return this.done;
  }

  toJSON(): RolloutStatus {
    return {
      subset: this.subset,
      state: this.stateValue,
      phase: this.shadow === null ? 'steps' : 'shadow',
      shadow: this.shadowRecord,
      step: this.stepIndex,
      percent: this.plan[this.stepIndex]!.percent,
      intervalMs: this.options.intervalMs,
      plan: [...this.plan],
      previousWeights: { ...this.previousWeights },
      history: [...this.history],
      result: this.result,
    };
  }

  /** A weight change this rollout did not make: the operator's change wins, and stays. */
  private readonly onWeights = ({ weights }: { weights: Record<string, number> }): void => {
    if (sameWeights(weights, this.expected)) return;
    this.finish(
      'aborted',
      `weights changed outside the rollout to ${JSON.stringify(weights)}; they stay in force`,
      false,
    );
  };

  /** By methods: an override of one of its methods changed by someone else wins, and stays. */
  private readonly onMethodWeights = ({ methods }: { methods: Record<string, Record<string, number>> }): void => {
    const key = this.options.methods!.find((k) => methods[k] === undefined || !sameWeights(methods[k], this.expected));
    if (key === undefined) return;
    const now = methods[key] === undefined ? 'none' : JSON.stringify(methods[key]);
    this.finish(
      'aborted',
      `method weights of ${key} changed outside the rollout to ${now}; they stay in force`,
      false,
    );
  };

  private readonly onClose = (): void => {
    this.finish('aborted', `split "${this.split.name}" was closed`, false);
  };

  private enterShadow(): void {
    this.shadow = new ShadowPhase(this.split, this.subset, this.options.shadow!, (mirror) =>
      this.finish(
        'aborted',
        `mirror changed outside the rollout's shadow phase ` +
          `to ${JSON.stringify(mirrorSettingsJson(mirror))}; it stays in force`,
        false,
      ),
    );
    this.shadow.start();
    this.startWindow();
  }

  /** The shadow phase's interval ended: judge it, then roll back or begin the steps. */
  private evaluateShadow(phase: ShadowPhase): void {
    const { maxWaitIntervals } = this.options;
    const outcome = phase.evaluate(this.options.clock.now() - this.windowStartedAt, this.waited, maxWaitIntervals);
    if ('wait' in outcome) {
      this.waited++;
      this.emitLater('wait', {
        step: -1,
        calls: outcome.wait,
        minCalls: phase.options.minCalls,
        waited: this.waited,
        maxWaitIntervals,
      });
      return this.armTimer();
    }
    const record = outcome.record;
    this.shadowRecord = record;
    this.shadow = null;
    phase.stop();
    this.emitLater('shadow', record);
    if (record.verdict === 'fail')
      this.finish('rolled-back', `shadow phase (${record.percent}% copied): ${record.reason}`, true);
    else this.enterStep(0);
  }

  private enterStep(index: number): void {
    this.stepIndex = index;
    this.waited = 0;
    this.watch?.newStep();
    const plan = this.plan[index]!;
    this.apply(plan.weights);
    this.emitLater('step', plan);
    this.startWindow();
  }

  private apply(weights: Record<string, number>): void {
    // `expected` first: setWeights() emits 'weights' synchronously, and onWeights must see it
    // as this rollout's own change.
    this.expected = weights;
    const methods = this.options.methods;
    if (methods === null) this.split.setWeights(weights);
    else this.split.setMethodWeights({ ...this.split.getMethodWeights(), ...overridesOf(methods, weights) });
  }

  /** By methods: puts each method's override back as it was before the rollout. */
  private restoreOverrides(): void {
    const overrides = this.split.getMethodWeights();
    for (const [key, weights] of Object.entries(this.previousOverrides)) {
      if (weights === null) delete overrides[key];
      else overrides[key] = { ...weights };
    }
    this.split.setMethodWeights(overrides);
  }

  private startWindow(): void {
    this.stepMark = this.split.mark();
    this.windowStartedAt = this.options.clock.now();
    this.armTimer();
  }

  private armTimer(): void {
    // Deliberately not unref()'d: a running rollout is work in progress, and `await
    // rollout.done` in a script must not end with the process exiting under it.
    this.timer = this.options.clock.setTimeout(
      () => {
        // evaluate() is not expected to throw; if it ever does, fail safe: back to the old weights.
        this.evaluate().catch((error: unknown) =>
          this.finish(
            'rolled-back',
            `internal error: ${error instanceof Error ? error.message : String(error)}`,
            true,
          ),
        );
      },
      this.shadow === null ? this.options.intervalMs : this.shadow.options.intervalMs,
    );
  }

  private stopClock(): void {
    if (this.timer !== null) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    this.judging?.abort();
    this.judging = null;
  }

  private async evaluate(): Promise<void> {
    this.timer = null;
    if (this.shadow !== null) return this.evaluateShadow(this.shadow);
    const stats = this.split.stats({ since: this.stepMark! });
    const window = this.options.methods === null ? stats : restrictToMethods(stats, this.options.methods);
    const periodMs = this.options.clock.now() - this.windowStartedAt;
    const figures = measure(window, this.subset, this.options.failureCodes, periodMs, this.waited);
    const { baseline } = this.options;
    // minCalls applies to both sides of a comparison: the smaller sample decides.
    const judgedCalls =
      baseline === null ? figures.calls : Math.min(figures.calls, window.subsets[baseline]!.finished);
    if (judgedCalls < this.options.minCalls) {
      const early = failsBeforeMinCalls(figures, this.options);
      if (early !== null) return this.conclude(figures, early);
      if (this.waited < this.options.maxWaitIntervals) return this.waitLonger(figures);
      const waited = `${this.waited} extra interval${this.waited === 1 ? '' : 's'}`;
      const counted =
        baseline === null
          ? `${figures.calls}`
          : `${figures.calls} on ${this.subset} and ${window.subsets[baseline]!.finished} on ${baseline}`;
      return this.conclude(figures, {
        verdict: 'fail',
        reason: `too few calls: ${counted} of minCalls ${this.options.minCalls} after ${waited}`,
      });
    }
    let verdict: StepVerdict = checkFigures(figures, this.options);
    let comparison: RolloutComparison | undefined;
    if (baseline !== null) {
      comparison = compareWithBaseline(window, this.subset, baseline, this.options);
      if (verdict.verdict === 'pass')
        verdict =
          comparison.verdict === 'pass'
            ? { verdict: 'pass', reason: `${verdict.reason}; ${comparison.reason}` }
            : comparison;
    }
    if (verdict.verdict === 'pass' && this.options.judge !== null) {
      const judging = (this.judging = new AbortController());
      const plan = this.plan[this.stepIndex]!;
      const subsetStats = window.subsets[this.subset]!;
      const step = {
        step: plan.step,
        percent: plan.percent,
        subset: this.subset,
        weights: { ...plan.weights },
        figures,
        subsetStats,
        splitStats: window,
      };
      const judged = await runJudge(this.options.judge, step, this.options, judging.signal);
      // Paused, aborted or superseded while the judge ran: its answer no longer applies.
      if (this.judging !== judging) return;
      this.judging = null;
      verdict =
        judged.verdict === 'pass' ? { verdict: 'pass', reason: `${verdict.reason}; ${judged.reason}` } : judged;
    }
    this.conclude(figures, { verdict: verdict.verdict, reason: verdict.reason }, comparison);
  }

  private waitLonger(figures: RolloutFigures): void {
    this.waited++;
    const { minCalls, maxWaitIntervals } = this.options;
    this.emitLater('wait', {
      step: this.stepIndex,
      calls: figures.calls,
      minCalls,
      waited: this.waited,
      maxWaitIntervals,
    });
    // Same mark: the window grows until it holds enough calls.
    this.armTimer();
  }

  private conclude(
    figures: RolloutFigures,
    verdict: StepVerdict,
    comparison?: RolloutComparison,
    sequential?: RolloutStepRecord['sequential'],
  ): void {
    const plan = this.plan[this.stepIndex]!;
    const record: RolloutStepRecord = {
      ...plan,
      weights: { ...plan.weights },
      figures,
      ...verdict,
      ...(comparison && { comparison }),
      ...(sequential && { sequential }),
    };
    this.history.push(record);
    this.emitLater('verdict', record);
    if (verdict.verdict === 'fail') {
      this.finish('rolled-back', `step ${plan.step + 1} (${plan.percent}%): ${verdict.reason}`, true);
    } else if (this.stepIndex === this.plan.length - 1) {
      this.apply(promotedWeights(this.subset, this.previousWeights));
      this.finish('promoted', `all ${this.plan.length} step${this.plan.length === 1 ? '' : 's'} passed`, false);
    } else {
      this.enterStep(this.stepIndex + 1);
    }
  }

  /** Ends the rollout once: frees its timer, judge and listeners, then restores if asked. */
  private finish(outcome: RolloutOutcome, reason: string, restore: boolean): void {
    if (this.stateValue === 'done') return;
    this.stateValue = 'done';
    this.stopClock();
    this.stopListening();
    // The mirror from before the shadow phase comes back (unless someone changed it meanwhile).
    this.shadow?.stop();
    // Listener removed first, so restoring is not mistaken for an outside change. A closed
    // split keeps its last weights (they can no longer change, nor matter).
    if (restore && !this.split.closed) {
      if (this.options.methods === null) this.split.setWeights({ ...this.previousWeights });
      else this.restoreOverrides();
    }
    this.result = {
      outcome,
      reason,
      history: [...this.history],
      weights: this.split.getWeights(this.options.methods?.[0]),
      previousWeights: { ...this.previousWeights },
      durationMs: this.options.clock.now() - this.startedAt,
      ...(this.shadowRecord !== null && { shadow: this.shadowRecord }),
    };
    this.resolveDone(this.result);
    this.emitLater('done', this.result);
  }

  private stopListening(): void {
    this.watch?.stop();
    this.split.off('weights', this.onWeights);
    this.split.off('methodWeights', this.onMethodWeights);
    this.split.off('close', this.onClose);
  }

  private emitLater<K extends keyof RolloutEvents>(event: K, ...args: RolloutEvents[K]): void {
    process.nextTick(() => (this.emit as (event: K, ...args: RolloutEvents[K]) => boolean)(event, ...args));
  }
}

/** The same override for each of `methods`. */
function overridesOf(
  methods: readonly string[],
  weights: Record<string, number>,
): Record<string, Record<string, number>> {
  return Object.fromEntries(methods.map((key) => [key, { ...weights }]));
}

/** The methods the split counts by name now (the strata of a stratified judge), among the
 * rollout's `methods` if it has some: a method first seen later is judged in the `other` stratum. */
function knownMethods(stats: SplitStats, methods: readonly string[] | null): string[] {
  const names = new Set<string>();
  for (const subset of Object.values(stats.subsets))
    for (const name of Object.keys(subset.methods ?? {}))
      if (name.startsWith('/') && (methods === null || methodMatches(name, methods))) names.add(name);
  return [...names];
}
