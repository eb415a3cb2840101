/**
 * The chart: share of v2 per 100 calls while the weights go 90/10 -> 10/90 halfway, for the
 * split (real calls through a real channel) and for a random weighted pick (seeded simulation).
 * Writes `<date>-share.svg`.
 * @module
 */
import { TrafficSplit } from '../src/index.js';
import { startBackends } from './backends.js';
import { namedCaller, splitClient, waitForReady, waitForSubsets } from './clients.js';
import { recordSequence } from './load.js';
import { loggerOf, sized, type BenchOptions } from './options.js';
import { randomSequence } from './random-pick.js';
import type { BenchSection } from './report.js';
import { fmt } from './stats.js';
import { renderLineChart } from './svg-chart.js';
import { sharePerBucket } from './windows.js';

const NAMES = ['v1', 'v2'] as const;

/** Runs the chart bench; see the module comment. */
export async function runChartBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const half = sized(opts, { full: 3_000, quick: 2_000, tiny: 100 });
  const bucket = sized(opts, { full: 100, quick: 100, tiny: 20 });
  const backends = await startBackends([...NAMES]);
  const split = new TrafficSplit({
    name: 'chart',
    subsets: { v1: backends.target('v1'), v2: backends.target('v2') },
    weights: { v1: 90, v2: 10 },
  });
  const client = splitClient(split);
  let observed: Int16Array;
  try {
    await waitForReady(client);
    await waitForSubsets(split);
    const seq = await recordSequence(2 * half, NAMES, namedCaller(client), 60_000, (i) => {
      if (i === half) split.setWeights({ v1: 10, v2: 90 });
    });
    if (seq.length < 2 * half) throw new Error(`chart: only ${seq.length} of ${2 * half} calls within the time limit`);
    observed = seq.subsets;
    log(`chart: ${seq.length} real calls, ${seq.errors} failed`);
  } finally {
    client.close();
    split.close();
    await backends.stop();
  }
  const random = new Int16Array(2 * half);
  random.set(randomSequence([90, 10], half, 7), 0);
  random.set(randomSequence([10, 90], half, 8), half);
  const library = sharePerBucket(observed, 1, bucket);
  const baseline = sharePerBucket(random, 1, bucket);
  const svg = renderLineChart({
    title: 'Share of v2 per 100 calls, weights 90/10 → 10/90',
    subtitle: `${2 * half} sequential calls; the switch is at call ${half}`,
    xLabel: 'call number',
    yLabel: `share of v2 in each block of ${bucket} calls`,
    xMax: 2 * half,
    yMax: 1,
    xTicks: ticks(2 * half),
    yTicks: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
    formatY: (y) => `${Math.round(y * 100)}%`,
    series: [
      {
        label: 'ideal (weights in force)',
        color: '#999',
        dashed: true,
        points: [
          [0, 0.1],
          [half, 0.1],
          [half, 0.9],
          [2 * half, 0.9],
        ],
      },
      { label: 'random weighted pick (seeded)', color: '#e08a00', dots: true, points: centers(baseline, bucket) },
      { label: 'traffic-split (real calls)', color: '#1f5fbf', dots: true, points: centers(library, bucket) },
    ],
    markers: [{ x: half, label: 'setWeights 10/90' }],
    legend: 'bottom-right',
  });
  const spreadOf = (shares: number[], from: number, to: number, ideal: number): number =>
    shares.slice(from, to).reduce((worst, s) => Math.max(worst, Math.abs(s - ideal)), 0) * bucket;
  const buckets = half / bucket;
  const rows = [
    [
      'traffic-split, real calls',
      fmt(spreadOf(library, 0, buckets, 0.1), 0),
      fmt(spreadOf(library, buckets, 2 * buckets, 0.9), 0),
    ],
    [
      'random weighted pick (seeded)',
      fmt(spreadOf(baseline, 0, buckets, 0.1), 0),
      fmt(spreadOf(baseline, buckets, 2 * buckets, 0.9), 0),
    ],
  ];
  return {
    title: 'Chart: share of v2 over time across a weight change',
    notes: [
      `Written to \`<date>-share.svg\`. ${half} calls at 90/10, then ${half} ` +
        `at 10/90; the random line is a seeded simulation of the same calls.`,
    ],
    tables: [
      {
        columns: [
          'picker',
          `worst block of ${bucket}, calls off ideal (90/10)`,
          `worst block of ${bucket}, calls off ideal (10/90)`,
        ],
        rows,
      },
    ],
    json: { half, bucket, library, random: baseline },
    artifacts: [{ name: 'share.svg', content: svg }],
  };
}

/** Bucket shares as points at each bucket's middle. */
function centers(shares: number[], bucket: number): [number, number][] {
  return shares.map((share, i) => [(i + 0.5) * bucket, share]);
}

/** About eight round x-axis ticks from 0 to max. */
function ticks(max: number): number[] {
  const raw = max / 8;
  const step =
    [1, 2, 5].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw) ??
    10 ** Math.ceil(Math.log10(raw));
  const out: number[] = [];
  for (let x = 0; x <= max; x += step) out.push(x);
  return out;
}
