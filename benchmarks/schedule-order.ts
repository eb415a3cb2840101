/**
 * The figures docs/scheduler.md gives for four or more items, measured on this build and, with
 * `--baseline DIR` (a copy of `dist/src/algorithms` from another commit, with a package.json
 * saying `"type": "module"`), on another, with the same seeds:
 * - per position: over 20 seeds x 1,000 periods from lag 0, the worst relative deviation of the
 *   share of one position of the period, per subset, from the subset's share;
 * - pools: over 20 seeds x 4,000 picks, the clients of pools of 2, 4, 5, 10 and 16 left without a
 *   subset;
 * - a large pool: at 90/4/3/2/1 (a period of 100), the client and subset pairs of a pool of 50
 *   clients (5 seeds x 200,000 picks) that got no call, and under a quarter of their share;
 * - weight changes: with new weights at every pick for 300 picks (300 sequences per size, each
 *   weight 0 with probability 0.1, else 10^u for u even in [-3, 3]), the lowest lag of an item;
 * - set changes: new weights at every pick, each 0 with probability 0.15 (else 1..100), for 10,000
 *   picks (10 seeds): how far a subset's count strays from its summed shares over runs of 100 and
 *   2,000 picks through one schedule, and over runs of 100 and any run through `ScheduleBook` (one
 *   schedule per set of subsets of positive weight, as the split keeps them).
 *
 * node dist/benchmarks/schedule-order.js [--baseline DIR]
 * @module
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { seededRandom } from '../src/algorithms/random.js';
import { ScheduleBook } from '../src/algorithms/schedule/schedule-book.js';
import { WeightedSchedule } from '../src/algorithms/schedule/scheduler.js';

interface ScheduleLike {
  next(): number;
  setWeights(weights: ArrayLike<number>): void;
  lags(): Float64Array;
}
type ScheduleClass = new (weights: ArrayLike<number>, options: { random: () => number }) => ScheduleLike;
interface BookLike {
  apply(weights: readonly number[]): unknown;
  scheduleFor(eligible: readonly number[], equalShares: boolean): ScheduleLike;
}
type BookClass = new (weights: readonly number[], seed: number) => BookLike;
interface Build {
  name: string;
  Schedule: ScheduleClass;
  Book: BookClass;
}

const ORDER_WEIGHTS = [
  [60, 30, 10],
  [1, 2, 3, 4],
  [40, 30, 20, 10],
  [3, 1, 1, 1, 1, 1],
  [10, 20, 30, 40, 50],
  [7, 5, 3, 2, 1],
  [5, 5, 5, 5, 1],
  [50, 20, 10, 10, 5, 5],
];
const CHANGE_SIZES = [4, 5, 8, 12, 16];
const SET_SIZES = [3, 4, 6, 8, 16];

/** The worst |share of a position - share| / share over every position of the period and subset. */
function worstPosition(Schedule: ScheduleClass, weights: number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  const hits = weights.map(() => new Float64Array(total));
  let periods = 0;
  for (let seed = 0; seed < 20; seed++) {
    const schedule = new Schedule(weights, { random: seededRandom(seed) });
    for (let k = 0; k < 1_000; k++, periods++) for (let t = 0; t < total; t++) hits[schedule.next()]![t]!++;
  }
  let worst = 0;
  weights.forEach((w, i) => {
    for (const h of hits[i]!) worst = Math.max(worst, Math.abs(h / periods - w / total) / (w / total));
  });
  return worst;
}

/** Clients of pools of 2, 4, 5, 10 and 16 that never see some subset, over 20 seeds x 4,000 picks. */
function starvedClients(Schedule: ScheduleClass, weights: number[]): number {
  let starved = 0;
  for (let seed = 1000; seed < 1020; seed++) {
    const schedule = new Schedule(weights, { random: seededRandom(seed) });
    const sequence = Array.from({ length: 4_000 }, () => schedule.next());
    for (const pool of [2, 4, 5, 10, 16]) {
      for (const item of weights.keys()) {
        const seen = new Array<number>(pool).fill(0);
        sequence.forEach((picked, t) => (seen[t % pool]! += picked === item ? 1 : 0));
        starved += seen.filter((s) => s === 0).length;
      }
    }
  }
  return starved;
}

/** A pool of 50 clients at 90/4/3/2/1 (see the module comment): [pairs at 0, pairs under 1/4]. */
function largePool(Schedule: ScheduleClass): [number, number] {
  const weights = [90, 4, 3, 2, 1];
  const pool = 50;
  const picks = 200_000;
  let none = 0;
  let underQuarter = 0;
  for (let seed = 0; seed < 5; seed++) {
    const schedule = new Schedule(weights, { random: seededRandom(seed) });
    const seen = weights.map(() => new Array<number>(pool).fill(0));
    for (let t = 0; t < picks; t++) seen[schedule.next()]![t % pool]!++;
    weights.forEach((w, item) => {
      const expected = (picks / pool) * (w / 100);
      for (const count of seen[item]!) {
        if (count === 0) none++;
        if (count < expected / 4) underQuarter++;
      }
    });
  }
  return [none, underQuarter];
}

