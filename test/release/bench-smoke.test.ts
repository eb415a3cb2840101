/**
 * Keeps the benchmark suite from rotting: every bench runs at its tiny size (a few hundred calls,
 * one round, no nginx) and the shape of what it returns is checked. No figure is asserted except
 * the ones that are exact by construction; timing is never asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_STATS_TARGET, runAdminBench } from '../../benchmarks/admin.bench.js';
import { runChartBench } from '../../benchmarks/chart.bench.js';
import { runE2eBench } from '../../benchmarks/e2e.bench.js';
import { FEATURE_VARIANTS } from '../../benchmarks/feature-variants.js';
import { runFeaturesBench } from '../../benchmarks/features.bench.js';
import { renderPerformanceDoc, type ResultsFile } from '../../benchmarks/performance-doc.js';
import { runPickRatioBench } from '../../benchmarks/pick-ratio.bench.js';
import { runSocketsBench } from '../../benchmarks/sockets.bench.js';
import type { BenchOptions } from '../../benchmarks/options.js';
import { runPrecisionBench } from '../../benchmarks/precision.bench.js';
import { runReactionBench } from '../../benchmarks/reaction.bench.js';
import {
  renderReport,
  renderTable,
  writeResults,
  type BenchCheck,
  type BenchSection,
} from '../../benchmarks/report.js';
import { summaryLines } from '../../benchmarks/summary.js';
import { runScaleBench } from '../../benchmarks/scale.bench.js';
import { runSchedulerBench } from '../../benchmarks/scheduler.bench.js';
import { holdsFrom, maxDeviation } from '../../benchmarks/windows.js';

const TINY: BenchOptions = { quick: true, tiny: true, nginx: false };
const TIMEOUT = { timeout: 30_000 };

function columnIndex(section: BenchSection, table: number, column: string): number {
  const index = section.tables[table]!.columns.indexOf(column);
  assert.notEqual(index, -1, `column "${column}" in ${section.tables[table]!.columns.join(', ')}`);
  return index;
}

test('window helpers measure deviation and the point a split holds from', () => {
  const ninetyTen = Int16Array.from({ length: 100 }, (_, i) => (i % 10 === 9 ? 1 : 0));
  assert.equal(maxDeviation(ninetyTen, [90, 10], 10), 0);
  assert.equal(maxDeviation(Int16Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1), [90, 10], 10), 1);
  // Five v1 calls, then one v1 in every ten. The window from index 4 holds two v1 and eight v2,
  // within one of 1 : 9; the window from index 3 holds three v1 and is not.
  const switched = Int16Array.from([0, 0, 0, 0, 0, ...Array.from({ length: 40 }, (_, i) => (i % 10 === 0 ? 0 : 1))]);
  assert.equal(holdsFrom(switched, [10, 90]), 4);
  assert.equal(holdsFrom(ninetyTen, [10, 90]), -1);
});

test('scheduler bench: one row per size and weight kind', TIMEOUT, async () => {
  const section = await runSchedulerBench(TINY);
  assert.equal(section.tables[0]!.rows.length, 4 * 3);
  assert.deepEqual(
    section.tables[0]!.rows.map((r) => r[0]),
    ['2', '2', '2', '8', '8', '8', '64', '64', '64', '1000', '1000', '1000'],
  );
});

test('e2e bench: rows for round_robin, both splits and a clear nginx "not run" row', TIMEOUT, async () => {
  const section = await runE2eBench(TINY);
  const rows = section.tables[0]!.rows;
  assert.deepEqual(
    rows.map((r) => r[1]),
    ['grpc-js round_robin', 'traffic-split 50/50', 'traffic-split 90/10', 'nginx grpc_pass 9:1'],
  );
  assert.match(rows[3]![2]!, /not run/);
  const qps = columnIndex(section, 0, 'QPS');
  for (const row of rows.slice(0, 3)) assert.match(row[qps]!, /^[\d,]+/);
  assert.ok(section.checks!.length > 0);
});

test('precision bench: the pure schedule stays within one call at 90/10 in windows of 10', TIMEOUT, async () => {
  const section = await runPrecisionBench(TINY);
  const rows = section.tables[0]!.rows;
  assert.equal(rows.length, 3 * 4);
  const w10 = columnIndex(section, 0, 'max dev, window 10');
  const pure = rows.find((r) => r[0] === '90/10' && r[1]!.startsWith('WeightedSchedule'))!;
  // Randomised within the bound: a window of 10 holds 0, 1 or 2 calls of v2, never more.
  assert.equal(pure[w10], '1.00');
  const real = rows.find((r) => r[0] === '90/10' && r[1]!.startsWith('traffic-split'))!;
  assert.ok(Number(real[w10]) <= 1, `real calls at 90/10, window 10: ${real[w10]}`);
  assert.ok(rows.some((r) => r[1]!.startsWith('nginx') && r[3] === 'not run'));
});

test('reaction bench: setWeights() holds from the next call and opens no connection', TIMEOUT, async () => {
  const section = await runReactionBench(TINY);
  const rows = section.tables[0]!.rows;
  assert.deepEqual(
    rows.map((r) => r[0]),
    ['traffic-split setWeights()', 'connection-level split (10 channels)', 'nginx reload (SIGHUP)'],
  );
  assert.equal(rows[0]![1], '0');
  assert.equal(rows[0]![columnIndex(section, 0, 'new TCP connections')], '0');
  assert.equal(rows[1]![columnIndex(section, 0, 'new TCP connections')], '8');
});

test('chart bench: an SVG with axes, three lines and the switch marker', TIMEOUT, async () => {
  const section = await runChartBench(TINY);
  const svg = section.artifacts!.find((a) => a.name === 'share.svg')!.content;
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline /g)?.length, 3);
  assert.match(svg, /setWeights 10\/90/);
});

test('scale bench: endpoint, subset, memory and pick tables; results files are written', TIMEOUT, async () => {
  const section = await runScaleBench(TINY);
  assert.equal(section.tables.length, 4);
  assert.equal(section.tables[0]!.rows.length, 2);
  assert.equal(section.tables[3]!.rows.length, 3);
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  try {
    const report = {
      date: '2000-01-01',
      mode: 'quick' as const,
      environment: { node: process.version },
      sections: [{ name: 'scale', section, seconds: 1 }],
    };
    const written = await writeResults(dir, report);
    assert.deepEqual(written.map((p) => p.slice(dir.length + 1)).sort(), ['2000-01-01.json', '2000-01-01.md']);
    assert.equal(readFileSync(join(dir, '2000-01-01.md'), 'utf8'), renderReport(report));
    assert.ok(
      'scale' in (JSON.parse(readFileSync(join(dir, '2000-01-01.json'), 'utf8')) as { benches: object }).benches,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('admin bench: GET /stats answered 200 in each condition, one check per condition', TIMEOUT, async () => {
  const section = await runAdminBench(TINY);
  const rows = section.tables[0]!.rows;
  assert.deepEqual(
    rows.map((r) => [r[0], r[columnIndex(section, 0, 'status')]]),
    [
      ['first request (cold code)', '200'],
      ['idle', '200'],
    ],
  );
  assert.deepEqual(
    section.checks!.map((c) => [c.group, c.label]),
    [
      [ADMIN_STATS_TARGET, 'first request (cold code)'],
      [ADMIN_STATS_TARGET, 'idle'],
    ],
  );
});

test('runner: --help lists every bench by name, --quick and where results go', () => {
  const run = fileURLToPath(new URL('../../benchmarks/run.js', import.meta.url));
  assert.ok(existsSync(run));
  const out = execFileSync(process.execPath, [run, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  for (const name of [
    'scheduler',
    'picker',
    'pick-ratio',
    'e2e',
    'features',
    'precision',
    'reaction',
    'admin',
    'chart',
    'sockets',
    'scale',
  ]) {
    assert.match(out, new RegExp(`\\n  ${name} `));
  }
  assert.match(out, /\n {2}--quick {5}fewer rounds, shorter loads \(a few minutes on 2 cores\)\n/);
  assert.match(out, /\n {2}--out DIR {3}where results go \(default benchmarks\/runs, git-ignored\)\n/);
});

test('summary: one line per design target, with what was measured and whether it was met', () => {
  const check = (target: string, measured: string, ok: boolean, group?: string, label?: string): BenchCheck => ({
    target,
    measured,
    ok,
    group,
    label,
  });
  const lines = summaryLines({
    date: '2000-01-01',
    mode: 'quick',
    environment: {},
    sections: [
      {
        name: 'e2e',
        seconds: 1,
        section: {
          title: 'e2e',
          tables: [],
          json: null,
          checks: [
            check(
              'split 50/50 QPS / round_robin >= 0.98 (C=64)',
              '1.05x',
              true,
              'QPS >= 0.98 x round_robin (C=64)',
              'split 50/50',
            ),
            check(
              'split 90/10 QPS / round_robin >= 0.98 (C=64)',
              '0.87x (0.82-1.04)',
              false,
              'QPS >= 0.98 x round_robin (C=64)',
              'split 90/10',
            ),
          ],
        },
      },
      {
        name: 'precision',
        seconds: 1,
        section: {
          title: 'precision',
          tables: [],
          json: null,
          checks: [...['a', 'b', 'c', 'd'].map((x) => check(`${x} <= 1`, '1.00', true, 'max deviation <= 1', x))],
        },
      },
      {
        name: 'picker',
        seconds: 1,
        section: {
          title: 'picker',
          tables: [],
          json: null,
          checks: [
            ...['a', 'b', 'c', 'd'].map((x, i) =>
              check(`${x} <= 2x`, `${2 + i}.0x`, i === 0, 'pick cost <= 2 x round_robin', x),
            ),
            check('setWeights() <= 10 us', '4.7 us', true),
          ],
        },
      },
      { name: 'chart', seconds: 1, section: { title: 'chart', tables: [], json: null } },
    ],
  });
  assert.deepEqual(lines, [
    'Summary: 2 of 4 design targets met (every figure is in the report)',
    '  FAIL  e2e        QPS >= 0.98 x round_robin (C=64): split 50/50 1.05x; split 90/10 0.87x (0.82-1.04)',
    '  pass  precision  max deviation <= 1: all 4 met',
    '  FAIL  picker     pick cost <= 2 x round_robin: b 3.0x; c 4.0x; ... (3 of 4 missed)',
    '  pass  picker     setWeights() <= 10 us: 4.7 us',
  ]);
});

test('runner: a run ends with the summary and writes its files where --out says (default: a git-ignored folder)', () => {
  const run = fileURLToPath(new URL('../../benchmarks/run.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'bench-run-'));
  try {
    const result = spawnSync(process.execPath, [run, '--tiny', '--no-nginx', '--out', dir, 'reaction'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 0, result.stderr);
    const tail = result.stderr.trimEnd().split('\n').slice(-2);
    assert.match(tail[0]!, /^Summary: [01] of 1 design targets met \(every figure is in the report\)$/);
    assert.match(
      tail[1]!,
      /^ {2}(pass|FAIL) {2}reaction {2}setWeights\(\): 0 calls of lag, 0 new connections, <= 10 µs: lag \(calls\) 0; new connections 0; time [\d.]+ µs/,
    );
    assert.match(result.stdout, /\n## Summary\n\n```\nSummary: [01] of 1 design targets met/);
    assert.deepEqual(
      readdirSync(dir)
        .map((name) => name.replace(/^\d{4}-\d{2}-\d{2}/, 'DATE'))
        .sort(),
      ['DATE.json', 'DATE.md'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ignored = readFileSync(fileURLToPath(new URL('../../../.gitignore', import.meta.url)), 'utf8').split('\n');
  assert.ok(ignored.includes('benchmarks/runs/'), ignored.join(', '));
});

test('summary: figures without a target read "info" and count neither as met nor as missed', () => {
  const lines = summaryLines({
    date: '2000-01-01',
    mode: 'quick',
    environment: {},
    sections: [
      {
        name: 'features',
        seconds: 1,
        section: {
          title: 'features',
          tables: [],
          json: null,
          checks: [
            {
              group: 'rules: off <= 1.02x (on: figure)',
              label: 'off',
              target: 'rules off <= 1.02x',
              measured: '1.01x',
              ok: true,
            },
            {
              group: 'rules: off <= 1.02x (on: figure)',
              label: 'on',
              target: 'rules on',
              measured: '1.30x',
              ok: false,
              informational: true,
            },
            {
              group: 'vs nginx (figure)',
              label: 'QPS',
              target: 'QPS / nginx',
              measured: '1.40x',
              ok: false,
              informational: true,
            },
          ],
        },
      },
    ],
  });
  assert.deepEqual(lines, [
    'Summary: 1 of 1 design targets met (every figure is in the report)',
    '  pass  features  rules: off <= 1.02x (on: figure): off 1.01x; on 1.30x',
    '  info  features  vs nginx (figure): QPS 1.40x',
  ]);
});

/** The summary rows the issue asks `npm run bench` for, by bench: each must have its own line. */
const SUMMARY_ROWS: [string, RegExp][] = [
  [
    'pick-ratio',
    /^ {2}(pass|FAIL) {2}pick-ratio {2}keyless pick <= 2x round_robin at 2 subsets, <= 3x at 100: 2 subsets [\d.]+x.*; 100 subsets [\d.]+x/,
  ],
  [
    'pick-ratio',
    /^ {2}info {2}pick-ratio {2}floor of a keyless pick \(context read, fixed order, rr child, pooled result\): 2 subsets [\d.]+x.*; 100 subsets [\d.]+x/,
  ],
  ['pick-ratio', /^ {2}info {2}pick-ratio {2}sticky pick, 8 subsets, 1000 users: [\d,.]+ ns, [\d.]+x round_robin$/],
  [
    'features',
    /^ {2}(pass|FAIL) {2}features {4}mirror: client CPU\/call <= 1\.02x at 0%, <= 1\.12x at 10% \(the split without\): 0% [\d.]+x.*; 10% [\d.]+x/,
  ],
  ['features', /^ {2}(pass|FAIL) {2}features {4}mirror 10%: primary p99 <= 1\.05x no mirror \(C = 1\): [\d.]+x/],
  [
    'features',
    /^ {2}info {2}features {4}hand-made copy 10% \(the floor of a copy made in process\): .*: CPU, p99 CPU [\d.]+x.*, p99 [\d.]+x/,
  ],
  ...['sticky keys', 'rules', 'OpenTelemetry'].map((name): [string, RegExp] => [
    'features',
    new RegExp(
      `^ {2}(pass|FAIL) {2}features {4}${name}: client CPU/call off <= 1\\.02x ` +
        `the split without it \\(on: figure\\): off [\\d.]+x.*; on [\\d.]+x`,
    ),
  ]),
  [
    'features',
    /^ {2}info {2}features {4}retryOnOtherSubset: client CPU\/call, calls that succeed \(figure\): on [\d.]+x/,
  ],
  ['features', /^ {2}info {2}features {4}stream tracking: .*: streams [\d.]+x/],
  [
    'features',
    /^ {2}info {2}features {4}end to end vs plain round_robin: client CPU\/call and QPS \(figure\): CPU [\d.]+x.*; QPS [\d.]+x/,
  ],
  ['features', /^ {2}info {2}features {4}end to end vs nginx grpc_pass: .*: not run nginx not run/],
  [
    'sockets',
    /^ {2}(pass|FAIL) {2}sockets {5}sockets: 20 splits, one client each, same two backends: <= 4 open, each split counts its own call: sockets \d+; splits counting their call 20 of 20$/,
  ],
  [
    'sockets',
    /^ {2}info {2}sockets {5}sockets: 20 plain round_robin channels, same two backends \(figure\): sockets 2$/,
  ],
];

