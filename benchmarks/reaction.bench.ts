/**
 * Reaction to a weight change: while calls flow one after another at 90/10, switch to 10/90 and
 * count the calls and milliseconds until every window of 10 calls matches the new split within
 * one call, and the new TCP connections the servers accepted.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { startBackends, type Backends } from './backends.js';
import { recordSequence } from './load.js';
import { nginxFor } from './nginx.js';
import { loggerOf, sized, type BenchOptions, type Logger } from './options.js';
import {
  connectionLevelSystem,
  nginxSystem,
  POOL_SIZE,
  splitSystem,
  type SwitchableSystem,
} from './reaction-systems.js';
import type { BenchCheck, BenchSection } from './report.js';
import { fmt, fmtSpread, spread } from './stats.js';
import { holdsFrom } from './windows.js';

const NAMES = ['v1', 'v2'] as const;
const NEW_WEIGHTS = [10, 90];
const SEQUENCE_TIME_LIMIT_MS = 20_000;
/** The calls right after a switch whose slowest is reported. */
const FIRST_CALLS = 10;

/** One switch of one system. `lagCalls` is -1 when the new split never held in the calls made. */
interface SwitchRun {
  lagCalls: number;
  lagMs: number;
  newConnections: number;
  failedCalls: number;
  switchUs: number;
  /** Slowest of the first calls after the switch, ms (a connect shows here, not in the lag). */
  slowestMs: number;
  callsAfter: number;
}

type SystemKey = 'split' | 'nginx' | 'pool';

/** Runs the reaction bench; see the module comment. */
export async function runReactionBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const rounds = sized(opts, { full: 5, quick: 3, tiny: 1 });
  const before = sized(opts, { full: 300, quick: 100, tiny: 30 });
  const after = sized(opts, { full: 2_000, quick: 600, tiny: 60 });
  const setWeightsCalls = sized(opts, { full: 20_000, quick: 5_000, tiny: 100 });
  const warmSetWeightsUs: number[] = [];
  const { bin: nginxBin, absent } = nginxFor(opts.nginx);
  const backends = await startBackends([...NAMES]);
  const runs: Record<SystemKey, SwitchRun[]> = { split: [], nginx: [], pool: [] };
  const labels: Partial<Record<SystemKey, string>> = {};
  const makers: [SystemKey, () => Promise<SwitchableSystem>][] = [
    ['split', () => splitSystem(backends)],
    ['pool', () => connectionLevelSystem(backends)],
  ];
  if (nginxBin !== null) makers.push(['nginx', () => nginxSystem(nginxBin, backends)]);
  try {
    for (let r = 0; r < rounds; r++) {
      // Every system starts fresh each round, so no round inherits another's connections.
      for (const [key, make] of makers) {
        const system = await make();
        labels[key] = system.label;
        try {
          runs[key].push(await measureSwitch(system, backends, before, after, log));
        } finally {
          await system.close();
        }
      }
      warmSetWeightsUs.push(await timeSetWeights(backends, setWeightsCalls));
    }
  } finally {
    await backends.stop();
  }
  log(`reaction: setWeights() warm ${fmtSpread(spread(warmSetWeightsUs), 2)} µs`);
  return report(runs, labels, warmSetWeightsUs, nginxBin === null ? absent : null, {
    rounds,
    before,
    after,
    setWeightsCalls,
  });
}

/**
 * µs per `setWeights()` once its code is warm: alternates two weight sets on a split whose one
 * channel is READY, so each call validates, swaps the weights and has the channel's policy build
 * and publish a new picker, as in production.
 */
async function timeSetWeights(backends: Backends, calls: number): Promise<number> {
  const system = await splitSystem(backends);
  try {
    const a = { v1: 90, v2: 10 };
    const b = { v1: 10, v2: 90 };
    for (let i = 0; i < Math.min(calls, 500); i++) system.split.setWeights(i % 2 === 0 ? b : a);
    const start = performance.now();
    for (let i = 0; i < calls; i++) system.split.setWeights(i % 2 === 0 ? b : a);
    return ((performance.now() - start) * 1000) / calls;
  } finally {
    await system.close();
  }
}

async function measureSwitch(
  system: SwitchableSystem,
  backends: Backends,
  before: number,
  after: number,
  log: Logger,
): Promise<SwitchRun> {
  let acceptedAtSwitch: Record<string, number> = {};
  let changedAtMs = 0;
  let switchUs = 0;
  const seq = await recordSequence(before + after, NAMES, system.call, SEQUENCE_TIME_LIMIT_MS, async (i) => {
    if (i !== before) return;
    acceptedAtSwitch = await backends.accepted();
    switchUs = await system.switchWeights();
    changedAtMs = performance.now();
  });
  const acceptedAfter = await backends.accepted();
  const newConnections = NAMES.reduce((sum, n) => sum + (acceptedAfter[n]! - (acceptedAtSwitch[n] ?? 0)), 0);
  const post = seq.subsets.subarray(before);
  const lagCalls = holdsFrom(post, NEW_WEIGHTS, 10, 1);
  const lagMs = lagCalls >= 0 ? seq.startedMs[before + lagCalls]! - changedAtMs : NaN;
  const failedCalls = post.reduce((n, s) => n + (s < 0 ? 1 : 0), 0);
  const slowestMs = seq.durationMs.subarray(before, before + FIRST_CALLS).reduce((a, b) => Math.max(a, b), 0);
  log(
    `reaction ${system.label}: holds after ${lagCalls} call(s), ${fmt(lagMs, 3)} ` +
      `ms, ${newConnections} new connection(s), ${failedCalls} failed`,
  );
  return { lagCalls, lagMs, newConnections, failedCalls, switchUs, slowestMs, callsAfter: post.length };
}

