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
import { runChartBench } from '../../benchmarks/chart.bench.js';
import { runE2eBench } from '../../benchmarks/e2e.bench.js';
import type { BenchOptions } from '../../benchmarks/options.js';
import { runPrecisionBench } from '../../benchmarks/precision.bench.js';
import { runReactionBench } from '../../benchmarks/reaction.bench.js';
import { renderReport, writeResults, type BenchCheck, type BenchSection } from '../../benchmarks/report.js';
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
  assert.deepEqual(section.tables[0]!.rows.map((r) => r[0]), ['2', '2', '2', '8', '8', '8', '64', '64', '64', '1000', '1000', '1000']);
});

test('e2e bench: rows for round_robin, both splits and a clear nginx "not run" row', TIMEOUT, async () => {
  const section = await runE2eBench(TINY);
  const rows = section.tables[0]!.rows;
  assert.deepEqual(rows.map((r) => r[1]), ['grpc-js round_robin', 'traffic-split 50/50', 'traffic-split 90/10', 'nginx grpc_pass 9:1']);
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
  assert.deepEqual(rows.map((r) => r[0]), ['traffic-split setWeights()', 'connection-level split (10 channels)', 'nginx reload (SIGHUP)']);
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
    const report = { date: '2000-01-01', mode: 'quick' as const, environment: { node: process.version }, sections: [{ name: 'scale', section, seconds: 1 }] };
    const written = await writeResults(dir, report);
    assert.deepEqual(written.map((p) => p.slice(dir.length + 1)).sort(), ['2000-01-01.json', '2000-01-01.md']);
    assert.equal(readFileSync(join(dir, '2000-01-01.md'), 'utf8'), renderReport(report));
    assert.ok('scale' in (JSON.parse(readFileSync(join(dir, '2000-01-01.json'), 'utf8')) as { benches: object }).benches);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runner: --help lists every bench by name, --quick and where results go', () => {
  const run = fileURLToPath(new URL('../../benchmarks/run.js', import.meta.url));
  assert.ok(existsSync(run));
  const out = execFileSync(process.execPath, [run, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  for (const name of ['scheduler', 'picker', 'e2e', 'precision', 'reaction', 'chart', 'scale']) assert.match(out, new RegExp(`\\n  ${name} `));
  assert.match(out, /\n {2}--quick {5}fewer rounds, shorter loads \(under 2 minutes on 2 cores\)\n/);
  assert.match(out, /\n {2}--out DIR {3}where results go \(default benchmarks\/runs, git-ignored\)\n/);
});

test('summary: one line per design target, with what was measured and whether it was met', () => {
  const check = (target: string, measured: string, ok: boolean, group?: string, label?: string): BenchCheck => ({ target, measured, ok, group, label });
  const lines = summaryLines({
    date: '2000-01-01',
    mode: 'quick',
    environment: {},
    sections: [
      { name: 'e2e', seconds: 1, section: { title: 'e2e', tables: [], json: null, checks: [
        check('split 50/50 QPS / round_robin >= 0.98 (C=64)', '1.05x', true, 'QPS >= 0.98 x round_robin (C=64)', 'split 50/50'),
        check('split 90/10 QPS / round_robin >= 0.98 (C=64)', '0.87x (0.82-1.04)', false, 'QPS >= 0.98 x round_robin (C=64)', 'split 90/10'),
      ] } },
      { name: 'precision', seconds: 1, section: { title: 'precision', tables: [], json: null, checks: [
        ...['a', 'b', 'c', 'd'].map((x) => check(`${x} <= 1`, '1.00', true, 'max deviation <= 1', x)),
      ] } },
      { name: 'picker', seconds: 1, section: { title: 'picker', tables: [], json: null, checks: [
        ...['a', 'b', 'c', 'd'].map((x, i) => check(`${x} <= 2x`, `${2 + i}.0x`, i === 0, 'pick cost <= 2 x round_robin', x)),
        check('setWeights() <= 10 us', '4.7 us', true),
      ] } },
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
    const result = spawnSync(process.execPath, [run, '--tiny', '--no-nginx', '--out', dir, 'reaction'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 0, result.stderr);
    const tail = result.stderr.trimEnd().split('\n').slice(-2);
    assert.match(tail[0]!, /^Summary: [01] of 1 design targets met \(every figure is in the report\)$/);
    assert.match(tail[1]!, /^ {2}(pass|FAIL) {2}reaction {2}setWeights\(\): 0 calls of lag, 0 new connections, <= 10 µs: lag \(calls\) 0; new connections 0; time [\d.]+ µs/);
    assert.match(result.stdout, /\n## Summary\n\n```\nSummary: [01] of 1 design targets met/);
    assert.deepEqual(readdirSync(dir).map((name) => name.replace(/^\d{4}-\d{2}-\d{2}/, 'DATE')).sort(), ['DATE.json', 'DATE.md']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ignored = readFileSync(fileURLToPath(new URL('../../../.gitignore', import.meta.url)), 'utf8').split('\n');
  assert.ok(ignored.includes('benchmarks/runs/'), ignored.join(', '));
});
