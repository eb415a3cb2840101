/**
 * The sequential judge's reasons, in words: which test fired, in which stratum, on what figures.
 * @module
 */
import { BASELINE, CANARY } from './blocks.js';
import type { MarginTests, MetricKind } from './margin-tests.js';
import type { Firing, SequentialComparison, SequentialMetric, SideCounts } from './sequential-comparison.js';

/** The name of a metric kind's test, as reasons and verdicts give it. */
export function testName(kind: MetricKind): string {
  return kind === 'rate' ? 'sequential error-rate test' : 'sequential latency test';
}

/**
 * `errors in /shop.Store/List: v2 20% (40 of 200) vs v1 0.2% (1 of 500): increase above 0.5%
 * shown by the sequential error-rate test (e-value 212 >= 200) after 200 v2 and 500 v1 calls`.
 */
export function firingWords(
  direction: 'regression' | 'equivalence',
  metric: SequentialMetric,
  comparison: SequentialComparison,
  firing: Firing,
  [canary, baseline]: readonly [string, string],
): string {
  const state = firing.stratum === null ? null : comparison.strata.find((each) => each.name === firing.stratum)!;
  const counts: SideCounts = state ?? comparison;
  const tests = state?.tests ?? comparison.pooled ?? comparison.strata[0]!.tests;
  const test = direction === 'regression' ? tests.regression : tests.equivalence;
  const where = firing.stratum === null ? metric.name : `${metric.name} in ${firing.stratum}`;
  const shown = claim(direction, metric, tests, [canary, baseline]);
  return (
    `${where}: ${figures(metric, counts, tests, [canary, baseline])}: ${shown} shown by the ` +
    `${testName(metric.kind)} (e-value ${round(firing.eValue)} >= ${round(1 / test.alpha)}) ` +
    `after ${firing.calls.canary} ${canary} and ${firing.calls.baseline} ${baseline} calls`
  );
}

/** `no decision yet: errors e-values 1.3 (regression), 12 (equivalence); latency ...`. */
export function pendingWords(
  metrics: readonly SequentialMetric[],
  comparisons: readonly SequentialComparison[],
): string {
  const parts = metrics.map((metric, index) => {
    const comparison = comparisons[index]!;
    if (!comparison.judged) return `${metric.name}: no calls of both versions yet`;
    const tests = comparison.pooled ?? comparison.strata[0]!.tests;
    return (
      `${metric.name}: e-values ${round(tests.regression.eValue)} (regression), ` +
      `${round(tests.equivalence.eValue)} (equivalence)`
    );
  });
  return `no decision yet: ${parts.join('; ')}`;
}

/** What the test showed: `increase above 0.5%`, `v2 not slower than 1.2 x v1`. */
function claim(
  direction: 'regression' | 'equivalence',
  metric: SequentialMetric,
  tests: MarginTests,
  [canary, baseline]: readonly [string, string],
): string {
  const anyRegression = direction === 'regression' && tests.evidence === 'any-regression';
  if (metric.kind === 'rate') {
    if (anyRegression) return `an increase (estimated ${percent(tests.estimate)} > ${percent(metric.margin)})`;
    return `increase ${direction === 'regression' ? 'above' : 'below'} ${percent(metric.margin)}`;
  }
  if (anyRegression) return `${canary} slower than ${baseline}`;
  return `${canary} ${direction === 'regression' ? 'slower' : 'not slower'} than ${metric.margin} x ${baseline}`;
}

function figures(
  metric: SequentialMetric,
  counts: SideCounts,
  tests: MarginTests,
  [canary, baseline]: readonly [string, string],
): string {
  if (metric.kind === 'latency') {
    return `${canary} slower than ${metric.margin} x ${baseline} in ${percent(tests.estimate)} of pairs`;
  }
  const side = (name: string, index: number): string => {
    const calls = counts.calls[index]!;
    const failures = counts.failures[index]!;
    return `${name} ${percent(calls > 0 ? failures / calls : 0)} (${failures} of ${calls})`;
  };
  return `${side(canary, CANARY)} vs ${side(baseline, BASELINE)}`;
}

function percent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(3))}%`;
}

/** Three significant digits, at most. */
function round(x: number): string {
  return x >= 1e6 ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}
