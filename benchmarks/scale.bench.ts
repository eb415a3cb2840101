/**
 * Scale: startup time and memory with 10,000 endpoints in one subset (against a plain grpc-js
 * `round_robin` channel over the same endpoints) and with 100 subsets; memory per split and per
 * channel; and the cost of a schedule pick as the number of subsets grows.
 * @module
 */
import { WeightedSchedule } from '../src/index.js';
import { startBackends, type Backends } from './backends.js';
import { fanoutTarget, loopbackAddresses, releaseFanout } from './fanout-resolver.js';
import { fmtBytes } from './memory.js';
import { loggerOf, sized, type BenchOptions, type Logger } from './options.js';
import { nsPerSchedulePick } from './pick-timing.js';
import type { BenchSection, BenchTable } from './report.js';
import {
  bytesPerChannel,
  bytesPerSplit,
  measureStartup,
  roundRobinOver,
  SETTLE_MS,
  splitOfSubsets,
  splitOver,
  type Built,
  type StartupResult,
} from './scale-scenarios.js';
import { weightsFor } from './scheduler.bench.js';
import { fmt, fmtRatio, fmtSpread, ratioSpread, spread } from './stats.js';

const PICK_SIZES = [2, 100, 1000] as const;

/** Rounds of named scenarios, alternating. */
type Scenarios = Record<string, StartupResult[]>;

/** Runs the scale bench; see the module comment. */
export async function runScaleBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const sizes = {
    endpoints: sized(opts, { full: 10_000, quick: 10_000, tiny: 50 }),
    subsets: sized(opts, { full: 100, quick: 100, tiny: 10 }),
    rounds: sized(opts, { full: 3, quick: 2, tiny: 1 }),
    calls: sized(opts, { full: 500, quick: 200, tiny: 20 }),
    splits: sized(opts, { full: 200, quick: 100, tiny: 5 }),
    channels: sized(opts, { full: 50, quick: 20, tiny: 3 }),
    picks: sized(opts, { full: 2_000_000, quick: 400_000, tiny: 5_000 }),
  };
  const backends = await startBackends(['v1', 'v2']);
  try {
    const endpoints = await endpointScenarios(backends, sizes, log);
    const subsets = await subsetScenarios(backends, sizes, log);
    const memory = await memoryPerObject(backends, sizes, log);
    const picks = pickCost(sizes.picks, sizes.rounds + 2);
    return report({ endpoints, subsets, memory, picks }, sizes);
  } finally {
    await backends.stop();
  }
}

async function alternate(
  builders: [string, () => Built][],
  rounds: number,
  calls: number,
  log: Logger,
): Promise<Scenarios> {
  const out: Scenarios = Object.fromEntries(builders.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, build] of builders) {
      const result = await measureStartup(build, calls);
      out[name]!.push(result);
      log(
        `scale ${name} round ${r + 1}/${rounds}: first reply ` +
          `after ${fmt(result.startupMs, 0)} ms, heap +${fmtBytes(result.heapBytes)}`,
      );
    }
  }
  return out;
}

async function endpointScenarios(
  backends: Backends,
  sizes: { endpoints: number; rounds: number; calls: number },
  log: Logger,
): Promise<Scenarios> {
  const target = fanoutTarget(loopbackAddresses(backends.ports['v1']!, sizes.endpoints));
  try {
    return await alternate(
      [
        ['split', () => splitOver(target)],
        ['plain', () => roundRobinOver(target)],
      ],
      sizes.rounds,
      sizes.calls,
      log,
    );
  } finally {
    releaseFanout(target);
  }
}

function subsetScenarios(
  backends: Backends,
  sizes: { subsets: number; rounds: number; calls: number },
  log: Logger,
): Promise<Scenarios> {
  return alternate(
    [
      ['two', () => splitOfSubsets(backends, 2)],
      ['many', () => splitOfSubsets(backends, sizes.subsets)],
    ],
    sizes.rounds,
    sizes.calls,
    log,
  );
}

async function memoryPerObject(
  backends: Backends,
  sizes: { rounds: number; splits: number; channels: number },
  log: Logger,
) {
  const memory = { split: [] as number[], splitChannel: [] as number[], plainChannel: [] as number[] };
  for (let r = 0; r < sizes.rounds; r++) {
    memory.split.push(bytesPerSplit(backends, sizes.splits));
    memory.splitChannel.push(await bytesPerChannel(backends, sizes.channels, 'split'));
    memory.plainChannel.push(await bytesPerChannel(backends, sizes.channels, 'plain'));
    log(
      `scale memory round ${r + 1}/${sizes.rounds}: ` +
        `split ${fmtBytes(memory.split[r]!)}, channel ${fmtBytes(memory.splitChannel[r]!)}`,
    );
  }
  return memory;
}

function pickCost(picks: number, rounds: number): Record<number, number[]> {
  const out: Record<number, number[]> = {};
  for (const n of PICK_SIZES) {
    const weights = weightsFor('random', n);
    nsPerSchedulePick(new WeightedSchedule(weights), Math.min(picks, 50_000));
    out[n] = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const n of PICK_SIZES) out[n]!.push(nsPerSchedulePick(new WeightedSchedule(weightsFor('random', n)), picks));
  }
  return out;
}

interface Measured {
  endpoints: Scenarios;
  subsets: Scenarios;
  memory: Awaited<ReturnType<typeof memoryPerObject>>;
  picks: Record<number, number[]>;
}

