/**
 * The parts of the schedule for four or more items (docs/scheduler.md, "Four or more active
 * items"): the earliest-deadline-first plan, its replay over a period, the ring's slack lanes, and
 * the ring itself over long runs. Everything is seeded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../src/algorithms/random.js';
import { DeadlinePlan } from '../src/algorithms/schedule/deadline-plan.js';
import { PlanReplay } from '../src/algorithms/schedule/plan-replay.js';
import { WeightedSchedule } from '../src/algorithms/schedule/scheduler.js';
import { LANES, SlackLanes } from '../src/algorithms/schedule/slack-lanes.js';

const PROPERTY_SEED = 20261207;
/** The ring moves its pick numbers back by this much, at this pick; the tests do as it does. */
const REBASE_PICKS = 4096;

interface PlanLike {
  item: number;
  release: number;
  deadline: number;
  planNext(): void;
  rebase(picks: number): void;
}

/** `floor(a / b)` for non-negative integers below 2^53, exactly. */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

/**
 * Plans `picks` picks from lag 0 with integer weights and checks each job against its exact
 * window: the k-th job of item i may be taken from pick floor((k - 1) W / w) + 1 on and must be by
 * pick ceil(k W / w); the plan must report that window and plan the job inside it. Moves the pick
 * numbers back as the ring does. Returns the items planned, or a description of the first failure.
 */
function checkPlan(plan: PlanLike, weights: number[], picks: number): number[] | string {
  const total = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map(() => 0);
  const items: number[] = [];
  let offset = 0;
  for (let q = 1; q <= picks; q++) {
    if (q - offset === REBASE_PICKS + 1) {
      plan.rebase(REBASE_PICKS);
      offset += REBASE_PICKS;
    }
    plan.planNext();
    const i = plan.item;
    if (!(weights[i]! > 0)) return `pick ${q}: item ${i} of weight ${weights[i]}`;
    const k = ++counts[i]!;
    const release = floorDiv((k - 1) * total, weights[i]!) + 1;
    const deadline = floorDiv(k * total + weights[i]! - 1, weights[i]!);
    if (plan.release + offset !== release || plan.deadline + offset !== deadline)
      return `pick ${q}: item ${i} job ${k} reported [${plan.release + offset}, ${plan.deadline + offset}], is [${release}, ${deadline}]`;
    if (q < release || q > deadline) return `pick ${q}: item ${i} job ${k} planned outside [${release}, ${deadline}]`;
    items.push(i);
  }
  return items;
}

/** A naive model of the slack lanes: the slack values themselves. */
function firstZero(lanes: number[]): number {
  return lanes.findIndex((s) => s === 0);
}

describe('the plan (earliest deadline first over the jobs)', () => {
  const weights = fc.array(fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 3 })), {
    minLength: 4,
    maxLength: 40,
  });

  it('plans every job inside its window and reports that window, from lag 0, across a rebase (property)', () => {
    fc.assert(
      fc.property(weights, (w) => {
        if (w.filter((x) => x > 0).length < 4) return true;
        const plan = new DeadlinePlan(Float64Array.from(w));
        plan.load(
          new Float64Array(w.length),
          w.reduce((a, b) => a + b, 0),
        );
        const result = checkPlan(plan, w, 5_000);
        return typeof result !== 'string' || assert.fail(result);
      }),
      { numRuns: 60, seed: PROPERTY_SEED },
    );
  });

  it('keeps every lag of the plan in (-1, 1) from the lags a schedule reached, fractional weights too (property)', () => {
    const weight = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0.01, max: 100, noNaN: true }));
    fc.assert(
      fc.property(fc.array(weight, { minLength: 4, maxLength: 30 }), fc.nat(), (w, seed) => {
        const total = w.reduce((a, b) => a + b, 0);
        const schedule = new WeightedSchedule(w, { random: seededRandom(seed) });
        for (let t = 0; t < 1 + (seed % 97); t++) schedule.next();
        const lags = schedule.lags();
        const plan = new DeadlinePlan(Float64Array.from(w));
        plan.load(
          lags.map((lag) => lag * total),
          total,
        );
        const counts = Array.from(lags);
        for (let q = 1; q <= 3_000; q++) {
          plan.planNext();
          counts[plan.item]! += 1;
          for (let i = 0; i < w.length; i++) {
            const lag = counts[i]! - (q * w[i]!) / total;
            if (!(lag > -1 - 1e-9 && lag < 1 + 1e-9)) return assert.fail(`pick ${q}: lag of item ${i} is ${lag}`);
          }
        }
        return true;
      }),
      { numRuns: 60, seed: PROPERTY_SEED },
    );
  });
});

