/**
 * The features bench's table and summary checks, from its rounds: every ratio is taken per round
 * between two variants of that round, then summarized over rounds.
 * @module
 */
import type { FeatureVariant } from './feature-variants.js';
import type { LoadResult } from './load.js';
import type { BenchCheck, BenchTable } from './report.js';
import { fmt, fmtRatio, fmtSpread, ratioSpread, spread, type Spread } from './stats.js';

/** One closed loop of a variant, with the CPU per call of the proxy it went through (NaN: none). */
export type FeatureRun = LoadResult & { proxyCpuUsPerCall: number };

/** Every round of every variant, by variant key. */
export type FeatureRuns = Record<string, FeatureRun[]>;

const cpu = (runs: FeatureRun[]): number[] => runs.map((r) => r.cpuUsPerCall);
/** Client CPU plus the proxy's, per call: what a call costs the machine on the client's side. */
const totalCpu = (runs: FeatureRun[]): number[] =>
  runs.map((r) => r.cpuUsPerCall + (Number.isNaN(r.proxyCpuUsPerCall) ? 0 : r.proxyCpuUsPerCall));

/** Per-round CPU ratio of `key` to `base`. */
function cpuRatio(runs: FeatureRuns, key: string, base: string): Spread {
  return ratioSpread(cpu(runs[key] ?? []), cpu(runs[base] ?? []));
}

/** Streams beyond unary: (split ÷ rr, streaming) ÷ (split ÷ rr, unary), per round. */
export function streamCost(runs: FeatureRuns): Spread {
  const streaming = cpuRatio(runs, 'splitStream', 'rrStream').values;
  const unary = cpuRatio(runs, 'base', 'rr').values;
  return ratioSpread(streaming, unary);
}

export function featureTable(runs: FeatureRuns, variants: readonly FeatureVariant[]): BenchTable {
  const rows = variants.map((v) => {
    const mine = runs[v.key]!;
    const base = v.baseline === null ? null : runs[v.baseline]!;
    return [
      v.label,
      v.baseline === null ? '' : variants.find((b) => b.key === v.baseline)!.label,
      fmtSpread(spread(totalCpu(mine)), 1),
      base === null ? '' : fmtRatio(cpuRatio(runs, v.key, v.baseline!)),
      fmtSpread(spread(mine.map((r) => r.qps)), 0),
      fmtSpread(spread(mine.map((r) => r.p99Ms)), 3),
      base === null
        ? ''
        : fmtRatio(
            ratioSpread(
              mine.map((r) => r.p99Ms),
              base.map((r) => r.p99Ms),
            ),
          ),
    ];
  });
  return { columns: ['variant', 'against', 'CPU µs/call', 'CPU ÷ against', 'QPS', 'p99 ms', 'p99 ÷ against'], rows };
}

/** Primary p99 per round at C = 1: no mirror, a 10% mirror, a hand-made 10% copy. */
export interface PrimaryP99 {
  base: number[];
  mirror10: number[];
  handCopy10: number[];
}

