import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../src/algorithms/random.js';
import { WeightedSchedule } from '../src/algorithms/schedule/scheduler.js';
import { SplitState } from '../src/policy/balancer/split-state.js';
import { maxWindowDeviation } from './helpers/sequences.js';

/** fast-check's seed: every property run draws the same cases (the schedules are seeded too). */
const PROPERTY_SEED = 20261206;

function schedule(weights: number[], seed = 1): WeightedSchedule {
  return new WeightedSchedule(weights, { random: seededRandom(seed) });
}

function picks(weights: number[], n: number, from = schedule(weights)): number[] {
  return Array.from({ length: n }, () => from.next());
}

function asRecord(weights: number[]): Record<string, number> {
  return Object.fromEntries(weights.map((w, i) => [`s${i}`, w]));
}

function windowDeviation(sequence: number[], weights: number[], window: number): number {
  return maxWindowDeviation(
    sequence.map((i) => `s${i}`),
    asRecord(weights),
    window,
  );
}

function countOf(sequence: number[], item: number): number {
  return sequence.filter((i) => i === item).length;
}

function harmonic(n: number): number {
  let h = 0;
  for (let k = 1; k <= n; k++) h += 1 / k;
  return h;
}

/** `[n, steps, seed]` for `checkAcrossChanges`: n items in [minItems, maxItems], up to `maxSteps`
 * steps of new weights (from `weight`) followed by 1 to 5 picks each. */
function weightChanges(minItems: number, maxItems: number, weight: fc.Arbitrary<number>, maxSteps: number) {
  return fc.integer({ min: minItems, max: maxItems }).chain((n) =>
    fc.tuple(
      fc.constant(n),
      fc.array(
        fc.record({
          weights: fc.array(weight, { minLength: n, maxLength: n }),
          picks: fc.integer({ min: 1, max: 5 }),
        }),
        { minLength: 1, maxLength: maxSteps },
      ),
      fc.nat(),
    ),
  );
}

/**
 * Runs `steps` (weights, then that many picks) and checks, from the picks and the shares alone,
 * that over every run of picks during which the set of active items stays the same, each item's
 * count is within `bound(active)` of the sum of its per-pick shares; and that the schedule's own
 * lags stay inside (-behind(active), 1). Returns a description of the first failure, or null.
 */
function checkAcrossChanges(
  n: number,
  steps: { weights: number[]; picks: number }[],
  seed: number,
  bound: (active: number) => number,
  behind: (active: number) => number,
): string | null {
  const s = new WeightedSchedule(steps[0]!.weights, { random: seededRandom(seed) });
  let runKey = '';
  // Per item: count minus summed shares since the run began, and its extremes in the run.
  let drift = new Float64Array(n);
  let low = new Float64Array(n);
  let high = new Float64Array(n);
  let t = 0;
  for (const step of steps) {
    s.setWeights(step.weights);
    const total = step.weights.reduce((a, b) => a + b, 0);
    const active = step.weights.filter((w) => w > 0).length;
    const key = step.weights.map((w) => (w > 0 ? 1 : 0)).join('');
    if (key !== runKey) {
      runKey = key;
      drift = new Float64Array(n);
      low = new Float64Array(n);
      high = new Float64Array(n);
    }
    for (let k = 0; k < step.picks; k++, t++) {
      const picked = s.next();
      if (active === 0) {
        if (picked !== -1) return `pick ${t}: picked ${picked} with no active item`;
        continue;
      }
      if (!(step.weights[picked]! > 0)) return `pick ${t}: picked ${picked} of weight ${step.weights[picked]}`;
      for (let i = 0; i < n; i++) {
        drift[i]! += (i === picked ? 1 : 0) - step.weights[i]! / total;
        low[i] = Math.min(low[i]!, drift[i]!);
        high[i] = Math.max(high[i]!, drift[i]!);
        if (high[i]! - low[i]! >= bound(active))
          return `pick ${t}: item ${i} strays ${high[i]! - low[i]!} over a window (active ${active})`;
      }
      const lags = s.lags();
      for (let i = 0; i < n; i++) {
        if (!(lags[i]! < 1 && lags[i]! > -behind(active)))
          return `pick ${t}: lag of item ${i} is ${lags[i]} (active ${active})`;
      }
    }
  }
  return null;
}

