/**
 * Precision: the largest deviation from the ideal count over sliding windows of 10, 100 and
 * 1000 calls, at 90/10, 99/1 and 999/1, for the split (real calls, and its pure schedule), a
 * seeded random weighted pick, and nginx's weighted round robin (real calls).
 * @module
 */
import { TrafficSplit, WeightedSchedule } from '../src/index.js';
import { startBackends, type Backends } from './backends.js';
import { namedCaller, plainClient, splitClient, waitForReady, waitForSubsets } from './clients.js';
import { recordSequence } from './load.js';
import { nginxFor, NginxProxy } from './nginx.js';
import { loggerOf, sized, type BenchOptions, type Logger } from './options.js';
import { randomSequence } from './random-pick.js';
import type { BenchCheck, BenchSection } from './report.js';
import { fmt, fmtSpread, spread } from './stats.js';
import { maxDeviation } from './windows.js';

const WEIGHT_SETS: readonly (readonly [number, number])[] = [
  [90, 10],
  [99, 1],
  [999, 1],
];
const WINDOWS = [10, 100, 1000] as const;
const NAMES = ['v1', 'v2'] as const;
/** Per sequence of real calls; sequential calls on loopback take well under 1 ms each. */
const SEQUENCE_TIME_LIMIT_MS = 60_000;

/** One picker at one weight set: deviation per window (median and range over seeds for random). */
interface Row {
  weights: string;
  picker: string;
  calls: number;
  errors: number;
  deviation: Record<number, number[]>;
}

/** Runs the precision bench; see the module comment. */
export async function runPrecisionBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const realCalls = sized(opts, { full: 10_000, quick: 2_000, tiny: 200 });
  const pureCalls = sized(opts, { full: 200_000, quick: 50_000, tiny: 2_000 });
  const seeds = sized(opts, { full: 20, quick: 10, tiny: 2 });
  const { bin: nginxBin, absent } = nginxFor(opts.nginx);
  const rows: Row[] = [];
  const backends = await startBackends([...NAMES]);
  try {
    for (const weights of WEIGHT_SETS) {
      const label = weights.join('/');
      rows.push(await splitRow(backends, weights, realCalls, log));
      rows.push(pureRow(weights, pureCalls));
      rows.push(randomRow(weights, pureCalls, seeds));
      if (nginxBin !== null) rows.push(await nginxRow(nginxBin, backends, weights, realCalls, log));
      log(`precision ${label}: done`);
    }
  } finally {
    await backends.stop();
  }
  return report(rows, nginxBin === null ? absent : null, { realCalls, pureCalls, seeds });
}

function deviations(sequence: ArrayLike<number>, weights: readonly number[]): Record<number, number[]> {
  return Object.fromEntries(WINDOWS.map((w) => [w, [maxDeviation(sequence, weights, w)]]));
}

async function splitRow(
  backends: Backends,
  weights: readonly [number, number],
  calls: number,
  log: Logger,
): Promise<Row> {
  const split = new TrafficSplit({
    name: 'precision',
    subsets: { v1: backends.target('v1'), v2: backends.target('v2') },
    weights: { v1: weights[0], v2: weights[1] },
  });
  const client = splitClient(split);
  try {
    await waitForReady(client);
    // Until both subsets are READY the schedule only holds the ready one; measure from then on.
    await waitForSubsets(split);
    const seq = await recordSequence(calls, NAMES, namedCaller(client), SEQUENCE_TIME_LIMIT_MS);
    log(`precision ${weights.join('/')} traffic-split: ${seq.length} real calls`);
    return {
      weights: weights.join('/'),
      picker: 'traffic-split, real calls',
      calls: seq.length,
      errors: seq.errors,
      deviation: deviations(seq.subsets, weights),
    };
  } finally {
    client.close();
    split.close();
  }
}

function pureRow(weights: readonly [number, number], calls: number): Row {
  const schedule = new WeightedSchedule(weights);
  const seq = new Int16Array(calls);
  for (let i = 0; i < calls; i++) seq[i] = schedule.next();
  return {
    weights: weights.join('/'),
    picker: 'WeightedSchedule (pure)',
    calls,
    errors: 0,
    deviation: deviations(seq, weights),
  };
}

