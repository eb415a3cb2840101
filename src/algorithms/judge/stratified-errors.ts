/**
 * Fixed-sample error-rate tests across strata (methods): Cochran-Mantel-Haenszel over all
 * strata, one-sided Fisher exact per stratum, and Holm's correction over the lot, so a
 * regression of one rarely called method is found and named, and a different mix of methods
 * between the versions makes no false difference (Simpson's paradox).
 * @module
 */
import { fisherExactGreater, normalUpperTail } from '../stats-tests.js';

/** One stratum's 2x2 table: failures among calls of each version. */
export interface ErrorStratum {
  stratum: string;
  canaryFailures: number;
  canaryCalls: number;
  baselineFailures: number;
  baselineCalls: number;
}

/** The one-sided Cochran-Mantel-Haenszel test of "the canary fails more often, stratum by stratum". */
export interface CmhResult {
  /** Normal score, with a continuity correction of 1/2 (0 when no stratum varies). */
  z: number;
  pValue: number;
  /** Mantel-Haenszel common risk difference, weights n_c·n_b/N (canary minus baseline); 0 without weight. */
  riskDifference: number;
  /** Mantel-Haenszel common odds ratio of failing on the canary; NaN when undefined. */
  oddsRatio: number;
}

/**
 * One-sided CMH test (Mantel and Haenszel 1959): the canary's failures summed over strata
 * against their sum under "failures fall on either version alike within each stratum", with
 * the hypergeometric variance of each stratum. Assumes independent calls within a stratum and
 * an effect of the same sign in every stratum (it has little power against opposite effects).
 */
export function cochranMantelHaenszelGreater(strata: readonly ErrorStratum[]): CmhResult {
  let excess = 0;
  let variance = 0;
  let differenceSum = 0;
  let weightSum = 0;
  let oddsUp = 0;
  let oddsDown = 0;
  for (const s of strata) {
    const total = s.canaryCalls + s.baselineCalls;
    if (s.canaryCalls === 0 || s.baselineCalls === 0) continue;
    const failures = s.canaryFailures + s.baselineFailures;
    excess += s.canaryFailures - (s.canaryCalls * failures) / total;
    variance += (s.canaryCalls * s.baselineCalls * failures * (total - failures)) / (total * total * (total - 1));
    const weight = (s.canaryCalls * s.baselineCalls) / total;
    differenceSum += weight * (s.canaryFailures / s.canaryCalls - s.baselineFailures / s.baselineCalls);
    weightSum += weight;
    oddsUp += (s.canaryFailures * (s.baselineCalls - s.baselineFailures)) / total;
    oddsDown += ((s.canaryCalls - s.canaryFailures) * s.baselineFailures) / total;
  }
  const riskDifference = weightSum > 0 ? differenceSum / weightSum : 0;
  const oddsRatio = oddsDown > 0 ? oddsUp / oddsDown : oddsUp > 0 ? Infinity : NaN;
  if (!(variance > 0)) return { z: 0, pValue: 1, riskDifference, oddsRatio };
  const z = (excess - 0.5) / Math.sqrt(variance);
  return { z, pValue: normalUpperTail(z), riskDifference, oddsRatio };
}

/**
 * Holm's step-down adjustment (Holm 1979): the adjusted p-values, in the input's order, such
 * that rejecting every hypothesis whose adjusted p-value is below alpha keeps the chance of any
 * false rejection below alpha, whatever the dependence between the tests.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const order = pValues.map((_, index) => index).sort((a, b) => pValues[a]! - pValues[b]!);
  const adjusted = new Array<number>(pValues.length);
  let running = 0;
  order.forEach((index, rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * pValues[index]!));
    adjusted[index] = running;
  });
  return adjusted;
}

/** One stratum's (or the pooled) fixed test. */
export interface StratumTest {
  /** The stratum, or null for the test over all strata. */
  stratum: string | null;
  pValue: number;
  /** Holm-adjusted over the pooled test and every stratum's. */
  adjustedPValue: number;
  /** Error-rate increase (canary minus baseline), or the ratio of medians for latency. */
  effect: number;
  /** Adjusted p-value below alpha and effect beyond the margin. */
  failed: boolean;
}

/** The outcome of `judgeStratifiedErrors()`. */
export interface StratifiedResult {
  failed: boolean;
  /** The pooled test first, then one per stratum, in the input's order. */
  tests: StratumTest[];
  /** The tests that failed, the pooled one as null. */
  failing: (string | null)[];
}

/**
 * Errors judged across strata: the CMH test (effect: the MH risk difference) and a one-sided
 * Fisher exact test per stratum (effect: its increase), Holm-adjusted together. A test fails
 * when its adjusted p-value is below `alpha` and its effect exceeds `maxIncrease`, as the
 * unstratified judge asks of its one test.
 */
export function judgeStratifiedErrors(
  strata: readonly ErrorStratum[],
  { alpha, maxIncrease }: { alpha: number; maxIncrease: number },
): StratifiedResult {
  const cmh = cochranMantelHaenszelGreater(strata);
  const raw: RawTest[] = [{ stratum: null, pValue: cmh.pValue, effect: cmh.riskDifference }];
  for (const s of strata) {
    const { pValue } = fisherExactGreater(s.canaryFailures, s.canaryCalls, s.baselineFailures, s.baselineCalls);
    const increase = rate(s.canaryFailures, s.canaryCalls) - rate(s.baselineFailures, s.baselineCalls);
    raw.push({ stratum: s.stratum, pValue, effect: increase });
  }
  return verdicts(raw, alpha, (effect) => effect > maxIncrease);
}

/** A test before Holm's adjustment. @internal */
export interface RawTest {
  stratum: string | null;
  pValue: number;
  effect: number;
}

/** Holm over `raw`, then the failing rule of each test. @internal */
export function verdicts(
  raw: readonly RawTest[],
  alpha: number,
  beyond: (effect: number) => boolean,
): StratifiedResult {
  const adjusted = holmAdjust(raw.map((each) => each.pValue));
  const tests = raw.map((each, index) => ({
    ...each,
    adjustedPValue: adjusted[index]!,
    failed: adjusted[index]! < alpha && beyond(each.effect),
  }));
  const failing = tests.filter((each) => each.failed).map((each) => each.stratum);
  return { failed: failing.length > 0, tests, failing };
}

function rate(failures: number, calls: number): number {
  return calls > 0 ? failures / calls : 0;
}
