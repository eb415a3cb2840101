/**
 * Which open streams a rebalancing ends, under the weights in force: pure, no gRPC, no clock.
 *
 * - Subsets that no channel sees READY are left out: their streams are not counted and not
 *   ended (they are failing or about to), and no stream is moved towards them (it would be
 *   placed elsewhere again).
 * - A keyed stream whose key now maps to another subset is ended; it is counted where its key
 *   will take it. Pinned streams (route, rule) stay and count where they are.
 * - The N counted streams get integer targets per subset: `floor(share * N)`, plus one for as
 *   many subsets as the rounding leaves over, those most above their exact share first (so the
 *   fewest streams move). Weight-0 subsets get 0.
 * - On every subset above its target, just enough keyless streams are ended, oldest first, to
 *   bring it to its target (fewer when there are not enough keyless ones). Re-opened, they are
 *   placed only on subsets below their share (stream-starts.ts), so every subset ends within one
 *   stream of its share.
 * @module
 */
import { StreamPin, type StreamBook, type StreamRecord } from './stream-book.js';

/** What the plan needs besides the book. */
export interface PlanInputs {
  readonly weights: readonly number[];
  /** Whether some channel of the split has `subset` READY. */
  readonly ready: (subset: number) => boolean;
  /** The subset `key` maps to among `eligible` under `weights` (-1 when none). */
  readonly mapKey: (key: string, eligible: Int32Array) => number;
}

/** One stream to end: where it is and where it is expected to go. */
export interface PlannedEnd {
  readonly record: StreamRecord;
  readonly from: number;
  readonly to: number;
}

export interface RebalancePlan {
  /** How many streams the plan would end now. */
  readonly count: number;
  /** The first of them, or null. */
  readonly next: PlannedEnd | null;
}

const NOTHING: RebalancePlan = Object.freeze({ count: 0, next: null });

/** The plan for the open streams of `book` now. One pass over the subsets, then over the
 * streams of those above their share: kept whole so the counting and the choice read together. */
export function planRebalance(book: StreamBook, inputs: PlanInputs): RebalancePlan {
  const n = book.subsetCount;
  const { weights } = inputs;
  const counted: boolean[] = [];
  const eligibleList: number[] = [];
  for (let i = 0; i < n; i++) {
    counted.push(inputs.ready(i));
    if (counted[i] && weights[i]! > 0) eligibleList.push(i);
  }
  if (eligibleList.length === 0) return NOTHING;
  const eligible = Int32Array.from(eligibleList);
  const eligibleKey = eligibleList.join();
  const counts = new Array<number>(n).fill(0);
  const keyless = new Array<number>(n).fill(0);
  let movingKeyed: PlannedEnd | null = null;
  let movingCount = 0;
  for (let i = 0; i < n; i++) {
    if (!counted[i]) continue;
    for (const record of book.streamsOn(i)) {
      if (record.pin === StreamPin.Keyed && record.key !== undefined) {
        const to = keyTarget(record, record.key, inputs, eligible, eligibleKey);
        if (to >= 0 && to !== i && record.started && record.endedBySplit === null) {
          movingCount++;
          movingKeyed ??= { record, from: i, to };
          counts[to]!++;
          continue;
        }
      }
      counts[i]!++;
      if (record.pin === StreamPin.Keyless && record.started && record.endedBySplit === null) keyless[i]!++;
    }
  }
  const targets = integerTargets(counts, eligibleList, weights);
  let keylessCount = 0;
  let from = -1;
  let largestExcess = 0;
  for (let i = 0; i < n; i++) {
    const excess = Math.min(keyless[i]!, counts[i]! - targets[i]!);
    if (excess <= 0) continue;
    keylessCount += excess;
    if (excess > largestExcess) {
      largestExcess = excess;
      from = i;
    }
  }
  const count = movingCount + keylessCount;
  if (movingKeyed !== null) return { count, next: movingKeyed };
  if (from < 0) return NOTHING;
  return {
    count,
    next: { record: oldestKeyless(book, from)!, from, to: mostInDeficit(counts, targets, eligibleList) },
  };
}

/** Integer targets summing to the counted streams (see the module comment). */
export function integerTargets(
  counts: readonly number[],
  eligible: readonly number[],
  weights: readonly number[],
): number[] {
  const targets = new Array<number>(counts.length).fill(0);
  let total = 0;
  let weightSum = 0;
  for (const c of counts) total += c;
  for (const i of eligible) weightSum += weights[i]!;
  let assigned = 0;
  const exact: number[] = [];
  for (const i of eligible) {
    exact[i] = (weights[i]! * total) / weightSum;
    // The epsilon absorbs rounding in the division (0.7 * 20 / 1 = 13.999...).
    targets[i] = Math.floor(exact[i]! + 1e-9);
    assigned += targets[i]!;
  }
  const rest = eligible
    .filter((i) => exact[i]! - targets[i]! > 1e-9)
    .sort((a, b) => counts[b]! - exact[b]! - (counts[a]! - exact[a]!) || a - b);
  for (let k = 0; k < total - assigned && k < rest.length; k++) targets[rest[k]!]!++;
  return targets;
}

/** Where `key` maps now, from the record's memo while the weights and READY subsets are those it
 * was computed under. */
function keyTarget(
  record: StreamRecord,
  key: string,
  inputs: PlanInputs,
  eligible: Int32Array,
  eligibleKey: string,
): number {
  const memo = record.keyTarget;
  if (memo !== null && memo.key === key && memo.weights === inputs.weights && memo.eligible === eligibleKey)
    return memo.to;
  const to = inputs.mapKey(key, eligible);
  record.keyTarget = { key, weights: inputs.weights, eligible: eligibleKey, to };
  return to;
}

function oldestKeyless(book: StreamBook, subset: number): StreamRecord | undefined {
  for (const record of book.streamsOn(subset)) {
    if (record.pin === StreamPin.Keyless && record.started && record.endedBySplit === null) return record;
  }
  return undefined;
}

function mostInDeficit(counts: readonly number[], targets: readonly number[], eligible: readonly number[]): number {
  let best = eligible[0]!;
  for (const i of eligible) if (targets[i]! - counts[i]! > targets[best]! - counts[best]!) best = i;
  return best;
}
