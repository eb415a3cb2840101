/**
 * Judging a canary against its baseline over the same interval: errors by a one-sided Fisher
 * exact test and an absolute bound on the increase, latency by a one-sided Mann-Whitney U test on
 * the latency histograms and a bound on the ratio of medians. A comparison fails only when the
 * difference is both significant and large enough to matter. Pure: no split, no clock.
 * @module
 */
import { numberWhere } from '../../base/validate.js';
import { Status } from '../../split/ops-port.js';
import { fisherExactGreater, histogramQuantile, mannWhitneyGreater } from '../../algorithms/stats-tests.js';
import type { StatusName, SubsetStats } from '../../split/ops-port.js';
import { judgeStratifiedErrors, type StratumTest } from '../../algorithms/judge/stratified-errors.js';
import { judgeStratifiedLatency } from '../../algorithms/judge/stratified-latency.js';
import { answerHistogram, type LatencySource } from './judged-latency.js';
import { windowProblem } from './canary-window-check.js';

/** The part of one method's (or a whole subset's) figures the comparison reads. */
export type CanaryFigures = Pick<SubsetStats, 'finished' | 'codes'> & LatencySource;

/** The part of a `SubsetStats` window the comparison reads (`methods`: to stratify by method).
 * Latency is the time to the first answer (see judged-latency.ts). */
export type CanaryWindow = CanaryFigures & { methods?: Record<string, CanaryFigures> | undefined };

/** Options of `judgeCanary()`. */
export interface CanaryJudgeOptions {
  /** One minus the accepted chance of a false alarm per comparison, from 0.5 to 0.999999. @default 0.99 */
  confidence?: number;
  /** Smallest absolute increase of the error rate that fails the canary (0.005 = half a percentage point).
   * @default 0.005 */
  maxErrorRateIncrease?: number;
  /** Largest accepted ratio of the canary's median latency to the baseline's. @default 1.2 */
  maxLatencyRatio?: number;
  /** Status codes counted as failures (numbers). @default the rollout's `DEFAULT_FAILURE_CODES` */
  failureCodes?: ReadonlySet<number>;
  /** Names used in the reason. @default ['canary', 'baseline'] */
  names?: readonly [canary: string, baseline: string];
  /**
   * Judge each method against the same method when both windows carry per-method figures
   * (`methods`, with at least two methods called): errors by Cochran-Mantel-Haenszel and a Fisher
   * test per method, latency by van Elteren and a Mann-Whitney test per method, Holm-adjusted
   * together, the failing methods named. A regression of one rarely called method is then found,
   * and a different mix of methods on the two sides makes no false difference. @default true
   */
  stratify?: boolean;
}

