/**
 * The weights in force for one split and the schedules drawn from them: one schedule per set of
 * eligible subsets, brought up to date with the weights at its next use. No gRPC, no clock.
 * @module
 */
import { seededRandom, type RandomSource } from '../random.js';
import { WeightedSchedule } from './scheduler.js';

/** Bounds the cache: one entry per distinct set of READY subsets seen, which is small unless
 * subsets flap in many combinations. */
const MAX_CACHED_SCHEDULES = 256;

/** One schedule per set of eligible subsets, and the weights version it was last given. */
interface CachedSchedule {
  readonly schedule: WeightedSchedule;
  readonly members: readonly number[];
  readonly equalShares: boolean;
  version: number;
}

export class ScheduleBook {
  private current: readonly number[];
  /** Bumped at every change; a schedule older than this gets the weights at its next use. */
  private version = 0;
  private readonly schedules = new Map<string, CachedSchedule>();
  /** Seeds each new schedule, so each draws its own random order (reproducible with a seed). */
  private readonly phases: RandomSource;

  /** `weights` must be valid (see validateWeights); `seed` fixes every schedule's random order. */
  constructor(weights: readonly number[], seed: number) {
    this.current = Object.freeze([...weights]);
    this.phases = seededRandom(seed);
  }

  /** The weights in force, indexed by subset; frozen, replaced (never changed) on a change. */
  get weights(): readonly number[] {
    return this.current;
  }

  /**
   * Puts already validated weights in force and returns the previous ones, or null when they are
   * equal (nothing changes). The schedules stay: each carries its lag (under one call) into the
   * new weights, so the split stays exact across changes however frequent, and the next pick
   * already follows the new weights.
   */
  apply(weights: readonly number[]): readonly number[] | null {
    const previous = this.current;
    if (weights.length === previous.length && weights.every((w, i) => w === previous[i])) return null;
    this.current = Object.freeze([...weights]);
    this.version++;
    return previous;
  }

  /**
   * The schedule shared by every channel whose eligible subsets are `eligible`. Sharing it is
   * what makes the split exact across channels rather than per channel. With `equalShares`, the
   * subsets are served evenly (the weight-0 fallback).
   *
   * One schedule per set, kept while the set is not in use: when a subset leaves READY and comes
   * back, its set's schedule resumes with the lag it had, so the calls in between (which went to
   * the other subsets at their full share) leave every subset's lag where it was.
   */
  scheduleFor(eligible: readonly number[], equalShares: boolean): WeightedSchedule {
    const key = (equalShares ? 'e:' : 'w:') + eligible.join(',');
    let cached = this.schedules.get(key);
    if (cached === undefined) {
      const schedule = new WeightedSchedule(this.weightsOf(eligible, equalShares), {
        random: seededRandom(this.nextSeed()),
      });
      if (this.schedules.size >= MAX_CACHED_SCHEDULES) this.schedules.clear();
      cached = { schedule, members: [...eligible], equalShares, version: this.version };
      this.schedules.set(key, cached);
    } else if (cached.version !== this.version) {
      // Only this set's members have a weight here, all of them positive (else the set would
      // be another), so the change carries every lag as is.
      cached.schedule.setWeights(this.weightsOf(cached.members, cached.equalShares));
      cached.version = this.version;
    }
    return cached.schedule;
  }

  /** The weights in force restricted to `members` (1 each with `equalShares`), indexed by subset. */
  private weightsOf(members: readonly number[], equalShares: boolean): Float64Array {
    const weights = new Float64Array(this.current.length);
    for (const i of members) weights[i] = equalShares ? 1 : this.current[i]!;
    return weights;
  }

  /** 53 bits from the phase source. */
  private nextSeed(): number {
    return Math.floor(this.phases() * 0x20_0000) * 0x1_0000_0000 + Math.floor(this.phases() * 0x1_0000_0000);
  }
}