describe('WeightedSchedule', () => {
  it('gives every run of 6 picks of 1-2-3 each item within one of 1, 2 and 3', () => {
    const sequence = picks([1, 2, 3], 600);
    for (let start = 0; start + 6 <= 600; start++) {
      const window = sequence.slice(start, start + 6);
      [1, 2, 3].forEach((w, i) =>
        assert.ok(Math.abs(countOf(window, i) - w) <= 1, `window at ${start}: ${window.join('')}`),
      );
    }
    [100, 200, 300].forEach((expected, i) => assert.ok(Math.abs(countOf(sequence, i) - expected) <= 1, `item ${i}`));
  });

  it(
    'gives 90/10 zero, one or two picks of v2 in every window ' +
      'of 10, one on average, and 10 +- 1 in every window of 100',
    () => {
      const sequence = picks([90, 10], 10_000);
      const perWindow = [0, 0, 0];
      for (let start = 0; start + 10 <= sequence.length; start++)
        perWindow[countOf(sequence.slice(start, start + 10), 1)]!++;
      assert.equal(
        perWindow.reduce((a, b) => a + b, 0),
        10_000 - 9,
        `windows of 10 by v2 count: ${perWindow.join(', ')}`,
      );
      assert.ok(Math.abs(countOf(sequence, 1) - 1000) <= 1, `${countOf(sequence, 1)}`);
      assert.ok(windowDeviation(sequence, [90, 10], 100) <= 1);
    },
  );

  for (const weights of [
    [90, 10],
    [99, 1],
    [999, 1],
    [9999, 1],
    [1, 9999],
    [50, 50],
    [0.5, 1],
    [1e-6, 1],
    [3, 7],
    [75, 25],
  ]) {
    it(
      `keeps every window of 10, 100 and 1000 within 2, and within ` +
        `1 where the ideal is an integer: ${weights.join('-')}`,
      () => {
        const sequence = picks(weights, 20_000);
        const total = weights.reduce((a, b) => a + b, 0);
        for (const window of [10, 100, 1000]) {
          const deviation = windowDeviation(sequence, weights, window);
          const integral = weights.every((w) => Number.isInteger((window * w) / total));
          assert.ok(deviation < (integral ? 1 + 1e-9 : 2), `window ${window}: deviation ${deviation}`);
        }
      },
    );
  }

  it('keeps every window of any two positive weights within 2 (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        fc.nat(),
        (a, b, seed) => {
          const sequence = picks([a, b], 3_000, schedule([a, b], seed));
          return [10, 100, 1000].every((window) => windowDeviation(sequence, [a, b], window) < 2);
        },
      ),
      { numRuns: 200, seed: PROPERTY_SEED },
    );
  });

  it('keeps every lag within one pick and every window within two, for 2 to 64 items at steady weights (property)', () => {
    const weight = fc.oneof(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.double({ min: 0.01, max: 100, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(weight, { minLength: 2, maxLength: 64 }), fc.nat(), (weights, seed) => {
        const s = schedule(weights, seed);
        const sequence: number[] = [];
        for (let t = 0; t < 3_000; t++) {
          sequence.push(s.next());
          if (!s.lags().every((lag) => Math.abs(lag) < 1)) return false;
        }
        return Math.max(...[10, 100, 1000].map((w) => windowDeviation(sequence, weights, w))) < 2;
      }),
      { numRuns: 150, seed: PROPERTY_SEED },
    );
  });

  it(
    'keeps every lag in (-1, 1) and every window within 2 for 3 ' +
      'to 12 items, zeros among them, at steady weights (property)',
    () => {
      const weight = fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
      );
      fc.assert(
        fc.property(fc.array(weight, { minLength: 3, maxLength: 12 }), fc.nat(), (weights, seed) => {
          if (weights.every((w) => w === 0)) return true;
          const s = schedule(weights, seed);
          const sequence: number[] = [];
          for (let t = 0; t < 2_000; t++) {
            const picked = s.next();
            if (!(weights[picked]! > 0)) return assert.fail(`pick ${t}: item ${picked} of weight ${weights[picked]}`);
            sequence.push(picked);
            const lags = s.lags();
            if (!lags.every((lag) => lag > -1 && lag < 1)) return assert.fail(`pick ${t}: lags ${lags.join(', ')}`);
          }
          return Math.max(...[10, 100, 1000].map((w) => windowDeviation(sequence, weights, w))) < 2;
        }),
        { numRuns: 200, seed: PROPERTY_SEED },
      );
    },
  );

  it(
    'stays within 2 of the summed shares over every run, ' +
      'whatever the weight changes, for 2 and 3 items (property)',
    () => {
      // Zero weights make items leave and come back; those changes re-centre the lags, so runs are
      // checked between them (the split keeps one schedule per set of READY subsets, see
      // src/algorithms/schedule/schedule-book.ts, so its schedules never see such a change).
      const weight = fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 1e9 }),
        fc.double({ min: 1e-6, max: 1e3, noNaN: true }),
      );
      fc.assert(
        fc.property(weightChanges(2, 3, weight, 200), ([n, steps, seed]) => {
          const failure = checkAcrossChanges(
            n,
            steps,
            seed,
            () => 2,
            () => 1,
          );
          return failure === null || assert.fail(failure);
        }),
        { numRuns: 300, seed: PROPERTY_SEED },
      );
    },
  );

  it(
    'keeps every lag below 1, and above -H(n), for 4 to 16 ' +
      'items when weights change at nearly every pick (property)',
    () => {
      // No online rule keeps one pick of lag here: give 4 items 1/4 each, then 1/3 to the three not
      // picked, then 1/2 to the two not picked; the last is 1/4 + 1/3 + 1/2 = 1.08 picks behind,
      // and with n items H(n) - 1. Below -1 nothing is proven for this schedule (docs/scheduler.md):
      // the worst measured is -1.75, and the lags stay above -H(n) = -(1 + 1/2 + ... + 1/n).
      const weight = fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 1e-6, max: 1e3, noNaN: true }),
      );
      fc.assert(
        fc.property(weightChanges(4, 16, weight, 150), ([n, steps, seed]) => {
          const behind = (active: number) => Math.max(1, harmonic(active));
          const failure = checkAcrossChanges(n, steps, seed, (active) => 1 + behind(active), behind);
          return failure === null || assert.fail(failure);
        }),
        { numRuns: 150, seed: PROPERTY_SEED },
      );
    },
  );

  it('follows a change at once: 90/10 -> 10/90 sends at least 8 of the next 10 picks to v2, from any phase', () => {
    for (let seed = 0; seed < 500; seed++) {
      const s = schedule([90, 10], seed);
      picks([], 1 + (seed % 37), s);
      s.setWeights([10, 90]);
      const next = picks([], 10, s);
      assert.ok(countOf(next, 1) >= 8, `seed ${seed}: ${next.join('')}`);
    }
  });

  it(
    'carries the lag across changes: 90/10 and 89/11 alternating ' +
      'every 1, 3 and 5 picks stay within 2 of the summed shares',
    () => {
      for (const every of [1, 3, 5]) {
        for (let seed = 0; seed < 50; seed++) {
          const s = schedule([90, 10], seed);
          let v2 = 0;
          let ideal = 0;
          for (let t = 0; t < 1200; t++) {
            const weights = Math.floor(t / every) % 2 === 0 ? [90, 10] : [89, 11];
            if (t % every === 0) s.setWeights(weights);
            ideal += weights[1]! / 100;
            if (s.next() === 1) v2++;
          }
          assert.ok(Math.abs(v2 - ideal) < 2, `every ${every}, seed ${seed}: ${v2} vs ${ideal}`);
        }
      }
    },
  );

  it('starts each schedule at a random phase: twenty schedules at 99/1 give v2 about 0.6 of their first 60 picks', () => {
    let v2 = 0;
    for (let seed = 0; seed < 20; seed++) v2 += countOf(picks([99, 1], 3, schedule([99, 1], 1000 + seed)), 1);
    assert.ok(v2 <= 5, `${v2} of 60`);
    // Over many phases every early position gets v2 at its share (a fixed phase gives 100% at one).
    const hits = new Array<number>(10).fill(0);
    for (let seed = 0; seed < 20_000; seed++)
      picks([], 10, schedule([90, 10], seed)).forEach((i, t) => (hits[t]! += i));
    hits.forEach((h, t) => assert.ok(Math.abs(h - 2000) < 150, `position ${t}: ${h} of 20000`));
  });

  it('is reproducible: the same seed gives the same picks, other seeds other picks', () => {
    assert.deepEqual(
      picks([13, 5, 2, 80], 500, schedule([13, 5, 2, 80], 7)),
      picks([13, 5, 2, 80], 500, schedule([13, 5, 2, 80], 7)),
    );
    assert.notDeepEqual(picks([90, 10], 100, schedule([90, 10], 7)), picks([90, 10], 100, schedule([90, 10], 8)));
    assert.notDeepEqual(
      picks([13, 5, 2, 80], 100, schedule([13, 5, 2, 80], 7)),
      picks([13, 5, 2, 80], 100, schedule([13, 5, 2, 80], 8)),
    );
  });

  it('does not alias with a rotation of 10 callers or a fixed order of 10 methods at 90/10', () => {
    // Call t comes from caller t mod 10: each caller must see v2 at about its share.
    for (const seed of [1, 2, 3, 4, 5]) {
      const sequence = picks([90, 10], 3000, schedule([90, 10], seed));
      assert.ok(Math.abs(countOf(sequence, 1) - 300) < 2);
      for (let caller = 0; caller < 10; caller++) {
        const mine = sequence.filter((_, t) => t % 10 === caller);
        const share = countOf(mine, 1) / mine.length;
        assert.ok(share >= 0.03 && share <= 0.17, `seed ${seed}, caller ${caller}: ${share}`);
      }
    }
  });

  it('keeps 1-1-1 within one of its share in every window of 3 picks (each item 0 to 2 times) and exact over 3,000', () => {
    const sequence = picks([1, 1, 1], 3000);
    assert.ok(windowDeviation(sequence, [1, 1, 1], 3) <= 1);
    [0, 1, 2].forEach((i) => assert.ok(Math.abs(countOf(sequence, i) - 1000) <= 1));
  });

  it('does not bunch many small items: 1,1,1,1,1,1,1 and 100 stay within 2 (plain EDF strays 6.5)', () => {
    const weights = [1, 1, 1, 1, 1, 1, 1, 100];
    const s = schedule(weights);
    const sequence: number[] = [];
    for (let t = 0; t < 5_000; t++) {
      sequence.push(s.next());
      assert.ok(s.lags().every((lag) => Math.abs(lag) < 1));
    }
    for (const window of [10, 100, 1000])
      assert.ok(windowDeviation(sequence, weights, window) < 2, `window ${window}`);
  });

  it('matches float weights over 10,000 picks to within 2 per item', () => {
    const weights = [0.1, 0.2, 0.3, 1.7, 2.9];
    const total = weights.reduce((a, b) => a + b, 0);
    const sequence = picks(weights, 10_000);
    weights.forEach((w, i) =>
      assert.ok(Math.abs(countOf(sequence, i) - (10_000 * w) / total) < 2, `item ${i}: ${countOf(sequence, i)}`),
    );
  });

  it('treats fractional weights as ratios: 0.5 and 1 give 1 : 2', () => {
    for (const seed of [1, 2, 3]) {
      const sequence = picks([0.5, 1], 3000, schedule([0.5, 1], seed));
      assert.ok(Math.abs(countOf(sequence, 0) - 1000) <= 1, `${countOf(sequence, 0)}`);
    }
  });

  it('never picks a weight-0 item', () => {
    assert.deepEqual(new Set(picks([0, 5, 0, 1], 600)), new Set([1, 3]));
    assert.deepEqual(new Set(picks([0, 5, 0, 1, 2], 600)), new Set([1, 3, 4]));
  });

  it('returns -1 for no items and for all-zero weights', () => {
    assert.equal(new WeightedSchedule([]).next(), -1);
    assert.equal(new WeightedSchedule([0, 0]).next(), -1);
    assert.equal(new WeightedSchedule([0, 0]).activeCount, 0);
    assert.equal(new WeightedSchedule([0, 0]).peek(), -1);
  });

  it('always picks the only item', () => {
    assert.deepEqual(picks([7], 5), [0, 0, 0, 0, 0]);
  });

  it('peek() shows the next pick without taking it, for 2, 3 and 4 items', () => {
    for (const weights of [
      [1, 3],
      [1, 3, 5],
      [1, 3, 5, 7],
    ]) {
      const a = schedule(weights, 5);
      const b = schedule(weights, 5);
      for (let t = 0; t < 200; t++) {
        const next = a.peek();
        assert.equal(a.peek(), next);
        assert.equal(a.next(), next);
      }
      // Peeking draws the same random numbers next() would: it changes nothing.
      assert.deepEqual(picks([], 50, a), picks([], 50, (picks([], 200, b), b)));
    }
  });

  it('stays exact at a 9999:1 ratio over a long run', () => {
    assert.ok(Math.abs(countOf(picks([9999, 1], 100_000), 1) - 10) <= 1);
  });

  it('keeps its integer arithmetic exact over a million picks at integer weights', () => {
    const s = schedule([7, 1, 3, 127]);
    const counts = [0, 0, 0, 0];
    for (let t = 0; t < 1_000_000; t++) counts[s.next()]!++;
    // 1,000,000 * w / 138 is never an integer here, so each count is the floor or the ceiling.
    [7, 1, 3, 127].forEach((w, i) =>
      assert.ok(Math.abs(counts[i]! - (1_000_000 * w) / 138) < 2, `item ${i}: ${counts[i]}`),
    );
    assert.ok(s.lags().every((lag) => Math.abs(lag) < 1));
  });

  it('keeps 64 items with mixed weights within 2 of their share over 100,000 picks', () => {
    const weights = Array.from({ length: 64 }, (_, i) => ((i * 7919) % 97) + 1);
    const total = weights.reduce((a, b) => a + b, 0);
    const sequence = picks(weights, 100_000);
    const counts = weights.map(() => 0);
    for (const i of sequence) counts[i]!++;
    weights.forEach((w, i) => assert.ok(Math.abs(counts[i]! - (100_000 * w) / total) < 2, `item ${i}: ${counts[i]}`));
  });

  for (const weights of [[1, 2, 3], [7, 1, 3, 127], [5, 5, 5, 5, 1], Array.from({ length: 64 }, (_, i) => i + 1)]) {
    it(
      `reports the true lags, before and after a weight change, ` +
        `and does not repeat one period: ${weights.length} items`,
      () => {
        const s = schedule(weights, 9);
        const total = weights.reduce((a, b) => a + b, 0);
        const period = total;
        const counts = weights.map(() => 0);
        const periods = new Set<string>();
        for (let k = 0; k < 6; k++) {
          const sequence = picks([], period, s);
          sequence.forEach((i) => counts[i]!++);
          periods.add(sequence.join(','));
        }
        // From lag 0, every whole period holds each item's share exactly (the lags are back at 0)...
        weights.forEach((w, i) => assert.equal(counts[i], 6 * w, `item ${i}`));
        assert.ok(s.lags().every((lag) => Math.abs(lag) < 1e-9));
        // ...in a new order each time (a fixed order is what aliases with periodic callers).
        assert.ok(periods.size >= 5, `${periods.size} distinct periods of 6`);
        const changed = weights.map((w, i) => (i === 0 ? w + 1 : w));
        s.setWeights(changed);
        const after = picks([], 777, s);
        const changedTotal = total + 1;
        const lags = s.lags();
        changed.forEach((w, i) =>
          assert.ok(
            Math.abs(lags[i]! - (countOf(after, i) - (777 * w) / changedTotal)) < 1e-9,
            `item ${i}: ${lags[i]}`,
          ),
        );
      },
    );
  }

  it('rejects a weight vector of another length', () => {
    assert.throws(() => schedule([1, 2]).setWeights([1, 2, 3]), {
      name: 'RangeError',
      message: 'weights: expected 2 weights, got 3',
    });
  });
});

