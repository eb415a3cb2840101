/**
 * Scheduler microbench: `WeightedSchedule.next()` for n = 2, 8, 64 and 1000 items with equal,
 * random and skewed weights, against a random weighted pick by linear scan and by binary search.
 * Setup is untimed; the three pickers alternate within each round.
 * @module
 */
import { WeightedSchedule } from '../src/index.js';
import { loggerOf, sized, type BenchOptions } from './options.js';
import { nsPerBinaryPick, nsPerLinearPick, nsPerSchedulePick, timingSink } from './pick-timing.js';
import { cumulative, seededRandom } from './random-pick.js';
import type { BenchSection } from './report.js';
import { fmt, fmtRatio, fmtSpread, ratioSpread, spread } from './stats.js';

const SIZES = [2, 8, 64, 1000] as const;
const KINDS = ['equal', 'random', 'skewed'] as const;
/** The design target the two checks below share (one summary line). */
const SCHEDULE_TARGET = 'WeightedSchedule.next() <= 100 ns at n=2, <= 150 ns at n=64';
type WeightKind = (typeof KINDS)[number];

/**
 * equal: all 1. random: uniform integers 1..100 (seeded). skewed: item 0 holds 99% of the
 * total, the rest share 1% (a canary-style split over many subsets).
 */
export function weightsFor(kind: WeightKind, n: number, seed = 42): number[] {
  if (kind === 'equal') return new Array<number>(n).fill(1);
  if (kind === 'random') {
    const random = seededRandom(seed + n);
    return Array.from({ length: n }, () => 1 + Math.floor(random() * 100));
  }
  return Array.from({ length: n }, (_, i) => (i === 0 ? 99 * (n - 1) : 1));
}

interface Case {
  n: number;
  kind: WeightKind;
  schedule: number[];
  linear: number[];
  binary: number[];
}

/** Runs the scheduler bench; see the module comment. */
export async function runSchedulerBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const picks = sized(opts, { full: 2_000_000, quick: 400_000, tiny: 5_000 });
  const rounds = sized(opts, { full: 7, quick: 3, tiny: 1 });
  const cases: Case[] = [];
  for (const n of SIZES) {
    for (const kind of KINDS) {
      const weights = weightsFor(kind, n);
      const cum = cumulative(weights);
      const c: Case = { n, kind, schedule: [], linear: [], binary: [] };
      // Warm each loop once (JIT), untimed.
      nsPerSchedulePick(new WeightedSchedule(weights), Math.min(picks, 50_000));
      nsPerLinearPick(cum, Math.min(picks, 50_000));
      nsPerBinaryPick(cum, Math.min(picks, 50_000));
      for (let r = 0; r < rounds; r++) {
        const schedule = new WeightedSchedule(weights);
        c.schedule.push(nsPerSchedulePick(schedule, picks));
        c.linear.push(nsPerLinearPick(cum, picks));
        c.binary.push(nsPerBinaryPick(cum, picks));
      }
      cases.push(c);
      log(`scheduler n=${n} ${kind}: ${fmt(spread(c.schedule).median, 1)} ns/pick`);
    }
  }
  // Yield once so a long synchronous bench does not starve the runner's progress output.
  await new Promise((resolve) => setImmediate(resolve));
  const rows = cases.map((c) => {
    const ns = spread(c.schedule);
    return [
      String(c.n),
      c.kind,
      fmtSpread(ns, 1),
      fmt(1e3 / ns.median, 1),
      fmtSpread(spread(c.linear), 1),
      fmtSpread(spread(c.binary), 1),
      fmtRatio(ratioSpread(c.schedule, c.linear)),
      fmtRatio(ratioSpread(c.schedule, c.binary)),
    ];
  });
  const at = (n: number): number => spread(cases.filter((c) => c.n === n).flatMap((c) => c.schedule)).median;
  return {
    title: 'Scheduler: WeightedSchedule.next() vs a random weighted pick',
    notes: [
      `${picks.toLocaleString('en-US')} picks per timing, ${rounds} round(s) ` +
        `alternating the three pickers, median (min–max) ns per pick. Weights: equal = all ` +
        `1; random = uniform 1..100 (seeded); skewed = item 0 has 99% of the total.`,
      'Schedule = `WeightedSchedule.next()` on a schedule built fresh each round (so its first picks ' +
        'are timed too). Random pick = Math.random() then a linear scan, or a binary search, of the cumulative ' +
        'weights (what weighted_target-style pickers do). Ratios below 1 mean the schedule is cheaper.',
    ],
    tables: [
      {
        columns: [
          'n',
          'weights',
          'schedule ns/pick',
          'schedule M picks/s',
          'random linear ns/pick',
          'random binary ns/pick',
          'schedule ÷ linear',
          'schedule ÷ binary',
        ],
        rows,
      },
    ],
    checks: [
      {
        target: 'WeightedSchedule.next() <= 100 ns at n=2 (the picker adds to this)',
        measured: `${fmt(at(2), 1)} ns`,
        ok: at(2) <= 100,
        group: SCHEDULE_TARGET,
        label: 'n=2',
      },
      {
        target: 'WeightedSchedule.next() <= 150 ns at n=64',
        measured: `${fmt(at(64), 1)} ns`,
        ok: at(64) <= 150,
        group: SCHEDULE_TARGET,
        label: 'n=64',
      },
    ],
    json: { picks, rounds, cases, sink: timingSink() },
  };
}
