/**
 * The order within the bound is random for any number of items: no client of a rotating pool and
 * no position of a period is favoured (docs/scheduler.md). Every schedule here is seeded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../src/algorithms/random.js';
import { WeightedSchedule } from '../src/algorithms/schedule/scheduler.js';

function run(weights: readonly number[], picks: number, seed: number): number[] {
  const schedule = new WeightedSchedule(weights, { random: seededRandom(seed) });
  return Array.from({ length: picks }, () => schedule.next());
}

/** Call t comes from client t mod `pool`: each client's share of `item`. */
function sharePerClient(sequence: readonly number[], pool: number, item: number): number[] {
  const hits = new Array<number>(pool).fill(0);
  const calls = new Array<number>(pool).fill(0);
  sequence.forEach((picked, t) => {
    calls[t % pool]!++;
    if (picked === item) hits[t % pool]!++;
  });
  return hits.map((h, k) => h / calls[k]!);
}

const SEEDS = Array.from({ length: 20 }, (_, k) => 1000 + k);

describe('the order within the bound', () => {
  it(
    'gives every client of a pool of 10 between 3% and 20% of ' +
      'the 10% subset at 60/30/10, over 2,000 picks, for 20 seeds',
    () => {
      for (const seed of SEEDS) {
        const shares = sharePerClient(run([60, 30, 10], 2_000, seed), 10, 2);
        for (const [client, share] of shares.entries()) {
          assert.ok(
            share >= 0.03 && share <= 0.2,
            `seed ${seed}, client ${client}: ${share} (all: ${shares.join(', ')})`,
          );
        }
      }
    },
  );

  for (const pool of [2, 4, 5, 16]) {
    it(
      `leaves no client of a pool of ${pool} without the 30% or ` +
        `the 10% subset at 60/30/10, over 2,000 picks, for 20 seeds`,
      () => {
        for (const seed of SEEDS) {
          const sequence = run([60, 30, 10], 2_000, seed);
          for (const item of [1, 2]) {
            const shares = sharePerClient(sequence, pool, item);
            assert.ok(Math.min(...shares) > 0, `seed ${seed}, item ${item}: ${shares.join(', ')}`);
          }
        }
      },
    );
  }

  it(
    'gives each position of the period of 60/30/10 each subset ' +
      'at its share over one long run (+- 0.01 over 20,000 periods)',
    () => {
      const shares = [0.6, 0.3, 0.1];
      const sequence = run([60, 30, 10], 200_000, 7);
      for (const [item, share] of shares.entries()) {
        const perPosition = sharePerClient(sequence, 10, item);
        for (const [position, seen] of perPosition.entries()) {
          assert.ok(Math.abs(seen - share) < 0.01, `item ${item}, position ${position}: ${seen}`);
        }
      }
    },
  );

  it(
    'gives each of three items exactly its share in force as its chance ' +
      'at every pick, across a change at every pick (20,000 schedules)',
    () => {
      // Shares changing at every pick, some extreme; the exact chance of item i at pick t is the
      // share in force at t, so over 20,000 seeded schedules each frequency is within 5 sigma of it.
      const random = seededRandom(99);
      const steps = Array.from({ length: 24 }, () => [
        1 + Math.floor(random() * 90),
        1 + Math.floor(random() * 9),
        random() < 0.2 ? 1000 : 1 + Math.floor(random() * 30),
      ]);
      const runs = 20_000;
      const hits = steps.map(() => [0, 0, 0]);
      for (let seed = 0; seed < runs; seed++) {
        const schedule = new WeightedSchedule([1, 1, 1], { random: seededRandom(seed) });
        steps.forEach((weights, t) => {
          schedule.setWeights(weights);
          hits[t]![schedule.next()]!++;
        });
      }
      steps.forEach((weights, t) => {
        const total = weights.reduce((a, b) => a + b, 0);
        weights.forEach((w, i) => {
          const share = w / total;
          const sigma = Math.sqrt((share * (1 - share)) / runs);
          assert.ok(
            Math.abs(hits[t]![i]! / runs - share) <= 5 * sigma + 1e-9,
            `pick ${t}, item ${i}: ${hits[t]![i]! / runs} vs ${share}`,
          );
        });
      });
    },
  );

  for (const weights of [
    [40, 30, 20, 10],
    [5, 5, 5, 5, 1],
    [50, 20, 10, 10, 5, 5],
  ]) {
    it(
      `leaves no client of a pool of 2, 4, 5, 10 or 16 without any ` +
        `subset at ${weights.join('/')}, over 4,000 picks, for 20 seeds`,
      () => {
        for (const seed of SEEDS) {
          const sequence = run(weights, 4_000, seed);
          for (const pool of [2, 4, 5, 10, 16]) {
            for (const item of weights.keys()) {
              const shares = sharePerClient(sequence, pool, item);
              assert.ok(Math.min(...shares) > 0, `seed ${seed}, pool ${pool}, item ${item}: ${shares.join(', ')}`);
            }
          }
        }
      },
    );
  }

  it('keeps the share of each position of 40/30/20/10 within half the subset share over one long run', () => {
    // Four or more items are not exact per position (docs/scheduler.md): the measured worst is
    // about a third of the share; a fixed order gives some positions 0 and others 100%.
    const weights = [40, 30, 20, 10];
    const sequence = run(weights, 200_000, 7);
    for (const [item, w] of weights.entries()) {
      const share = w / 100;
      for (const [position, seen] of sharePerClient(sequence, 10, item).entries()) {
        assert.ok(Math.abs(seen - share) < share / 2, `item ${item}, position ${position}: ${seen} vs ${share}`);
      }
    }
  });
});
