/**
 * The loop of the weighted schedule for four or more items (docs/scheduler.md, "The loop"): the
 * plan kept within periods, the bound while a period is recorded and looped across loads, and the
 * swaps that keep the looped order random. Everything is seeded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom, type RandomSource } from '../src/algorithms/random.js';
import { DeadlinePlan } from '../src/algorithms/schedule/deadline-plan.js';
import { PeriodLoop } from '../src/algorithms/schedule/period-loop.js';
import { WeightedSchedule } from '../src/algorithms/schedule/scheduler.js';

const PROPERTY_SEED = 20261208;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Picks in a period of integer weights: `total / gcd`. */
function periodOf(weights: readonly number[]): number {
  return weights.reduce((a, b) => a + b, 0) / weights.reduce(gcd);
}

/** A seeded source that counts the numbers drawn from it. */
function countedRandom(seed: number): { random: RandomSource; draws: () => number } {
  const source = seededRandom(seed);
  let draws = 0;
  return {
    random: () => {
      draws++;
      return source();
    },
    draws: () => draws,
  };
}

/** Integer weights 1 to 9 for 4 to 10 items. */
const smallWeights = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 4, maxLength: 10 });

describe('the plan kept within periods', () => {
  it('plans w / gcd jobs of each item in every period, every lag in (-1, 1), from the lags a schedule reached (property)', () => {
    fc.assert(
      fc.property(smallWeights, fc.nat(), (w, seed) => {
        const total = w.reduce((a, b) => a + b, 0);
        const period = periodOf(w);
        const schedule = new WeightedSchedule(w, { random: seededRandom(seed) });
        for (let t = 0; t < 1 + (seed % (3 * period)); t++) schedule.next();
        const lags = Array.from(schedule.lags());
        const plan = new DeadlinePlan(Float64Array.from(w));
        plan.load(
          Float64Array.from(lags, (lag) => lag * total),
          total,
          period,
        );
        const counts = [...lags];
        for (let k = 1; k <= 6; k++) {
          const inPeriod = w.map(() => 0);
          for (let q = (k - 1) * period + 1; q <= k * period; q++) {
            plan.planNext();
            counts[plan.item]! += 1;
            inPeriod[plan.item]!++;
            for (let i = 0; i < w.length; i++) {
              const lag = counts[i]! - (q * w[i]!) / total;
              if (!(lag > -1 + 1e-9 && lag < 1 - 1e-9)) return assert.fail(`pick ${q}: lag of item ${i} is ${lag}`);
            }
          }
          const expected = w.map((x) => (x * period) / total);
          assert.deepEqual(inPeriod, expected, `period ${k}`);
        }
        return true;
      }),
      { numRuns: 80, seed: PROPERTY_SEED },
    );
  });
});