describe('SplitState schedules', () => {
  it('keeps one schedule per set of subsets across weight changes, seeded by scheduleSeed', () => {
    const a = new SplitState('s', ['v1', 'v2'], [90, 10], () => {}, 42);
    const b = new SplitState('s', ['v1', 'v2'], [90, 10], () => {}, 42);
    const schedule = a.scheduleFor([0, 1], false);
    assert.deepEqual(picks([], 100, schedule), picks([], 100, b.scheduleFor([0, 1], false)));
    const lags = schedule.lags();
    a.applyWeights([10, 90]);
    assert.equal(a.scheduleFor([0, 1], false), schedule, 'the same schedule, not a new one');
    // The lag is carried as is; the next picks follow the new weights.
    assert.deepEqual(schedule.lags(), lags);
    assert.ok(countOf(picks([], 10, schedule), 1) >= 8);
  });

  it('resumes a set with the lags it had when a subset comes back', () => {
    const state = new SplitState('s', ['v1', 'v2'], [1, 3], () => {}, 7);
    const pair = state.scheduleFor([0, 1], false);
    picks([], 5, pair);
    const lags = pair.lags();
    // v2 leaves READY: its channel draws from the {v1} schedule, while weights change.
    assert.deepEqual(picks([], 5, state.scheduleFor([0], false)), [0, 0, 0, 0, 0]);
    state.applyWeights([1, 1]);
    state.applyWeights([1, 3]);
    assert.equal(state.scheduleFor([0, 1], false), pair);
    assert.deepEqual(pair.lags(), lags);
  });
});