/** The lowest lag of an active item with new weights at every pick (see the module comment). */
function lowestLag(Schedule: ScheduleClass, n: number): number {
  const random = seededRandom(77 + n);
  const draw = (): number[] => Array.from({ length: n }, () => (random() < 0.1 ? 0 : 10 ** (6 * random() - 3)));
  let lowest = 0;
  for (let sequence = 0; sequence < 300; sequence++) {
    const schedule = new Schedule(draw(), { random: seededRandom(sequence) });
    for (let t = 0; t < 300; t++) {
      schedule.setWeights(draw());
      schedule.next();
      for (const lag of schedule.lags()) lowest = Math.min(lowest, lag);
    }
  }
  return lowest;
}

/**
 * Strays with the set changing (see the module comment): [runs of 100 and of 2,000 through one
 * schedule, runs of 100 and any run through the book], worst item.
 */
function strays(build: Build, n: number): number[] {
  const out = [0, 0, 0, 0];
  for (let seed = 0; seed < 10; seed++) {
    const random = seededRandom(500 + 31 * n + seed);
    const steps = Array.from({ length: 10_000 }, () =>
      Array.from({ length: n }, () => (random() < 0.15 ? 0 : 1 + Math.floor(random() * 100))),
    );
    for (const [k, viaBook] of [false, true].entries()) {
      const schedule = new build.Schedule(steps[0]!, { random: seededRandom(seed) });
      const book = new build.Book(steps[0]!, seed);
      // Per item: count minus summed shares after each pick.
      const drift = Array.from({ length: n }, () => new Float64Array(steps.length + 1));
      steps.forEach((weights, t) => {
        const total = weights.reduce((a, b) => a + b, 0);
        let picked: number;
        if (viaBook) {
          book.apply(weights);
          picked = book
            .scheduleFor(
              weights.flatMap((w, i) => (w > 0 ? [i] : [])),
              false,
            )
            .next();
        } else {
          schedule.setWeights(weights);
          picked = schedule.next();
        }
        for (let i = 0; i < n; i++) {
          drift[i]![t + 1] = drift[i]![t]! + (i === picked ? 1 : 0) - (total > 0 ? weights[i]! / total : 0);
        }
      });
      for (const d of drift) {
        let low = 0;
        let high = 0;
        for (let t = 0; t < d.length; t++) {
          if (t >= 100) out[2 * k] = Math.max(out[2 * k]!, Math.abs(d[t]! - d[t - 100]!));
          if (!viaBook && t >= 2_000) out[1] = Math.max(out[1]!, Math.abs(d[t]! - d[t - 2_000]!));
          low = Math.min(low, d[t]!);
          high = Math.max(high, d[t]!);
        }
        if (viaBook) out[3] = Math.max(out[3]!, high - low);
      }
    }
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  const builds: Build[] = [{ name: 'this build', Schedule: WeightedSchedule, Book: ScheduleBook }];
  const at = argv.indexOf('--baseline');
  if (at >= 0) {
    const dir = `${argv[at + 1]}/algorithms/schedule`;
    const scheduler = (await import(pathToFileURL(`${dir}/scheduler.js`).href)) as { WeightedSchedule: ScheduleClass };
    const book = (await import(pathToFileURL(`${dir}/schedule-book.js`).href)) as { ScheduleBook: BookClass };
    builds.unshift({ name: 'baseline', Schedule: scheduler.WeightedSchedule, Book: book.ScheduleBook });
  }
  const header = (first: string): string =>
    `| ${first} | ${builds.map((b) => b.name).join(' | ')} |\n| --- |${builds.map(() => ' --- |').join('')}`;
  console.log('Worst relative deviation of a position (20 seeds x 1,000 periods); clients starved (pools 2-16)\n');
  console.log(header('weights'));
  for (const weights of ORDER_WEIGHTS) {
    const cells = builds.map(
      (b) => `${worstPosition(b.Schedule, weights).toFixed(2)}, ${starvedClients(b.Schedule, weights)}`,
    );
    console.log(`| ${weights.join('/')} | ${cells.join(' | ')} |`);
  }
  console.log(
    '\nA pool of 50 clients at 90/4/3/2/1, 5 seeds x 200,000 picks: pairs with no call, under 1/4 of share\n',
  );
  console.log(header('pool'));
  console.log(`| 50 | ${builds.map((b) => largePool(b.Schedule).join(', ')).join(' | ')} |`);
  console.log('\nLowest lag, weights changed at every pick (300 sequences of 300 picks per size)\n');
  console.log(header('items'));
  for (const n of CHANGE_SIZES) {
    console.log(`| ${n} | ${builds.map((b) => lowestLag(b.Schedule, n).toFixed(2)).join(' | ')} |`);
  }
  console.log(
    '\nStray from the summed shares, set changing at every pick (10 seeds x 10,000 picks): ' +
      'runs of 100 / of 2,000 through one schedule; runs of 100 / any run through ScheduleBook\n',
  );
  console.log(header('subsets'));
  for (const n of SET_SIZES) {
    const cells = builds.map((b) =>
      strays(b, n)
        .map((x) => x.toFixed(1))
        .join(' / '),
    );
    console.log(`| ${n} | ${cells.join(' | ')} |`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
