/**
 * The weights of each rollout step, computed once when the rollout starts. Pure: no split, no
 * timer.
 * @module
 */

/** One step of a rollout plan. */
export interface RolloutStepPlan {
  /** 0-based step index. */
  step: number;
  /** The rolled-out subset's share in percent. */
  percent: number;
  /** The weights the step sets (they sum to 100). */
  weights: Record<string, number>;
}

/**
 * The weights of every step: `subset` gets `percent`, and the other subsets share the rest in
 * proportion to their weights in `baseline` (the weights when the rollout began), or evenly
 * when those were all 0. Weights are rounded to 1e-6 so plans read well in JSON; only ratios
 * matter to the split.
 * @internal
 */
export function planRollout(
  subset: string,
  steps: readonly number[],
  baseline: Record<string, number>,
  twin: string | null = null,
): RolloutStepPlan[] {
  return steps.map((percent, step) => ({ step, percent, weights: stepWeights(subset, percent, baseline, twin) }));
}

/**
 * The weights of one step; see `planRollout`. `twin` (baseline experiment mode) gets the same
 * share as `subset`, and the other subsets share what is left. @internal
 */
export function stepWeights(
  subset: string,
  percent: number,
  baseline: Record<string, number>,
  twin: string | null = null,
): Record<string, number> {
  const others = Object.keys(baseline).filter((name) => name !== subset && name !== twin);
  const otherTotal = others.reduce((sum, name) => sum + baseline[name]!, 0);
  const rest = 100 - (twin === null ? percent : 2 * percent);
  const weights: Record<string, number> = {};
  // Keys in the split's order, so a plan prints the way the split declares its subsets.
  for (const name of Object.keys(baseline)) {
    if (name === subset || name === twin) weights[name] = percent;
    // Evenly when the others are all at 0 (startRollout refuses that case; this keeps the
    // function total instead of dividing by zero).
    else weights[name] = round(otherTotal > 0 ? (rest * baseline[name]!) / otherTotal : rest / others.length);
  }
  return weights;
}

/** The weights after a promotion: the subset at 100, every other subset at 0. @internal */
export function promotedWeights(subset: string, baseline: Record<string, number>): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const name of Object.keys(baseline)) weights[name] = name === subset ? 100 : 0;
  return weights;
}

/** True when both records give every subset the same weight. @internal */
export function sameWeights(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function round(weight: number): number {
  return Math.round(weight * 1e6) / 1e6;
}