/** The summary lines: targets where the issue sets one (a feature off <= 1.02x), figures otherwise. */
export function featureChecks(runs: FeatureRuns, p99: PrimaryP99, withNginx: boolean): BenchCheck[] {
  const ratio = (key: string, base: string): Spread => cpuRatio(runs, key, base);
  const judged = (group: string, label: string, target: string, s: Spread, limit: number): BenchCheck => ({
    group,
    label,
    target: `${target}: <= ${limit}x`,
    measured: fmtRatio(s),
    ok: s.median <= limit,
  });
  const figure = (group: string, label: string, target: string, measured: string): BenchCheck => ({
    group,
    label,
    target,
    measured,
    ok: true,
    informational: true,
  });
  const offOn = (name: string, off: string, on: string, onBase: string, onNote = 'on'): BenchCheck[] => {
    const group = `${name}: client CPU/call off <= 1.02x the split without it (on: figure)`;
    return [
      judged(group, 'off', `${name} off, CPU/call`, ratio(off, 'base'), 1.02),
      figure(group, onNote, `${name} ${onNote}, CPU/call vs the split without it`, fmtRatio(ratio(on, onBase))),
    ];
  };
  const mirrorGroup = 'mirror: client CPU/call <= 1.02x at 0%, <= 1.12x at 10% (the split without)';
  const p99Ratio = ratioSpread(p99.mirror10, p99.base);
  const checks: BenchCheck[] = [
    judged(mirrorGroup, '0%', 'mirror 0%, CPU/call', ratio('mirror0', 'base'), 1.02),
    judged(mirrorGroup, '10%', 'mirror 10%, CPU/call', ratio('mirror10', 'base'), 1.12),
    {
      group: 'mirror 10%: primary p99 <= 1.05x no mirror (C = 1)',
      target: 'mirror 10%, primary p99 (C = 1): <= 1.05x',
      measured:
        `${fmtRatio(p99Ratio)} (${fmt(spread(p99.mirror10).median, 3)} ` + `vs ${fmt(spread(p99.base).median, 3)} ms)`,
      ok: p99Ratio.median <= 1.05,
    },
    figure(
      'hand-made copy 10% (the floor of a copy made in process): CPU/call and primary p99 vs the split without',
      'CPU, p99',
      'every 10th call also sent by the caller on a plain grpc-js channel',
      `CPU ${fmtRatio(ratio('handCopy10', 'base'))}, p99 ${fmtRatio(ratioSpread(p99.handCopy10, p99.base))}`,
    ),
    ...offOn('sticky keys', 'stickyOff', 'stickyOn', 'baseKeyed'),
    ...offOn('rules', 'rulesOff', 'rulesOn', 'baseKeyed'),
    ...offOn('OpenTelemetry', 'otelOff', 'otelOn', 'base'),
  ];
  const retryGroup = 'retryOnOtherSubset: client CPU/call, calls that succeed (figure)';
  checks.push(
    figure(
      retryGroup,
      'on',
      'retryOnOtherSubset on, CPU/call vs the split without it',
      fmtRatio(ratio('retry', 'base')),
    ),
  );
  const streamGroup = 'stream tracking: CPU/call of streams beyond unary calls, split vs round_robin (figure)';
  checks.push(
    figure(
      streamGroup,
      'streams',
      'stream tracking: (split ÷ rr, streaming) ÷ (split ÷ rr, unary)',
      fmtRatio(streamCost(runs)),
    ),
  );
  const rrGroup = 'end to end vs plain round_robin: client CPU/call and QPS (figure)';
  checks.push(
    figure(rrGroup, 'CPU', 'split, no feature: CPU/call ÷ round_robin', fmtRatio(ratio('base', 'rr'))),
    figure(
      rrGroup,
      'QPS',
      'split, no feature: QPS ÷ round_robin',
      fmtRatio(
        ratioSpread(
          (runs['base'] ?? []).map((r) => r.qps),
          (runs['rr'] ?? []).map((r) => r.qps),
        ),
      ),
    ),
  );
  const nginxGroup = 'end to end vs nginx grpc_pass: CPU/call (its client + nginx) and QPS (figure)';
  if (withNginx) {
    const nginx = runs['nginx'] ?? [];
    checks.push(
      figure(
        nginxGroup,
        'CPU',
        'split client CPU/call ÷ (nginx client + nginx CPU/call)',
        fmtRatio(ratioSpread(cpu(runs['base'] ?? []), totalCpu(nginx))),
      ),
      figure(
        nginxGroup,
        'QPS',
        'split QPS ÷ nginx QPS',
        fmtRatio(
          ratioSpread(
            (runs['base'] ?? []).map((r) => r.qps),
            nginx.map((r) => r.qps),
          ),
        ),
      ),
    );
  } else {
    checks.push(figure(nginxGroup, 'not run', 'nginx comparison', 'nginx not run (absent or --no-nginx)'));
  }
  return checks;
}