describe('the loop', () => {
  it('keeps every lag in (-1, 1) while the total changes and the shares do not, each load recording from where it was (property)', () => {
    // The lags carried by such a change always fit a period of the new weights, so the schedule
    // records one and loops it after every change: the bound must hold throughout, counted here
    // from the picks alone.
    const step = fc.record({ factor: fc.integer({ min: 1, max: 4 }), picks: fc.integer({ min: 1, max: 300 }) });
    const steps = fc.array(step, { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(smallWeights, steps, fc.nat(), (w, changes, seed) => {
        const total = w.reduce((a, b) => a + b, 0);
        const schedule = new WeightedSchedule(w, { random: seededRandom(seed) });
        const counts = w.map(() => 0);
        let t = 0;
        for (const step of changes) {
          schedule.setWeights(w.map((x) => x * step.factor));
          for (let k = 0; k < step.picks; k++, t++) {
            counts[schedule.next()]!++;
            for (let i = 0; i < w.length; i++) {
              const lag = counts[i]! - ((t + 1) * w[i]!) / total;
              if (!(lag > -1 && lag < 1)) return assert.fail(`pick ${t}: lag of item ${i} is ${lag}`);
            }
          }
        }
        return true;
      }),
      { numRuns: 100, seed: PROPERTY_SEED },
    );
  });

  it('loops after a change of weights: one random number per 12 picks once a period has passed (the ring takes one per 2)', () => {
    const before = Array.from({ length: 64 }, (_, i) => (i % 5) + 1);
    const after = Array.from({ length: 64 }, (_, i) => (i % 7) + 1);
    const { random, draws } = countedRandom(5);
    const schedule = new WeightedSchedule(before, { random });
    for (let t = 0; t < 1_000; t++) schedule.next();
    schedule.setWeights(after);
    for (let t = 0; t < periodOf(after); t++) schedule.next();
    const drawn = draws();
    for (let t = 0; t < 1_200; t++) schedule.next();
    assert.equal(draws() - drawn, 100);
  });

  it('serves from the ring, every lag in (-1, 1), from lags no period can hold, and loops once one can (9/9/1/1 at 0.9, 0.9, -0.9, -0.9)', () => {
    // Both items of weight 9 owe their ninth pick of the first period by its last pick only if
    // they are to be back at their lags after it: no period of 20 picks from these lags keeps them.
    const weights = [9, 9, 1, 1];
    for (let seed = 0; seed < 20; seed++) {
      const { random, draws } = countedRandom(seed);
      const loop = new PeriodLoop(Float64Array.from(weights), random);
      const lags = [0.9, 0.9, -0.9, -0.9];
      loop.load(Float64Array.from(lags), 20);
      const counts = [...lags];
      for (let t = 1; t <= 2_000; t++) {
        counts[loop.next()]! += 1;
        weights.forEach((w, i) => {
          const lag = counts[i]! - (t * w) / 20;
          assert.ok(lag > -1 && lag < 1, `seed ${seed}, pick ${t}: lag of item ${i} is ${lag}`);
        });
      }
      const drawn = draws();
      for (let t = 0; t < 1_200; t++) loop.next();
      assert.equal(draws() - drawn, 100, `seed ${seed}`);
    }
  });

  it('serves no pick at a lag of 1 from a lag carried in calls that misses its integer (8 / 49 * 49 < 8), period after period', () => {
    // Item 2 (weight 4) is owed nothing at credit 8 = 2 x 4: taken at the second pick, its lag would
    // be 1. Loaded as 7.999999999999999 the window allowed it, and the loop served it every period.
    const weights = [9, 2, 4, 34];
    const credits = [9, -20, 8, 3];
    assert.notEqual((8 / 49) * 49, 8);
    const loop = new PeriodLoop(Float64Array.from(weights), seededRandom(10784));
    loop.load(
      Float64Array.from(credits, (credit) => credit / 49),
      49,
    );
    const exact = [...credits];
    const atBound: string[] = [];
    for (let t = 1; t <= 20 * 49; t++) {
      const picked = loop.next();
      weights.forEach((w, i) => {
        exact[i]! += (i === picked ? 49 : 0) - w;
        if (exact[i]! >= 49 || exact[i]! <= -49) atBound.push(`pick ${t}: item ${i} at ${exact[i]} / 49`);
      });
    }
    assert.deepEqual(atBound, []);
  });

  it('keeps every lag below 1 at every pick, and in (-1, 1) from a period after each change, counted exactly in 49ths (property)', () => {
    // Weights summing to 49 throughout: each lag times 49 is an integer, counted here exactly, while
    // the schedule carries lags in calls across each change (c / 49 * 49 is not always c).
    const total = 49;
    const weightsOf = (n: number) =>
      fc.uniqueArray(fc.integer({ min: 1, max: total - 1 }), { minLength: n - 1, maxLength: n - 1 }).map((cuts) => {
        const ends = [0, ...cuts.sort((a, b) => a - b), total];
        return ends.slice(1).map((end, i) => end - ends[i]!);
      });
    const steps = (n: number) =>
      fc.array(
        fc.record({
          weights: weightsOf(n),
          picks: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2 * total, max: 3 * total })),
        }),
        { minLength: 2, maxLength: 8 },
      );
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 10 }).chain((n) => fc.tuple(steps(n), fc.nat())),
        ([changes, seed]) => {
          const n = changes[0]!.weights.length;
          const schedule = new WeightedSchedule(changes[0]!.weights, { random: seededRandom(seed) });
          const exact = new Array<number>(n).fill(0);
          for (const [c, step] of changes.entries()) {
            schedule.setWeights(step.weights);
            for (let k = 0; k < step.picks; k++) {
              const picked = schedule.next();
              for (let i = 0; i < n; i++) {
                exact[i]! += (i === picked ? total : 0) - step.weights[i]!;
                if (exact[i]! >= total || (k >= total && exact[i]! <= -total))
                  return assert.fail(`change ${c}, pick ${k}: lag of item ${i} is ${exact[i]} / ${total}`);
              }
            }
          }
          return true;
        },
      ),
      { numRuns: 300, seed: PROPERTY_SEED },
    );
  });

  it('keeps shuffling a looped period: 50 periods of 1/2/3/4 after the first hold at least 40 orders, for 20 seeds', () => {
    for (let seed = 0; seed < 20; seed++) {
      const schedule = new WeightedSchedule([1, 2, 3, 4], { random: seededRandom(seed) });
      for (let t = 0; t < 10; t++) schedule.next();
      const orders = new Set<string>();
      for (let k = 0; k < 50; k++) orders.add(Array.from({ length: 10 }, () => schedule.next()).join(''));
      assert.ok(orders.size >= 40, `seed ${seed}: ${orders.size} orders`);
    }
  });

  it(
    'gives every client of a pool of 11 at least a quarter of its share of each of 64 subsets ' +
      '(weights i % 7 + 1, a period of 253 = 11 x 23 picks) over 60,000 picks, for 5 seeds',
    () => {
      // A period replayed as recorded would give each client of the pool only the entries at its
      // positions modulo 11: subsets of weight 1 to one client each.
      const weights = Array.from({ length: 64 }, (_, i) => (i % 7) + 1);
      const total = periodOf(weights);
      for (let seed = 0; seed < 5; seed++) {
        const schedule = new WeightedSchedule(weights, { random: seededRandom(seed) });
        const seen = weights.map(() => new Array<number>(11).fill(0));
        for (let t = 0; t < 60_000; t++) seen[schedule.next()]![t % 11]!++;
        weights.forEach((w, item) => {
          const expected = (60_000 / 11) * (w / total);
          const fewest = Math.min(...seen[item]!);
          assert.ok(fewest >= expected / 4, `seed ${seed}, item ${item}: ${seen[item]!.join(', ')} (${expected})`);
        });
      }
    },
  );
});
