/**
 * The sequential judge: several metrics of a canary against its baseline (errors, latency, and
 * for streams time to first message, mid-stream failures and gaps), each compared per call,
 * with one verdict that may be read after every call. Pure: no clock, no split.
 * @module
 */
import { rangeErrorAt } from '../../base/errors.js';
import { nonEmptyString, numberWhere, oneOf } from '../../base/validate.js';
import type { Side } from './blocks.js';
import { firingWords, pendingWords, testName } from './judge-words.js';
import {
  SequentialComparison,
  type Firing,
  type RegressionEvidence,
  type SequentialMetric,
} from './sequential-comparison.js';

export type { SequentialMetric } from './sequential-comparison.js';

/** Options of a `SequentialJudge`. */
export interface SequentialJudgeOptions {
  /** One minus the accepted chance of a false rollback over the judge's whole life, and of a
   * false promotion. Above 0.5 and below 1. @default 0.99 */
  confidence?: number;
  metrics: readonly SequentialMetric[];
  /** Strata (methods) judged one by one, plus `other` for the rest. None: one pool. */
  strata?: readonly string[];
  /** Strata reserved for names first seen later (each takes a share of alpha now). @default 0 */
  spareStrata?: number;
  /** What a rollback needs (see `RegressionEvidence`). @default 'beyond-margin' */
  evidence?: RegressionEvidence;
  /** Promotion needs the pooled equivalence test (`pooled`), or every stratum's. @default 'pooled' */
  promoteWhen?: 'pooled' | 'every-stratum';
  /** Names in reasons. @default ['canary', 'baseline'] */
  names?: readonly [canary: string, baseline: string];
}

/** What the judge concludes now. */
export interface SequentialVerdict {
  /** `rollback`: a regression beyond a margin is shown; `promote`: every judged metric is shown
   * within its margin; `continue`: neither yet. A rollback is final. */
  decision: 'rollback' | 'promote' | 'continue';
  /** The test that fired (`sequential error-rate test`), or null. For a promotion, the first metric's. */
  test: string | null;
  metric: string | null;
  /** The stratum whose test fired, or null for a pooled test (or none). */
  stratum: string | null;
  /** Calls of the test's scope when it fired (for a promotion: the last metric to be shown). */
  calls: { canary: number; baseline: number } | null;
  reason: string;
}

/**
 * Keeps every metric's sequential comparison. The chance of a false rollback over the judge's
 * life is at most 1 - confidence (split equally between metrics, then within each metric as
 * `SequentialComparison` says), however often `verdict()` is read. A promotion needs every
 * metric that has data to be shown within its margin (an intersection-union test, so each test
 * keeps the full 1 - confidence). Assumes that a version's calls are independent and alike
 * (per stratum), and that the order in which calls are observed does not depend on outcomes.
 * @example
 * const metrics = requestMetrics({ maxErrorRateIncrease: 0.005, maxLatencyRatio: 1.2 });
 * const judge = new SequentialJudge({ metrics, strata: ['/shop.Store/Read', '/shop.Store/Write'] });
 * judge.observe(0, '/shop.Store/Read', CANARY, failed ? 1 : 0); // errors
 * judge.observe(1, '/shop.Store/Read', CANARY, durationMs); // latency
 * if (judge.decision() === 'rollback') rollBack(judge.verdict().reason);
 */
export class SequentialJudge {
  readonly comparisons: readonly SequentialComparison[];
  readonly metrics: readonly SequentialMetric[];
  private readonly promoteWhen: 'pooled' | 'every-stratum';
  private readonly names: readonly [string, string];
  private sequence = 0;

  constructor(options: SequentialJudgeOptions) {
    const confidence =
      options.confidence === undefined
        ? 0.99
        : numberWhere('confidence', options.confidence, 'a number above 0.5 and below 1', (x) => x > 0.5 && x < 1);
    if (options.metrics.length === 0) throw rangeErrorAt('metrics', 'at least one metric', options.metrics);
    this.metrics = options.metrics.map(checkedMetric);
    this.promoteWhen = oneOf('promoteWhen', options.promoteWhen ?? 'pooled', ['pooled', 'every-stratum'] as const);
    this.names = options.names ?? ['canary', 'baseline'];
    const evidence = oneOf('evidence', options.evidence ?? 'beyond-margin', [
      'beyond-margin',
      'any-regression',
    ] as const);
    const alpha = 1 - confidence;
    this.comparisons = this.metrics.map(
      (metric) =>
        new SequentialComparison({
          kind: metric.kind,
          margin: metric.margin,
          regressionAlpha: alpha / this.metrics.length,
          equivalenceAlpha: alpha,
          evidence,
          ...(options.strata !== undefined && { strata: options.strata }),
          ...(options.spareStrata !== undefined && { spareStrata: options.spareStrata }),
        }),
    );
  }

  /** The index of the metric named `name` (for `observe`), or -1. */
  indexOf(name: string): number {
    return this.metrics.findIndex((metric) => metric.name === name);
  }

