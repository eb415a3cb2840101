/**
 * End-to-end unary QPS and latency through one client channel to two echo servers (in a child
 * process): plain `round_robin`, the split at 50/50 and 90/10, and nginx `grpc_pass` with a 9:1
 * weighted upstream. Rounds alternate between the variants; ratios are taken per round.
 * @module
 */
import { TrafficSplit } from '../src/index.js';
import type { EchoClientInstance } from '../test/helpers/echo-service.js';
import { startBackends, type Backends } from './backends.js';
import {
  plainClient,
  roundRobinClient,
  splitClient,
  unaryCaller,
  waitForReady,
  waitForSubsets,
  warmUp,
} from './clients.js';
import { closedLoop, type LoadResult } from './load.js';
import { nginxFor, NginxProxy } from './nginx.js';
import { loggerOf, sized, type BenchOptions } from './options.js';
import type { BenchCheck, BenchSection, BenchTable } from './report.js';
import { fmt, fmtRatio, fmtSpread, ratioSpread, spread } from './stats.js';

interface Variant {
  key: 'rr' | 'split50' | 'split90' | 'nginx';
  label: string;
  client: EchoClientInstance;
}

/** Every round of one variant at one concurrency. */
type Runs = Record<Variant['key'], LoadResult[]>;

/** Runs the end-to-end bench; see the module comment. */
export async function runE2eBench(opts: BenchOptions): Promise<BenchSection> {
  const log = loggerOf(opts);
  const concurrencies = sized(opts, { full: [1, 16, 64, 256], quick: [1, 64, 256], tiny: [2] });
  const rounds = sized(opts, { full: 5, quick: 3, tiny: 1 });
  const load = sized(opts, {
    full: { warmupMs: 500, durationMs: 1_500, maxCalls: 400_000 },
    quick: { warmupMs: 200, durationMs: 600, maxCalls: 200_000 },
    tiny: { warmupMs: 30, durationMs: 300, maxCalls: 200 },
  });
  const { bin: nginxBin, absent } = nginxFor(opts.nginx);
  const backends = await startBackends(['v1', 'v2']);
  const closers: (() => unknown)[] = [];
  try {
    const variants = await buildVariants(backends, nginxBin, closers);
    const results: Record<number, Runs> = {};
    for (const c of concurrencies) {
      const runs: Runs = { rr: [], split50: [], split90: [], nginx: [] };
      for (let r = 0; r < rounds; r++) {
        // Rotate the starting variant so none always runs right after the same other one.
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(r + k) % variants.length]!;
          const result = await closedLoop(unaryCaller(v.client), { concurrency: c, ...load });
          if (result.errors > 0) log(`e2e: ${v.label} C=${c}: ${result.errors} failed call(s): ${result.firstError}`);
          runs[v.key].push(result);
          log(
            `e2e C=${c} round ${r + 1}/${rounds} ${v.label}: ${fmt(result.qps, 0)} ` +
              `QPS, p50 ${fmt(result.p50Ms, 3)} ms`,
          );
        }
      }
      results[c] = runs;
    }
    return report(variants, results, concurrencies, nginxBin === null ? absent : null, opts);
  } finally {
    for (const close of closers.reverse()) await close();
    await backends.stop();
  }
}

async function buildVariants(
  backends: Backends,
  nginxBin: string | null,
  closers: (() => unknown)[],
): Promise<Variant[]> {
  const { v1, v2 } = backends.ports as { v1: number; v2: number };
  const subsets = { v1: backends.target('v1'), v2: backends.target('v2') };
  const split50 = new TrafficSplit({ name: 'e2e-50', subsets, weights: { v1: 50, v2: 50 } });
  const split90 = new TrafficSplit({ name: 'e2e-90', subsets, weights: { v1: 90, v2: 10 } });
  closers.push(
    () => split50.close(),
    () => split90.close(),
  );
  const variants: Variant[] = [
    { key: 'rr', label: 'grpc-js round_robin', client: roundRobinClient([v1, v2]) },
    { key: 'split50', label: 'traffic-split 50/50', client: splitClient(split50) },
    { key: 'split90', label: 'traffic-split 90/10', client: splitClient(split90) },
  ];
  if (nginxBin !== null) {
    const proxy = await NginxProxy.start(nginxBin, [
      { port: v1, weight: 9 },
      { port: v2, weight: 1 },
    ]);
    closers.push(() => proxy.stop());
    variants.push({ key: 'nginx', label: 'nginx grpc_pass 9:1', client: plainClient(proxy.target) });
  }
  for (const v of variants) {
    closers.push(() => v.client.close());
    await waitForReady(v.client);
    await warmUp(v.client, 50);
  }
  await waitForSubsets(split50);
  await waitForSubsets(split90);
  return variants;
}