function report(
  runs: Record<SystemKey, SwitchRun[]>,
  labels: Partial<Record<SystemKey, string>>,
  warmSetWeightsUs: number[],
  nginxAbsent: string | null,
  sizes: { rounds: number; before: number; after: number; setWeightsCalls: number },
): BenchSection {
  const withNginx = nginxAbsent === null;
  const keys: SystemKey[] = withNginx ? ['split', 'nginx', 'pool'] : ['split', 'pool'];
  const rows = keys.map((key) => {
    const list = runs[key];
    const never = list.filter((r) => r.lagCalls < 0).length;
    const held = list.filter((r) => r.lagCalls >= 0);
    const lag = held.length > 0 ? fmtSpread(spread(held.map((r) => r.lagCalls)), 0) : 'never';
    return [
      labels[key] ?? key,
      never > 0 ? `${lag}; did not hold within ${list[0]!.callsAfter} calls in ${never} round(s)` : lag,
      fmtSpread(spread(held.map((r) => r.lagMs)), 3),
      fmtSpread(spread(list.map((r) => r.newConnections)), 0),
      fmtSpread(spread(list.map((r) => r.failedCalls)), 0),
      fmtSpread(spread(list.map((r) => r.slowestMs)), 2),
      fmtSpread(spread(list.map((r) => r.switchUs)), 1),
    ];
  });
  if (!withNginx) rows.push(['nginx reload (SIGHUP)', `not run: ${nginxAbsent}`, '', '', '', '', '']);
  const split = runs.split;
  const lag = spread(split.map((r) => (r.lagCalls < 0 ? Infinity : r.lagCalls)));
  const conns = spread(split.map((r) => r.newConnections));
  const switchUs = spread(warmSetWeightsUs);
  const group = 'setWeights(): 0 calls of lag, 0 new connections, <= 10 µs';
  const checks: BenchCheck[] = [
    {
      target: 'traffic-split: 0 calls of lag (worst round)',
      measured: fmt(lag.max, 0),
      ok: lag.max === 0,
      group,
      label: 'lag (calls)',
    },
    {
      target: 'traffic-split: 0 new connections (worst round)',
      measured: fmt(conns.max, 0),
      ok: conns.max === 0,
      group,
      label: 'new connections',
    },
    {
      target: 'traffic-split: setWeights() <= 10 µs (warm, median of rounds)',
      measured: `${fmtSpread(switchUs, 2)} µs`,
      ok: switchUs.median <= 10,
      group,
      label: 'time',
    },
  ];
  const notes = [
    `Sequential calls: ${sizes.before} at 90/10, then the switch to 10/90, then ` +
      `up to ${sizes.after} more; ${sizes.rounds} round(s), median (min–max).`,
    '"Holds after": the first call index after the switch from which every window of ' +
      '10 calls has v2 within 1 of 9. "ms": from the switch to the start of that call.',
    'New connections: TCP connections the two echo servers accepted between the switch and the end of the round ' +
      '(for nginx, its upstream connections; the client also reconnects to the new nginx worker, not counted).',
    `Connection-level split: ${POOL_SIZE} plain channels with a connection each, used in ` +
      `turn; its best case is measured, all 8 connections remade at the switch. With ${POOL_SIZE} ` +
      `connections its split has a granularity of ${100 / POOL_SIZE}%: 99/1 is out of reach.`,
    '"switch µs (cold, once)": the time of the one switch call of the round (setWeights(); ' +
      'config write + SIGHUP; closing and creating 8 channels), code paths not yet warm.',
    `setWeights() warm: ${sizes.setWeightsCalls} calls alternating 90/10 and 10/90 on ` +
      `a split with one READY channel, per round: ${fmtSpread(switchUs, 2)} µs per call.`,
  ];
  if (nginxAbsent !== null) notes.push(nginxAbsent);
  return {
    title: 'Reaction to a weight change (90/10 -> 10/90)',
    notes,
    tables: [
      {
        columns: [
          'system',
          'calls until the new split holds',
          'ms until it holds',
          'new TCP connections',
          'failed calls',
          'slowest of the next 10 calls, ms',
          'switch µs (cold, once)',
        ],
        rows,
      },
    ],
    checks,
    json: { sizes, runs, warmSetWeightsUs },
  };
}
