/**
 * `WeightedSchedule.next()` alone, at 2, 3, 4, 8, 16, 64 and 100 items, against another build of
 * the schedule in the same process (`--baseline DIR`: a copy of `dist/src/algorithms` from another
 * commit, with a package.json saying `"type": "module"`). Rounds interleave the builds, rotating
 * which goes first; figures are medians over rounds, ratios per round.
 *
 * node dist/benchmarks/schedule-next.bench.js [--baseline DIR] [--rounds N] [--picks N] [--only N,N]
 *
 * Each (build, case) gets a timing loop of its own (a new function), so no call site sees two
 * classes or two sizes: each loop's `next()` is as monomorphic as a picker's.
 * @module
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../src/algorithms/random.js';
import { WeightedSchedule } from '../src/algorithms/schedule/scheduler.js';
import { fmt, fmtRatio, fmtSpread, ratioSpread, spread } from './stats.js';

interface ScheduleLike {
  next(): number;
  setWeights(weights: ArrayLike<number>): void;
}
type ScheduleClass = new (weights: ArrayLike<number>, options: { random: () => number }) => ScheduleLike;
type TimingLoop = (schedule: ScheduleLike, picks: number, now: () => number) => number;

const SIZES = [2, 3, 4, 8, 16, 64, 100];
const KINDS = ['random', 'skewed', 'cyclic', 'changed'] as const;
type Kind = (typeof KINDS)[number];

/**
 * random: integers 1..100 (seeded); skewed: item 0 holds 99% and the others share 1%; cyclic:
 * `i % 7 + 1`, the weights of the pick-ratio bench's 100 subsets; changed: cyclic, put in force by
 * `setWeights` after 1,000 picks at `i % 5 + 1` (the lags carried over, as after a rollout step).
 */
function weightsFor(kind: Kind, n: number): number[] {
  if (kind === 'random') {
    const random = seededRandom(4242 + n);
    return Array.from({ length: n }, () => 1 + Math.floor(random() * 100));
  }
  if (kind === 'skewed') return Array.from({ length: n }, (_, i) => (i === 0 ? 99 * (n - 1) : 1));
  if (kind === 'changed') return Array.from({ length: n }, (_, i) => (i % 5) + 1);
  return Array.from({ length: n }, (_, i) => (i % 7) + 1);
}

/** A fresh timing loop: its own function, so its own feedback for `next()`. */
function newTimingLoop(): TimingLoop {
  return new Function(
    'schedule',
    'picks',
    'now',
    'let acc = 0; const start = now();' +
      'for (let i = 0; i < picks; i++) acc += schedule.next();' +
      'const ns = ((now() - start) * 1e6) / picks; if (acc === -1) throw new Error("sink"); return ns;',
  ) as TimingLoop;
}

interface Build {
  name: string;
  Schedule: ScheduleClass;
}

interface Runner {
  build: Build;
  schedule: ScheduleLike;
  loop: TimingLoop;
  ns: number[];
}

interface Case {
  n: number;
  kind: Kind;
  runners: Runner[];
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const rounds = Number(option(argv, '--rounds') ?? 15);
  const picks = Number(option(argv, '--picks') ?? 50_000);
  const only = option(argv, '--only')?.split(',').map(Number);
  const builds: Build[] = [{ name: 'this build', Schedule: WeightedSchedule }];
  const baseline = option(argv, '--baseline');
  if (baseline !== undefined) {
    const url = pathToFileURL(`${baseline}/algorithms/schedule/scheduler.js`).href;
    const mod = (await import(url)) as { WeightedSchedule: ScheduleClass };
    builds.unshift({ name: 'baseline', Schedule: mod.WeightedSchedule });
  }
  const now = performance.now.bind(performance);
  const cases: Case[] = [];
  for (const n of SIZES.filter((s) => only === undefined || only.includes(s))) {
    for (const kind of KINDS) {
      const weights = weightsFor(kind, n);
      const runners = builds.map((build) => {
        const schedule = new build.Schedule(weights, { random: seededRandom(7) });
        if (kind === 'changed') {
          for (let k = 0; k < 1_000; k++) schedule.next();
          schedule.setWeights(weightsFor('cyclic', n));
        }
        return { build, schedule, loop: newTimingLoop(), ns: [] as number[] };
      });
      for (const r of runners) r.loop(r.schedule, picks, now); // warm up, untimed
      cases.push({ n, kind, runners });
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      for (let k = 0; k < c.runners.length; k++) {
        const r = c.runners[(round + k) % c.runners.length]!;
        r.ns.push(r.loop(r.schedule, picks, now));
      }
    }
    process.stderr.write(`round ${round + 1}/${rounds}\n`);
  }
  const columns = ['n', 'weights', ...builds.map((b) => `${b.name} ns`)];
  if (builds.length > 1) columns.push('this ÷ baseline');
  console.log(`${picks} picks per figure, ${rounds} rounds; ns per next(), median (min–max)\n`);
  console.log(`| ${columns.join(' | ')} |\n| ${columns.map(() => '---').join(' | ')} |`);
  for (const c of cases) {
    const cells = [String(c.n), c.kind, ...c.runners.map((r) => fmtSpread(spread(r.ns), 1))];
    if (c.runners.length > 1) cells.push(fmtRatio(ratioSpread(c.runners[1]!.ns, c.runners[0]!.ns)));
    console.log(`| ${cells.join(' | ')} |`);
  }
  console.log(
    `\nmedian of this build: ${cases.map((c) => `${c.n}/${c.kind} ${fmt(spread(c.runners.at(-1)!.ns).median, 1)}`).join(', ')}`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
