/**
 * The few lines a run ends with: one per design target (a group of checks), with what was
 * measured and whether it was met. The report has every figure; this is what to read first.
 * @module
 */
import type { BenchCheck, BenchReport } from './report.js';

/** Checks listed one by one in a summary line; a larger group lists its misses only. */
const LISTED = 3;

interface Group {
  bench: string;
  name: string;
  checks: BenchCheck[];
}

function groupsOf(report: BenchReport): Group[] {
  const groups: Group[] = [];
  for (const { name: bench, section } of report.sections) {
    for (const check of section.checks ?? []) {
      const name = check.group ?? check.target;
      let group = groups.find((g) => g.bench === bench && g.name === name);
      if (group === undefined) groups.push((group = { bench, name, checks: [] }));
      group.checks.push(check);
    }
  }
  return groups;
}

function measured(checks: readonly BenchCheck[]): string {
  const shown = (c: BenchCheck): string => (c.label === undefined ? c.measured : `${c.label} ${c.measured}`);
  if (checks.length <= LISTED) return checks.map(shown).join('; ');
  const missed = checks.filter((c) => !c.ok && c.informational !== true);
  if (missed.length === 0) return `all ${checks.length} met`;
  const listed = missed
    .slice(0, LISTED - 1)
    .map(shown)
    .join('; ');
  return `${listed}${missed.length > LISTED - 1 ? '; ...' : ''} (${missed.length} of ${checks.length} missed)`;
}

/**
 * One line per design target: `pass` or `FAIL`, the bench, the target, what was measured.
 * @example
 * summaryLines(report)
 * // ['Summary: 1 of 2 design targets met (every figure is in the report)',
 * //  '  pass  scheduler  WeightedSchedule.next() <= 100 ns at n=2, <= 150 ns at n=64: n=2 9.1 ns; n=64 9.8 ns', ...]
 */
export function summaryLines(report: BenchReport): string[] {
  const groups = groupsOf(report);
  if (groups.length === 0) return ['Summary: no design target was checked by the benches run'];
  const targets = groups.filter((g) => verdict(g) !== 'info');
  const met = targets.filter((g) => verdict(g) === 'pass').length;
  const width = Math.max(...groups.map((g) => g.bench.length));
  return [
    `Summary: ${met} of ${targets.length} design targets met (every figure is in the report)`,
    ...groups.map((g) => `  ${verdict(g)}  ${g.bench.padEnd(width)}  ${g.name}: ${measured(g.checks)}`),
  ];
}

/** `info` for a group of figures without a target; else whether every target was met. */
function verdict(group: Group): 'pass' | 'FAIL' | 'info' {
  const judged = group.checks.filter((c) => c.informational !== true);
  if (judged.length === 0) return 'info';
  return judged.every((c) => c.ok) ? 'pass' : 'FAIL';
}