  /**
   * One call's value for metric number `metric`: 1 or 0 (failed or not) for a rate, a duration
   * for a latency. O(1), no allocation except when a test fires.
   */
  observe(metric: number, stratum: string, side: Side, value: number): void {
    this.comparisons[metric]!.observe(stratum, side, value, this.sequence++);
  }

  /** Starts every equivalence test afresh: call at each new step. Regression tests go on. */
  resetEquivalence(): void {
    for (const comparison of this.comparisons) comparison.resetEquivalence();
  }

  /** The decision now, without its reason: cheap enough to read after every call. */
  decision(): SequentialVerdict['decision'] {
    if (this.comparisons.some((comparison) => comparison.regression() !== null)) return 'rollback';
    return this.promotable() ? 'promote' : 'continue';
  }

  /** The verdict now, with its reason. */
  verdict(): SequentialVerdict {
    let first: { firing: Firing; metric: number } | null = null;
    this.comparisons.forEach((comparison, metric) => {
      const firing = comparison.regression();
      if (firing !== null && (first === null || firing.sequence < first.firing.sequence)) first = { firing, metric };
    });
    if (first !== null) return this.rollback(first);
    if (this.promotable()) return this.promotion(this.comparisons.filter((comparison) => comparison.judged));
    return {
      decision: 'continue',
      test: null,
      metric: null,
      stratum: null,
      calls: null,
      reason: pendingWords(this.metrics, this.comparisons),
    };
  }

  /** Every metric with data shown within its margin. */
  private promotable(): boolean {
    let judged = 0;
    for (const comparison of this.comparisons) {
      if (!comparison.judged) continue;
      if (!comparison.equivalence(this.promoteWhen)) return false;
      judged++;
    }
    return judged > 0;
  }

  private rollback({ firing, metric }: { firing: Firing; metric: number }): SequentialVerdict {
    const { name, kind } = this.metrics[metric]!;
    const comparison = this.comparisons[metric]!;
    return {
      decision: 'rollback',
      test: testName(kind),
      metric: name,
      stratum: firing.stratum,
      calls: firing.calls,
      reason: firingWords('regression', this.metrics[metric]!, comparison, firing, this.names),
    };
  }

  private promotion(judged: readonly SequentialComparison[]): SequentialVerdict {
    const words: string[] = [];
    let last: Firing | null = null;
    for (const comparison of judged) {
      const metric = this.metrics[this.comparisons.indexOf(comparison)]!;
      const firing = comparison.pooledEquivalence ?? comparison.strata[0]!.equivalenceFiring;
      if (firing === null) {
        words.push(`${metric.name}: every stratum within the margin (${testName(metric.kind)})`);
        continue;
      }
      if (last === null || firing.sequence > last.sequence) last = firing;
      words.push(firingWords('equivalence', metric, comparison, firing, this.names));
    }
    const metric = this.metrics[this.comparisons.indexOf(judged[0]!)]!;
    return {
      decision: 'promote',
      test: testName(metric.kind),
      metric: metric.name,
      stratum: null,
      calls: last?.calls ?? null,
      reason: words.join('; '),
    };
  }
}

function checkedMetric(metric: SequentialMetric, index: number): SequentialMetric {
  const field = `metrics[${index}]`;
  const kind = oneOf(`${field}.kind`, metric.kind, ['rate', 'latency'] as const);
  const margin =
    kind === 'rate'
      ? numberWhere(`${field}.margin`, metric.margin, 'a rate increase from 0 to below 1', (x) => x >= 0 && x < 1)
      : numberWhere(`${field}.margin`, metric.margin, 'a finite ratio >= 1', (x) => x >= 1 && Number.isFinite(x));
  return { name: nonEmptyString(`${field}.name`, metric.name), kind, margin };
}

/** The metrics of unary calls: errors (a rate) and latency. */
export function requestMetrics(margins: {
  maxErrorRateIncrease: number;
  maxLatencyRatio: number;
}): SequentialMetric[] {
  return [
    { name: 'errors', kind: 'rate', margin: margins.maxErrorRateIncrease },
    { name: 'latency', kind: 'latency', margin: margins.maxLatencyRatio },
  ];
}

/**
 * The metrics of streams, whose lifetime is not a latency: time to first message, mid-stream
 * failures (streams that failed after their first message, among streams) and, for server
 * streams, the gaps between messages (each gap one value).
 */
export function streamMetrics(margins: {
  maxErrorRateIncrease: number;
  maxLatencyRatio: number;
  gaps?: boolean;
}): SequentialMetric[] {
  return [
    { name: 'time to first message', kind: 'latency', margin: margins.maxLatencyRatio },
    { name: 'mid-stream failures', kind: 'rate', margin: margins.maxErrorRateIncrease },
    ...(margins.gaps === false
      ? []
      : [{ name: 'gaps between messages', kind: 'latency' as const, margin: margins.maxLatencyRatio }]),
  ];
}