function randomRow(weights: readonly [number, number], calls: number, seeds: number): Row {
  const deviation: Record<number, number[]> = Object.fromEntries(WINDOWS.map((w) => [w, [] as number[]]));
  for (let seed = 1; seed <= seeds; seed++) {
    const seq = randomSequence(weights, calls, seed);
    for (const w of WINDOWS) deviation[w]!.push(maxDeviation(seq, weights, w));
  }
  return { weights: weights.join('/'), picker: `random pick (seeded, ${seeds} seeds)`, calls, errors: 0, deviation };
}

async function nginxRow(
  bin: string,
  backends: Backends,
  weights: readonly [number, number],
  calls: number,
  log: Logger,
): Promise<Row> {
  // A fresh nginx per weight set: its weighted round robin starts from a clean state.
  const proxy = await NginxProxy.start(bin, [
    { port: backends.ports['v1']!, weight: weights[0] },
    { port: backends.ports['v2']!, weight: weights[1] },
  ]);
  const client = plainClient(proxy.target);
  try {
    await waitForReady(client);
    const seq = await recordSequence(calls, NAMES, namedCaller(client), SEQUENCE_TIME_LIMIT_MS);
    log(`precision ${weights.join('/')} nginx: ${seq.length} real calls`);
    return {
      weights: weights.join('/'),
      picker: 'nginx weighted RR, real calls',
      calls: seq.length,
      errors: seq.errors,
      deviation: deviations(seq.subsets, weights),
    };
  } finally {
    client.close();
    await proxy.stop();
  }
}

function report(
  rows: Row[],
  nginxAbsent: string | null,
  sizes: { realCalls: number; pureCalls: number; seeds: number },
): BenchSection {
  const cell = (values: number[] | undefined): string => {
    if (values === undefined || values.length === 0 || !Number.isFinite(values[0]!)) return 'n/a';
    return values.length === 1 ? fmt(values[0]!, 2) : fmtSpread(spread(values), 2);
  };
  const table = {
    columns: ['weights', 'picker', 'calls', ...WINDOWS.map((w) => `max dev, window ${w}`), 'failed calls'],
    rows: WEIGHT_SETS.flatMap((weights) => {
      const label = weights.join('/');
      const measured = rows
        .filter((r) => r.weights === label)
        .map((r) => [
          r.weights,
          r.picker,
          String(r.calls),
          ...WINDOWS.map((w) => cell(r.deviation[w])),
          String(r.errors),
        ]);
      if (nginxAbsent !== null)
        measured.push([label, 'nginx weighted RR, real calls', '0', 'not run', 'not run', 'not run', '']);
      return measured;
    }),
  };
  const checks: BenchCheck[] = [];
  for (const r of rows.filter(
    (x) => x.picker.startsWith('traffic-split') || x.picker.startsWith('WeightedSchedule'),
  )) {
    for (const w of WINDOWS) {
      const dev = r.deviation[w]![0]!;
      if (Number.isFinite(dev)) {
        checks.push({
          target: `${r.picker} ${r.weights}, window ${w}: max deviation <= 1`,
          measured: fmt(dev, 2),
          ok: dev <= 1 + 1e-9,
          group: 'max deviation <= 1 call in sliding windows of 10, 100, 1000',
          label: `${r.picker} ${r.weights} window ${w}`,
        });
      }
    }
  }
  const notes = [
    'Max deviation for window w: the largest |count − w × share| over every window of w ' +
      'consecutive calls and every subset. 0 is perfect; ≤ 1 means no window is off by a whole call.',
    `Real calls are made one at a time, so reply order is pick order; each reply names ` +
      `its server. ${sizes.realCalls} calls per real row, ${sizes.pureCalls} picks per ` +
      `simulated row; random pick: median (min–max) over ${sizes.seeds} seeds (mulberry32).`,
    nginxAbsent ?? 'nginx: one worker, a fresh instance per weight set (`weight=90`/`weight=10` etc.).',
    'A window longer than the sequence shows n/a.',
  ];
  return { title: 'Precision over sliding windows', notes, tables: [table], checks, json: { sizes, rows } };
}
