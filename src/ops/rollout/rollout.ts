/**
 * Automated rollout of one subset, in process: raise its share step by step, judge each step on
 * the calls it served during that step, promote it to 100% after the last step or put the
 * weights back the moment a step fails (progressive delivery as Argo Rollouts and Flagger do it,
 * without a controller).
 * @module
 */
import { TrafficSplitClosedError, TrafficSplitRolloutError, rangeErrorAt, typeErrorAt } from '../../base/errors.js';
import { parseRolloutOptions, type ParsedRolloutOptions, type RolloutOptions } from './rollout-options.js';
import { checkNoiseWeight, type SplitHandle } from '../../split/ops-port.js';
import { RolloutRun } from './rollout-run.js';
import { sameWeights } from './rollout-plan.js';
import type { Rollout, RolloutComparison } from './rollout-types.js';

export type { RolloutAnalysis, RolloutFigures, RolloutOptions, RolloutStepStats } from './rollout-options.js';
export { DEFAULT_FAILURE_CODES } from './rollout-options.js';
export type { RolloutStepPlan } from './rollout-plan.js';
export type { RolloutShadowOptions, ShadowFigures, ShadowNoise, ShadowRecord } from './rollout-shadow.js';
export type * from './rollout-types.js';

/** The latest rollout of each split, running or done. */
const latestBySplit = new WeakMap<SplitHandle, RolloutRun>();

/**
 * Where the rollouts of a handle run when they do not run in this process: a fleet's rollout
 * runs on the replica its etcd election chose (see `grpc-traffic-split/fleet`), and every
 * replica's handle only follows it. @internal
 */
export interface RolloutHost {
  /** Starts a rollout whose options passed the checks of `startRollout()`; throws as it does. */
  start(options: RolloutOptions, parsed: ParsedRolloutOptions, previousWeights: Record<string, number>): Rollout;
  /** The handle's latest rollout, running or done. */
  latest(): Rollout | undefined;
}

const hostBySplit = new WeakMap<SplitHandle, RolloutHost>();

/** Makes `host` run and report the rollouts of `split`. @internal */
export function hostRollouts(split: SplitHandle, host: RolloutHost): void {
  hostBySplit.set(split, host);
}

function latestOf(split: SplitHandle): Rollout | undefined {
  const host = hostBySplit.get(split);
  return host === undefined ? latestBySplit.get(split) : host.latest();
}

/**
 * Starts a rollout of `options.subset` on `split`. Step k gives the subset `steps[k]` percent and the other
 * subsets share the rest in proportion to their weights when the rollout began. (A subset that already has
 * all the traffic is refused: the others are then all at 0, and a first step would move calls back onto
 * versions that may be gone.) After each `intervalMs` it judges the calls the subset finished during that
 * step (`split.mark()` / `stats({ since })`). A failed step puts back exactly the weights from before the
 * rollout; after the last step passes, the subset gets 100 and every other subset 0.
 *
 * Any weight change made outside the rollout (`setWeights()`, the admin endpoint, a weights
 * file) aborts it and stays in force: the operator's latest word wins over the automation.
 * Closing the split aborts it too. One rollout per split at a time.
 *
 * While a step runs, its timer keeps the process alive, so a script can simply
 * `await rollout.done`; a paused or finished rollout holds nothing.
 * @throws TrafficSplitTypeError / TrafficSplitRangeError for a bad option (nothing changes),
 * TrafficSplitRolloutError when a rollout is already running, TrafficSplitClosedError after
 * `split.close()`.
 * @example
 * const rollout = startRollout(split, {
 *   subset: 'v2',
 *   steps: [10, 50],
 *   intervalMs: 60_000,
 *   analysis: { maxErrorRate: 0.01, minCalls: 100 },
 * });
 * rollout.on('verdict', (r) => console.log(`step ${r.step}: ${r.verdict} (${r.reason})`));
 * const { outcome } = await rollout.done; // 'promoted' | 'rolled-back' | 'aborted'
 */