test(
  'pick-ratio, features and sockets: the summary has every ' +
    'row, and docs/performance.md is generated from their results',
  { timeout: 120_000 },
  async () => {
    const sections = [
      { name: 'pick-ratio', section: await runPickRatioBench(TINY), seconds: 1 },
      { name: 'features', section: await runFeaturesBench(TINY), seconds: 1 },
      { name: 'sockets', section: await runSocketsBench(TINY), seconds: 1 },
    ];
    const picker = sections[0]!.section;
    assert.deepEqual(
      picker.tables[0]!.rows.map((r) => r[0]),
      [
        'grpc-js round_robin, 2 endpoints',
        'traffic-split, 2 subsets, keyless',
        'traffic-split, 100 subsets, keyless',
        'traffic-split, 8 subsets, sticky key (1000 users)',
        'floor: context read, fixed order, rr child, 2 subsets',
        'floor: context read, fixed order, rr child, 100 subsets',
      ],
    );
    // The metadata the bench makes through the split's interceptors has the shape of a real call's.
    assert.ok(
      picker.notes!.some((n) =>
        n.startsWith('The prepared metadata has the header names and option keys of a real call'),
      ),
      picker.notes!.join('\n'),
    );
    assert.deepEqual(
      sections[1]!.section.tables[0]!.rows.map((r) => r[0]),
      FEATURE_VARIANTS.map((v) => v.label),
    );
    const report = {
      date: '2000-01-01',
      mode: 'tiny' as const,
      environment: { node: process.version, cores: '2', command: 'node dist/benchmarks/run.js --tiny' },
      sections,
    };
    const lines = summaryLines(report);
    assert.equal(lines.length, 1 + SUMMARY_ROWS.length, lines.join('\n'));
    for (const [i, [bench, row]] of SUMMARY_ROWS.entries())
      assert.match(lines[i + 1]!, row, `${bench} row ${i + 1}:\n${lines.join('\n')}`);

    const dir = mkdtempSync(join(tmpdir(), 'bench-doc-'));
    try {
      await writeResults(dir, report);
      const results = JSON.parse(readFileSync(join(dir, '2000-01-01.json'), 'utf8')) as ResultsFile;
      const doc = renderPerformanceDoc(results, 'benchmarks/results/2000-01-01.json');
      assert.match(
        doc,
        /^`benchmarks\/results\/2000-01-01\.json`, a tiny run of 2000-01-01: `node dist\/benchmarks\/run\.js --tiny`/m,
      );
      assert.match(doc, /^- cores: 2$/m);
      assert.ok(doc.includes(['```', ...lines, '```'].join('\n')), 'the summary, as the run printed it');
      for (const { section } of sections)
        for (const table of section.tables) assert.ok(doc.includes(renderTable(table)), `table of ${section.title}`);
      assert.match(doc, /^## Design targets$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