/** One subset's side of a comparison. */
export interface CanarySide {
  calls: number;
  failures: number;
  errorRate: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

/** The outcome of `judgeCanary()`. */
export interface CanaryVerdict {
  verdict: 'pass' | 'fail';
  /** `latency: v2 median 24.8 ms vs v1 9.9 ms (x2.5 > 1.2), Mann-Whitney p < 0.001`. */
  reason: string;
  canary: CanarySide;
  baseline: CanarySide;
  errors: {
    /** One-sided Fisher exact p-value (canary fails more often). */
    pValue: number;
    /** Canary error rate minus the baseline's (the effect size). */
    increase: number;
    failed: boolean;
  };
  latency: {
    /** Mann-Whitney U of the canary and its normal score. */
    u: number;
    z: number;
    /** One-sided p-value (canary slower). */
    pValue: number;
    /** Canary median over baseline median (the effect size); null without latencies. */
    medianRatio: number | null;
    failed: boolean;
  };
  /** The per-method tests, when the comparison was stratified (null otherwise): the pooled test
   * first (stratum null), then one per method. */
  stratified: { errors: StratumTest[]; latency: StratumTest[] } | null;
}

/** The rollout's `DEFAULT_FAILURE_CODES` (rollout-options.ts imports this file, so not imported
 * from there; test/adversary-judge.test.ts checks that they agree). */
const DEFAULT_CODES: ReadonlySet<number> = new Set(
  (
    [
      'UNKNOWN',
      'INTERNAL',
      'UNIMPLEMENTED',
      'UNAVAILABLE',
      'DEADLINE_EXCEEDED',
      'DATA_LOSS',
      'RESOURCE_EXHAUSTED',
    ] as StatusName[]
  ).map((name) => Status[name]),
);

/** Defaults of `judgeCanary()`. */
export const DEFAULT_CONFIDENCE = 0.99;
export const DEFAULT_MAX_ERROR_RATE_INCREASE = 0.005;
export const DEFAULT_MAX_LATENCY_RATIO = 1.2;

/**
 * Compares two windows of calls (usually `stats({ since: mark }).subsets[name]` of the canary
 * and of its baseline, over the same interval). The canary fails when its error rate is
 * significantly higher (one-sided Fisher exact, p < 1 - confidence) AND higher by more than
 * `maxErrorRateIncrease`, or when its latencies are significantly greater (one-sided
 * Mann-Whitney U, ties per histogram bucket) AND its median is more than `maxLatencyRatio` times
 * the baseline's. Assumes independent calls; latencies are compared at the histogram's
 * resolution (about 9%). Figures it cannot read (NaN or negative counts, more failures than calls)
 * fail the canary, the reason naming the field and value.
 * @throws TrafficSplitTypeError / TrafficSplitRangeError for an option out of range.
 * @example
 * const w = split.stats({ since: mark });
 * const { verdict, reason } = judgeCanary(w.subsets.v2, w.subsets.v1, { names: ['v2', 'v1'] });
 */
export function judgeCanary(
  canary: CanaryWindow,
  baseline: CanaryWindow,
  options: CanaryJudgeOptions = {},
): CanaryVerdict {
  const confidence = checked(
    options.confidence,
    'confidence',
    'a number above 0.5 and below 1',
    DEFAULT_CONFIDENCE,
    (x) => x > 0.5 && x < 1,
  );
  const maxIncrease = checked(
    options.maxErrorRateIncrease,
    'maxErrorRateIncrease',
    'a number from 0 to 1',
    DEFAULT_MAX_ERROR_RATE_INCREASE,
    (x) => x >= 0 && x <= 1,
  );
  const maxRatio = checked(
    options.maxLatencyRatio,
    'maxLatencyRatio',
    'a finite number >= 1',
    DEFAULT_MAX_LATENCY_RATIO,
    (x) => x >= 1,
  );
  const codes = options.failureCodes ?? DEFAULT_CODES;
  const [canaryName, baselineName] = options.names ?? ['canary', 'baseline'];
  const alpha = 1 - confidence;
  const unreadable = windowProblem(canary, 'canary') ?? windowProblem(baseline, 'baseline');
  if (unreadable !== null) return unreadableVerdict(unreadable);
  const c = side(canary, codes);
  const b = side(baseline, codes);
  const strata = options.stratify === false ? null : methodStrata(canary, baseline);
  if (strata !== null) {
    const verdict = stratifiedVerdict(strata, c, b, codes, {
      alpha,
      maxIncrease,
      maxRatio,
      names: [canaryName, baselineName],
    });
    verdict.reason += oneSidedWords(strata, codes, [canaryName, baselineName]);
    return verdict;
  }

  const fisher = fisherExactGreater(c.failures, c.calls, b.failures, b.calls);
  const increase = c.errorRate - b.errorRate;
  const errorsFailed = fisher.pValue < alpha && increase > maxIncrease;

  const mw = mannWhitneyGreater(answerHistogram(canary), answerHistogram(baseline));
  const medianRatio = c.p50Ms !== null && b.p50Ms !== null && b.p50Ms > 0 ? c.p50Ms / b.p50Ms : null;
  const latencyFailed = mw.pValue < alpha && medianRatio !== null && medianRatio > maxRatio;

  const errorWords =
    `errors: ${canaryName} ${percent(c.errorRate)} (${c.failures} of ${c.calls}) ` +
    `vs ${baselineName} ${percent(b.errorRate)} (${b.failures} of ${b.calls}) ` +
    `(+${percent(Math.max(0, increase))} ${increase > maxIncrease ? '>' : '<='} ${percent(maxIncrease)}), ` +
    `Fisher ${pWords(fisher.pValue)}`;
  const latencyWords =
    medianRatio === null
      ? 'latency: no latencies to compare'
      : `latency: ${canaryName} median ${c.p50Ms} ms vs ${baselineName} ${b.p50Ms} ms ` +
        `(x${round(medianRatio, 2)} ${medianRatio > maxRatio ? '>' : '<='} ${maxRatio}), ` +
        `Mann-Whitney ${pWords(mw.pValue)}`;
  const failed = [errorsFailed && errorWords, latencyFailed && latencyWords].filter(
    (words): words is string => typeof words === 'string',
  );
  return {
    verdict: failed.length > 0 ? 'fail' : 'pass',
    reason: failed.length > 0 ? failed.join('; ') : `${errorWords}; ${latencyWords}`,
    canary: c,
    baseline: b,
    errors: { pValue: fisher.pValue, increase, failed: errorsFailed },
    latency: { u: mw.u, z: mw.z, pValue: mw.pValue, medianRatio, failed: latencyFailed },
    stratified: null,
  };
}

/** Figures no test can read fail the canary: never promoted on them. */
function unreadableVerdict(problem: string): CanaryVerdict {
  const none: CanarySide = { calls: 0, failures: 0, errorRate: 0, p50Ms: null, p90Ms: null, p99Ms: null };
  return {
    verdict: 'fail',
    reason: `unreadable figures: ${problem}`,
    canary: none,
    baseline: none,
    errors: { pValue: 1, increase: 0, failed: false },
    latency: { u: NaN, z: NaN, pValue: 1, medianRatio: null, failed: false },
    stratified: null,
  };
}

type Stratum = readonly [method: string, canary: CanaryFigures, baseline: CanaryFigures];

/** The methods both windows count (with calls on either side), or null when fewer than two:
 * with one method, stratifying changes nothing. */
function methodStrata(canary: CanaryWindow, baseline: CanaryWindow): Stratum[] | null {
  if (canary.methods === undefined || baseline.methods === undefined) return null;
  const empty: CanaryFigures = { finished: 0, codes: {}, latencyHistogram: [] };
  const names = new Set([...Object.keys(canary.methods), ...Object.keys(baseline.methods)]);
  const strata: Stratum[] = [];
  for (const name of names) {
    const c = canary.methods[name] ?? empty;
    const b = baseline.methods[name] ?? empty;
    if (c.finished + b.finished > 0) strata.push([name, c, b]);
  }
  return strata.length >= 2 ? strata : null;
}

/** The methods only one side served, which no test can compare: named, so that a method a rule
 * sends to the canary alone is not passed in silence (`; not compared (one side only): ...`). */
function oneSidedWords(
  strata: readonly Stratum[],
  codes: ReadonlySet<number>,
  names: readonly [string, string],
): string {
  const words: string[] = [];
  for (const [method, canary, baseline] of strata) {
    if (canary.finished > 0 && baseline.finished > 0) continue;
    const [name, figures] = canary.finished > 0 ? [names[0], canary] : [names[1], baseline];
    words.push(`${method} (${name}: ${figures.finished} calls, ${side(figures, codes).failures} failed)`);
  }
  return words.length === 0 ? '' : `; not compared (one side only): ${words.join(', ')}`;
}

/** `judgeCanary()` stratified by method. */
function stratifiedVerdict(
  strata: readonly Stratum[],
  c: CanarySide,
  b: CanarySide,
  codes: ReadonlySet<number>,
  {
    alpha,
    maxIncrease,
    maxRatio,
    names,
  }: { alpha: number; maxIncrease: number; maxRatio: number; names: readonly [string, string] },
): CanaryVerdict {
  const sides = strata.map(([name, canary, baseline]) => [name, side(canary, codes), side(baseline, codes)] as const);
  const errors = judgeStratifiedErrors(
    sides.map(([stratum, cs, bs]) => ({
      stratum,
      canaryFailures: cs.failures,
      canaryCalls: cs.calls,
      baselineFailures: bs.failures,
      baselineCalls: bs.calls,
    })),
    { alpha, maxIncrease },
  );
  const latency = judgeStratifiedLatency(
    strata.map(([stratum, canary, baseline]) => ({
      stratum,
      canary: answerHistogram(canary),
      baseline: answerHistogram(baseline),
    })),
    { alpha, maxRatio },
  );
  const [canaryName, baselineName] = names;
  const byMethod = new Map(sides.map(([name, cs, bs]) => [name, { cs, bs }]));
  const errorWords = (test: StratumTest): string => {
    if (test.stratum === null)
      return `errors of every method (Cochran-Mantel-Haenszel): +${percent(Math.max(0, test.effect))} ${test.effect > maxIncrease ? '>' : '<='} ${percent(maxIncrease)}, ${pWords(test.adjustedPValue)} (Holm)`;
    const { cs, bs } = byMethod.get(test.stratum)!;
    return (
      `errors of ${test.stratum}: ${canaryName} ${percent(cs.errorRate)} (${cs.failures} of ${cs.calls}) ` +
      `vs ${baselineName} ${percent(bs.errorRate)} (${bs.failures} of ${bs.calls}), Fisher ${pWords(test.adjustedPValue)} (Holm)`
    );
  };
  const latencyWords = (test: StratumTest): string => {
    const ratio = Number.isFinite(test.effect) ? `x${round(test.effect, 2)}` : 'no latencies';
    const scope = test.stratum === null ? 'every method (van Elteren)' : `${test.stratum} (Mann-Whitney)`;
    return `latency of ${scope}: median ${ratio} ${test.effect > maxRatio ? '>' : '<='} ${maxRatio}, ${pWords(test.adjustedPValue)} (Holm)`;
  };
  const failed = [
    ...errors.tests.filter((t) => t.failed).map(errorWords),
    ...latency.tests.filter((t) => t.failed).map(latencyWords),
  ];
  const pooledErrors = errors.tests[0]!;
  const pooledLatency = latency.tests[0]!;
  const medianRatio = Number.isFinite(pooledLatency.effect) ? pooledLatency.effect : null;
  return {
    verdict: failed.length > 0 ? 'fail' : 'pass',
    reason:
      failed.length > 0
        ? failed.join('; ')
        : `stratified by ${strata.length} methods: ${errorWords(pooledErrors)}; ${latencyWords(pooledLatency)}`,
    canary: c,
    baseline: b,
    errors: { pValue: pooledErrors.pValue, increase: pooledErrors.effect, failed: errors.failed },
    latency: { u: NaN, z: NaN, pValue: pooledLatency.pValue, medianRatio, failed: latency.failed },
    stratified: { errors: errors.tests, latency: latency.tests },
  };
}

/** An option's value, or its default; throws with the library's template when out of range. */
function checked(
  raw: unknown,
  field: string,
  expectation: string,
  fallback: number,
  valid: (x: number) => boolean,
): number {
  return raw === undefined ? fallback : numberWhere(field, raw, expectation, valid);
}

function side(window: CanaryFigures, codes: ReadonlySet<number>): CanarySide {
  let failures = 0;
  for (const [name, count] of Object.entries(window.codes))
    if (codes.has(Status[name as StatusName])) failures += count ?? 0;
  const histogram = answerHistogram(window);
  return {
    calls: window.finished,
    failures,
    errorRate: window.finished > 0 ? failures / window.finished : 0,
    p50Ms: histogramQuantile(histogram, 0.5),
    p90Ms: histogramQuantile(histogram, 0.9),
    p99Ms: histogramQuantile(histogram, 0.99),
  };
}

/** `p < 0.001` below a thousandth, else `p = 0.042`. */
function pWords(p: number): string {
  return p < 0.001 ? 'p < 0.001' : `p = ${round(p, 3)}`;
}

function percent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(3))}%`;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