export function startRollout(split: SplitHandle, options: RolloutOptions): Rollout {
  if (split.closed) throw new TrafficSplitClosedError(split.name, 'startRollout()');
  const parsed = parseRolloutOptions(options, split.subsets);
  const current = activeRollout(split);
  if (current !== undefined) {
    throw new TrafficSplitRolloutError(
      `split "${split.name}" already has a rollout of "${current.subset}" ${current.state} ` +
        `(step ${current.step + 1} of ${current.plan.length}); abort it or wait for it to end`,
    );
  }
  const previous = startingWeights(split, parsed.methods);
  if (Object.entries(previous).every(([name, weight]) => (name === parsed.subset) === weight > 0)) {
    // Rolling out a subset that already has every call would first move traffic back off it.
    throw rangeErrorAt(
      'subset',
      `a subset that does not already have all the traffic (weights ${JSON.stringify(previous)})`,
      parsed.subset,
    );
  }
  if (parsed.shadow !== null && previous[parsed.subset] !== 0) {
    // The phase is meant to run before any real call reaches the subset.
    throw rangeErrorAt(
      'subset',
      `a subset at weight 0 when a rollout with a shadow phase starts (weights ${JSON.stringify(previous)})`,
      parsed.subset,
    );
  }
  // Checked now: the phase's setMirror() must not throw once the rollout runs.
  checkNoiseWeight(parsed.shadow?.noise ?? undefined, previous, 'shadow.noise.subset');
  const twin = parsed.experimentBaseline;
  if (twin !== null && previous[twin] !== 0) {
    // Its old weight is what a rollback restores: a baseline already serving would keep serving.
    throw rangeErrorAt(
      'baseline',
      `a subset at weight 0 when the rollout starts (weights ${JSON.stringify(previous)})`,
      twin,
    );
  }
  const host = hostBySplit.get(split);
  if (host !== undefined && parsed.methods !== null)
    throw typeErrorAt('methods', 'no methods on a fleet rollout (a fleet does not share method weights)', 'set');
  if (host !== undefined) return host.start(options, parsed, previous);
  const rollout = new RolloutRun(split, parsed, previous);
  // Started first: a rollout whose first step throws is not left as the split's running one.
  rollout.start();
  latestBySplit.set(split, rollout);
  return rollout;
}

/** The split's rollout that is running or paused, if any. */
export function activeRollout(split: SplitHandle): Rollout | undefined {
  const latest = latestOf(split);
  return latest !== undefined && latest.state !== 'done' ? latest : undefined;
}

/** The split's most recent rollout, finished or not. @internal */
export function latestRollout(split: SplitHandle): Rollout | undefined {
  return latestOf(split);
}

/**
 * The comparison with its baseline of the last compared step of the split's latest rollout
 * (what `/metrics` and OpenTelemetry report). Takes any object so the metrics can ask without
 * holding a `SplitHandle` type. @internal
 */
export function lastComparison(split: object): RolloutComparison | undefined {
  const history = latestOf(split as SplitHandle)?.toJSON().history ?? [];
  for (let i = history.length - 1; i >= 0; i--)
    if (history[i]!.comparison !== undefined) return history[i]!.comparison;
  return undefined;
}

/** The weights a rollout starts from: the split's, or those its methods share (they must agree). */
function startingWeights(split: SplitHandle, methods: readonly string[] | null): Record<string, number> {
  if (methods === null) return split.getWeights();
  const first = split.getWeights(methods[0]);
  methods.forEach((method, i) => {
    const weights = split.getWeights(method);
    if (!sameWeights(weights, first))
      throw rangeErrorAt(
        `methods[${i}]`,
        `a method with the same weights as ${methods[0]} (${JSON.stringify(first)}), not ${JSON.stringify(weights)}`,
        method,
      );
  });
  return first;
}