function startupRows(scenarios: Scenarios, labels: Record<string, string>, baseline: string): string[][] {
  const base = scenarios[baseline]!;
  return Object.entries(labels).map(([key, label]) => {
    const runs = scenarios[key]!;
    const field = (f: keyof StartupResult): number[] => runs.map((x) => x[f]);
    const vs = (f: keyof StartupResult): string =>
      key === baseline
        ? '1x'
        : fmtRatio(
            ratioSpread(
              field(f),
              base.map((x) => x[f]),
            ),
          );
    return [
      label,
      fmtSpread(spread(field('startupMs')), 0),
      fmtBytes(spread(field('heapBytes')).median),
      fmtBytes(spread(field('rssBytes')).median),
      fmtSpread(spread(field('p50Ms')), 3),
      vs('startupMs'),
      vs('heapBytes'),
      vs('p50Ms'),
    ];
  });
}

/**
 * The subsets table. The heap growth of a 2-subset channel is within GC noise, so instead of a
 * ratio to it the table gives the growth per added subset.
 */
function subsetsTable(scenarios: Scenarios, subsets: number, calls: number): BenchTable {
  const two = scenarios['two']!;
  const many = scenarios['many']!;
  const perSubset = spread(many.map((x, i) => (x.heapBytes - two[i]!.heapBytes) / (subsets - 2)));
  const row = (label: string, runs: StartupResult[], base: boolean): string[] => [
    label,
    fmtSpread(spread(runs.map((x) => x.startupMs)), 0),
    fmtBytes(spread(runs.map((x) => x.heapBytes)).median),
    fmtSpread(spread(runs.map((x) => x.p50Ms)), 3),
    base
      ? '1x'
      : fmtRatio(
          ratioSpread(
            runs.map((x) => x.startupMs),
            two.map((x) => x.startupMs),
          ),
        ),
    base
      ? '1x'
      : fmtRatio(
          ratioSpread(
            runs.map((x) => x.p50Ms),
            two.map((x) => x.p50Ms),
          ),
        ),
    base ? '' : fmtBytes(perSubset.median),
  ];
  return {
    caption: `${subsets} subsets (one endpoint each, on the two servers):`,
    columns: [
      'channel',
      'startup ms',
      'heap Δ',
      `p50 ms (${calls} sequential calls)`,
      'startup ÷ 2 subsets',
      'p50 ÷ 2 subsets',
      'heap per added subset',
    ],
    rows: [row('traffic-split, 2 subsets', two, true), row(`traffic-split, ${subsets} subsets`, many, false)],
  };
}

function report(
  m: Measured,
  sizes: {
    endpoints: number;
    subsets: number;
    rounds: number;
    calls: number;
    splits: number;
    channels: number;
    picks: number;
  },
): BenchSection {
  const columns = (base: string): string[] => [
    'channel',
    'startup ms',
    'heap Δ',
    'RSS Δ',
    `p50 ms (${sizes.calls} sequential calls)`,
    `startup ÷ ${base}`,
    `heap ÷ ${base}`,
    `p50 ÷ ${base}`,
  ];
  const n = sizes.endpoints.toLocaleString('en-US');
  const endpointTable: BenchTable = {
    caption: `${n} endpoints in one subset (1 live, ${(sizes.endpoints - 1).toLocaleString('en-US')} refusing):`,
    columns: columns('round_robin'),
    rows: startupRows(
      m.endpoints,
      { split: `traffic-split, 1 subset × ${n} endpoints`, plain: `grpc-js round_robin, ${n} endpoints` },
      'plain',
    ),
  };
  const subsetTable = subsetsTable(m.subsets, sizes.subsets, sizes.calls);
  const perSplit = spread(m.memory.split);
  const memoryTable: BenchTable = {
    caption: 'Heap per object (after a full GC):',
    columns: ['object', 'bytes each', 'vs plain channel'],
    rows: [
      [`TrafficSplit, no channel (${sizes.splits} made)`, fmtSpread(perSplit, 0), ''],
      [
        `channel from a split, READY, 2 subsets (${sizes.channels} made)`,
        fmtSpread(spread(m.memory.splitChannel), 0),
        fmtRatio(ratioSpread(m.memory.splitChannel, m.memory.plainChannel)),
      ],
      [
        `plain round_robin channel, READY, 2 endpoints (${sizes.channels} made)`,
        fmtSpread(spread(m.memory.plainChannel), 0),
        '1x',
      ],
    ],
  };
  const base = m.picks[2]!;
  const pickTable: BenchTable = {
    caption: 'WeightedSchedule.next() as subsets grow (random weights):',
    columns: ['subsets', 'ns/pick', `÷ n=2`],
    rows: PICK_SIZES.map((k) => [
      String(k),
      fmtSpread(spread(m.picks[k]!), 1),
      k === 2 ? '1x' : fmtRatio(ratioSpread(m.picks[k]!, base)),
    ]),
  };
  const notes = [
    `Startup: channel creation to the first reply. Endpoints come from a test resolver (\`bench-fanout:\`): ` +
      `127.0.0.1:<port> of a live echo server first, then 127.1.x.y:<same port>, where nothing listens, so ` +
      `each costs one refused connect on loopback. Reconnect backoff is set to 60 s so no endpoint is retried ` +
      `during the measurement; the resolver answers at most once per 30 s, as grpc-js's DNS resolver does.`,
    `Heap Δ and RSS Δ: after vs before building the channel (full GC, gc() ` +
      `exposed at run time), measured ${SETTLE_MS} ms after the first reply ` +
      `and ${sizes.calls} calls. ${sizes.rounds} alternating round(s), median (min–max).`,
    "Per-channel memory includes the channel's own two connections (each channel has its own subchannel pool).",
  ];
  return {
    title: 'Scale: endpoints, subsets, memory, pick cost',
    notes,
    tables: [endpointTable, subsetTable, memoryTable, pickTable],
    json: { sizes, ...m },
  };
}