describe('the plan replayed over a period', () => {
  it('replays a valid plan: every job inside its window, each period the same, across rebases (property)', () => {
    const weights = fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 4, maxLength: 12 });
    fc.assert(
      fc.property(weights, (w) => {
        const total = w.reduce((a, b) => a + b, 0);
        const plan = new PlanReplay(Float64Array.from(w));
        plan.load(new Float64Array(w.length), total);
        const items = checkPlan(plan, w, Math.max(9_000, 5 * total));
        if (typeof items === 'string') return assert.fail(items);
        // From lag 0 every period of total / gcd picks ends at lag 0: the record is replayed from
        // the second period on, so every later period repeats the first.
        const period = total / w.reduce((a, b) => gcd(a, b));
        for (let q = period; q < items.length; q++) {
          if (items[q] !== items[q % period]) return assert.fail(`pick ${q + 1} is not pick ${(q % period) + 1}`);
        }
        return true;
      }),
      { numRuns: 80, seed: PROPERTY_SEED },
    );
  });

  it('plans within one pick of every share from lags that are not whole multiples of 1 / total (no replay)', () => {
    const w = [5, 3, 2, 1];
    const total = 11;
    const plan = new PlanReplay(Float64Array.from(w));
    const lags = [0.25, -0.25, 0.5, -0.5];
    plan.load(
      Float64Array.from(lags, (lag) => lag * total),
      total,
    );
    const counts = [...lags];
    for (let q = 1; q <= 200; q++) {
      plan.planNext();
      counts[plan.item]! += 1;
      counts.forEach((c, i) => assert.ok(Math.abs(c - (q * w[i]!) / total) < 1, `pick ${q}, item ${i}`));
    }
  });
});

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

describe('the slack lanes of the ring', () => {
  it('find the first lane at 0 as a list of slacks does, through shifts, appends and recounts (property)', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('shift' as const), upTo: fc.integer({ min: 0, max: LANES }), due: fc.nat(3) }),
      fc.record({
        kind: fc.constant('recount' as const),
        dues: fc.array(fc.nat(2), { minLength: LANES, maxLength: LANES }),
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 200 }), (steps) => {
        const lanes = new SlackLanes();
        let model: number[] = [];
        const recount = (dues: number[]): void => {
          lanes.recompute(Int32Array.from(dues), 0, LANES - 1);
          let slack = 0;
          model = dues.map((d) => (slack = Math.max(0, slack + 1 - d)));
        };
        recount(new Array<number>(LANES).fill(0));
        for (const s of steps) {
          if (s.kind === 'recount') {
            recount(s.dues);
          } else {
            // Take one from lanes 0 .. upTo - 1 after the shift, as far as each is above 0 there
            // (the ring only ever does that).
            const shifted = [...model.slice(1), 0];
            let mask = 0;
            for (let k = 0; k < Math.min(s.upTo, LANES - 1) && shifted[k]! > 0; k++) mask |= 1 << k;
            lanes.shift(mask);
            model = shifted.map((v, k) => ((mask >>> k) & 1 ? v - 1 : v));
            lanes.append(s.due);
            model[LANES - 1] = Math.max(0, model[LANES - 2]! + 1 - s.due);
          }
          if (lanes.firstTight() !== firstZero(model))
            return assert.fail(`first tight ${lanes.firstTight()}, model ${model.join(',')}`);
        }
        return true;
      }),
      { numRuns: 300, seed: PROPERTY_SEED },
    );
  });
});

describe('the ring over long runs', () => {
  it('keeps every lag in (-1, 1) for 4 to 200 items over 10,000 picks, periods short and long, fractions (property)', () => {
    const weights = fc.oneof(
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 4, maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 4, maxLength: 200 }),
      fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1e6 })), { minLength: 4, maxLength: 30 }),
      fc.array(fc.double({ min: 0.001, max: 1000, noNaN: true }), { minLength: 4, maxLength: 50 }),
    );
    fc.assert(
      fc.property(weights, fc.nat(), (w, seed) => {
        if (w.filter((x) => x > 0).length < 4) return true;
        const schedule = new WeightedSchedule(w, { random: seededRandom(seed) });
        for (let t = 0; t < 10_000; t++) {
          const picked = schedule.next();
          if (!(w[picked]! > 0)) return assert.fail(`pick ${t}: item ${picked} of weight ${w[picked]}`);
          if (t % 13 !== 0 && t < 9_990) continue;
          const lags = schedule.lags();
          if (!lags.every((lag) => lag > -1 && lag < 1)) return assert.fail(`pick ${t}: lags ${lags.join(', ')}`);
        }
        return true;
      }),
      { numRuns: 40, seed: PROPERTY_SEED },
    );
  });
});