function report(
  variants: Variant[],
  results: Record<number, Runs>,
  concurrencies: number[],
  nginxAbsent: string | null,
  opts: BenchOptions,
): BenchSection {
  const withNginx = nginxAbsent === null;
  const rows: string[][] = [];
  const checks: BenchCheck[] = [];
  const checkAt = concurrencies.includes(64) ? 64 : concurrencies[concurrencies.length - 1]!;
  for (const c of concurrencies) {
    const runs = results[c]!;
    const rr = runs.rr;
    for (const v of variants) {
      const mine = runs[v.key];
      const q = ratioSpread(
        mine.map((x) => x.qps),
        rr.map((x) => x.qps),
      );
      const p50 = ratioSpread(
        mine.map((x) => x.p50Ms),
        rr.map((x) => x.p50Ms),
      );
      const p99 = ratioSpread(
        mine.map((x) => x.p99Ms),
        rr.map((x) => x.p99Ms),
      );
      const vsNginx = withNginx
        ? ratioSpread(
            mine.map((x) => x.qps),
            runs.nginx.map((x) => x.qps),
          )
        : spread([]);
      rows.push([
        String(c),
        v.label,
        fmtSpread(spread(mine.map((x) => x.qps)), 0),
        fmtSpread(spread(mine.map((x) => x.p50Ms)), 3),
        fmtSpread(spread(mine.map((x) => x.p99Ms)), 3),
        fmt(spread(mine.map((x) => x.cpuUsPerCall)).median, 1),
        v.key === 'rr' ? '1x' : fmtRatio(q),
        v.key === 'rr' ? '1x' : fmtRatio(p50),
        v.key === 'rr' ? '1x' : fmtRatio(p99),
        withNginx ? fmtRatio(vsNginx) : 'n/a (no nginx)',
      ]);
      if (c === checkAt && (v.key === 'split50' || v.key === 'split90')) {
        const label = v.label;
        checks.push(
          {
            target: `${v.label} QPS / round_robin >= 0.98 (C=${c})`,
            measured: fmtRatio(q),
            ok: q.median >= 0.98,
            group: `QPS >= 0.98 x round_robin (C=${c})`,
            label,
          },
          {
            target: `${v.label} p50 / round_robin <= 1.02 (C=${c})`,
            measured: fmtRatio(p50),
            ok: p50.median <= 1.02,
            group: `p50 <= 1.02 x round_robin (C=${c})`,
            label,
          },
          {
            target: `${v.label} p99 / round_robin <= 1.02 (C=${c})`,
            measured: fmtRatio(p99),
            ok: p99.median <= 1.02,
            group: `p99 <= 1.02 x round_robin (C=${c})`,
            label,
          },
        );
        if (withNginx)
          checks.push({
            target: `${v.label} QPS / nginx >= 1.6 (C=${c})`,
            measured: fmtRatio(vsNginx),
            ok: vsNginx.median >= 1.6,
            group: `QPS >= 1.6 x nginx (C=${c})`,
            label,
          });
      }
    }
    if (!withNginx)
      rows.push([String(c), 'nginx grpc_pass 9:1', `not run: ${nginxAbsent}`, '', '', '', '', '', '', '']);
  }
  const table: BenchTable = {
    columns: [
      'C',
      'client',
      'QPS',
      'p50 ms',
      'p99 ms',
      'client CPU µs/call',
      'QPS ÷ rr',
      'p50 ÷ rr',
      'p99 ÷ rr',
      'QPS ÷ nginx',
    ],
    rows,
  };
  const rounds = results[concurrencies[0]!]!.rr.length;
  const notes = [
    `Unary echo calls (JSON, ~40-byte messages), one client channel per variant, closed ` +
      `loop with C calls outstanding; ${rounds} alternating round(s) per C, median ` +
      `(min–max). Ratios are per round against round_robin (rr) and nginx of the same round.`,
    'Both echo servers run in one child process, so the server side costs the same whatever the split; when ' +
      'that core saturates, QPS ratios compress toward 1 and client CPU µs/call shows the client-side cost.',
    nginxAbsent ??
      'nginx: one worker, http2 listener on 127.0.0.1, `server ... weight=9; server ... weight=1; keepalive 64;`.',
  ];
  if (opts.tiny === true) notes.push('Tiny run (smoke test): figures are not meaningful.');
  const json = Object.fromEntries(
    concurrencies.map((c) => [c, Object.fromEntries(Object.entries(results[c]!).filter(([, v]) => v.length > 0))]),
  );
  return {
    title: 'End-to-end unary throughput and latency',
    notes,
    tables: [table],
    checks,
    json: { nginx: withNginx, rounds, results: json },
  };
}
