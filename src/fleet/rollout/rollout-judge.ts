/**
 * Judging one window of a fleet rollout: the same checks, in the same order and with the same
 * words, as a rollout in one process (src/ops/rollout/rollout-run.ts), on the fleet's summed figures.
 * There is no `judge` function here: a fleet rollout runs on whichever replica leads, and a
 * function cannot travel through etcd.
 * @module
 */
import {
  checkFigures,
  compareWithBaseline,
  failsBeforeMinCalls,
  measure,
  type StepVerdict,
} from '../../ops/rollout/rollout-analysis.js';
import type { ParsedRolloutOptions, RolloutFigures } from '../../ops/rollout/rollout-options.js';
import type { RolloutComparison } from '../../ops/rollout/rollout-types.js';
import type { SplitStats } from '../../split/fleet-port.js';

export type WindowDecision =
  /** Too few calls yet: wait one more interval (the window grows). */
  | { kind: 'wait'; figures: RolloutFigures }
  | { kind: 'verdict'; figures: RolloutFigures; verdict: StepVerdict; comparison?: RolloutComparison };

/** The decision on `window` (the fleet's `stats({ since })` over the step), `waited` intervals in. */
export function judgeWindow(
  window: SplitStats,
  subset: string,
  options: ParsedRolloutOptions,
  periodMs: number,
  waited: number,
): WindowDecision {
  const figures = measure(window, subset, options.failureCodes, periodMs, waited);
  const { baseline } = options;
  // minCalls applies to both sides of a comparison: the smaller sample decides.
  const judgedCalls = baseline === null ? figures.calls : Math.min(figures.calls, window.subsets[baseline]!.finished);
  if (judgedCalls < options.minCalls) {
    const early = failsBeforeMinCalls(figures, options);
    if (early !== null) return { kind: 'verdict', figures, verdict: early };
    if (waited < options.maxWaitIntervals) return { kind: 'wait', figures };
    const waitedWords = `${waited} extra interval${waited === 1 ? '' : 's'}`;
    const counted =
      baseline === null
        ? `${figures.calls}`
        : `${figures.calls} on ${subset} and ${window.subsets[baseline]!.finished} on ${baseline}`;
    return {
      kind: 'verdict',
      figures,
      verdict: {
        verdict: 'fail',
        reason: `too few calls: ${counted} of minCalls ${options.minCalls} after ${waitedWords}`,
      },
    };
  }
  const checked = checkFigures(figures, options);
  if (baseline === null) return { kind: 'verdict', figures, verdict: checked };
  const comparison = compareWithBaseline(window, subset, baseline, options);
  const verdict =
    checked.verdict === 'pass'
      ? comparison.verdict === 'pass'
        ? { verdict: 'pass' as const, reason: `${checked.reason}; ${comparison.reason}` }
        : comparison
      : checked;
  return { kind: 'verdict', figures, verdict: { verdict: verdict.verdict, reason: verdict.reason }, comparison };
}
