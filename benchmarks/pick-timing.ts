/**
 * Timing loops for pickers, one per picker kind so each loop stays monomorphic for the JIT.
 * Setup (building the schedule or the cumulative weights) is never inside the timed part.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { WeightedSchedule } from '../src/index.js';
import { pickBinary, pickLinear } from './random-pick.js';

/** Folded into by every loop and printed nowhere: keeps the picks from being optimized away. */
let sink = 0;

/** The sink's value (read it once so no compiler can prove the loops useless). */
export function timingSink(): number {
  return sink;
}

/** Nanoseconds per `schedule.next()` over `picks` calls. */
export function nsPerSchedulePick(schedule: WeightedSchedule, picks: number): number {
  let acc = 0;
  const start = performance.now();
  for (let i = 0; i < picks; i++) acc += schedule.next();
  const ns = ((performance.now() - start) * 1e6) / picks;
  sink ^= acc;
  return ns;
}

/** Nanoseconds per random weighted pick (Math.random + linear scan of cumulative weights). */
export function nsPerLinearPick(cum: Float64Array, picks: number): number {
  let acc = 0;
  const start = performance.now();
  for (let i = 0; i < picks; i++) acc += pickLinear(cum, Math.random());
  const ns = ((performance.now() - start) * 1e6) / picks;
  sink ^= acc;
  return ns;
}

/** Nanoseconds per random weighted pick (Math.random + binary search of cumulative weights). */
export function nsPerBinaryPick(cum: Float64Array, picks: number): number {
  let acc = 0;
  const start = performance.now();
  for (let i = 0; i < picks; i++) acc += pickBinary(cum, Math.random());
  const ns = ((performance.now() - start) * 1e6) / picks;
  sink ^= acc;
  return ns;
}
