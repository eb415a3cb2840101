/**
 * The shape every bench returns, and the Markdown/JSON files a run writes.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { summaryLines } from './summary.js';

/** One Markdown table: cells are preformatted strings. */
export interface BenchTable {
  /** A line printed above the table. */
  caption?: string;
  columns: string[];
  rows: string[][];
}

/** A design target (docs/performance.md, "Design targets") held against a measured figure. */
export interface BenchCheck {
  /** What is checked, with the target: `split 90/10 QPS / round_robin >= 0.98 (C=64)`. */
  target: string;
  /** The figure, formatted. */
  measured: string;
  ok: boolean;
  /** The design target the check belongs to, shared by the checks of one summary line.
   * @default target */
  group?: string;
  /** What the check measured within its group (`split 90/10`), shown in the summary. */
  label?: string;
  /** A figure the summary shows without a target to hold it to (`ok` is ignored): its line
   * reads `info` and counts neither as met nor as missed. @default false */
  informational?: boolean;
}

/** A file a bench produces besides its tables (the SVG chart). */
export interface BenchArtifact {
  /** Suffix of the file name: the run writes `<date>-<name>`. */
  name: string;
  content: string;
}

/**
 * What each bench module returns: tables for people, a JSON payload for tools.
 * @example
 * return { title: 'Scheduler', tables: [{ columns: ['n', 'ns/pick'], rows: [['2', '9.1']] }], json: { ... } };
 */
export interface BenchSection {
  title: string;
  /** Sentences printed under the title: what was measured and how, and what was not. */
  notes?: string[];
  tables: BenchTable[];
  checks?: BenchCheck[];
  /** Raw figures (every round), for comparisons across runs. */
  json: unknown;
  artifacts?: BenchArtifact[];
}

/** A whole run: its environment and the sections in run order, by bench name. */
export interface BenchReport {
  date: string;
  mode: 'full' | 'quick' | 'tiny';
  environment: Record<string, string>;
  sections: { name: string; section: BenchSection; seconds: number }[];
}

/** Renders a table with padded columns, so it also reads well in a terminal. */
export function renderTable(table: BenchTable): string {
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length), 3));
  const line = (cells: string[]): string => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  const out = [line(table.columns), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...table.rows.map(line)];
  return (table.caption === undefined ? '' : `${table.caption}\n\n`) + out.join('\n');
}

/** One section as Markdown: title, notes, tables, then the target checks. */
export function renderSection(section: BenchSection): string {
  const parts = [`## ${section.title}`];
  if (section.notes?.length) parts.push(section.notes.map((n) => `- ${n}`).join('\n'));
  for (const table of section.tables) parts.push(renderTable(table));
  if (section.checks?.length) {
    parts.push(
      renderTable({
        caption: 'Targets (docs/performance.md, "Design targets"):',
        columns: ['target', 'measured', 'met'],
        rows: section.checks.map((c) => [
          c.target,
          c.measured,
          c.informational === true ? '(figure only)' : c.ok ? 'yes' : '**NO**',
        ]),
      }),
    );
  }
  return parts.join('\n\n');
}

/** The whole report as Markdown. */
export function renderReport(report: BenchReport): string {
  const env = Object.entries(report.environment).map(([k, v]) => `- ${k}: ${v}`);
  const summary = ['## Summary', ['```', ...summaryLines(report), '```'].join('\n')];
  const head = [`# grpc-traffic-split benchmarks, ${report.date} (${report.mode})`, env.join('\n'), ...summary];
  const body = report.sections.map(
    ({ section, seconds }) => `${renderSection(section)}\n\n_(${seconds.toFixed(1)} s)_`,
  );
  return [...head, ...body].join('\n\n') + '\n';
}

/** Local calendar date, `YYYY-MM-DD`: the results' file names. */
export function localDate(now = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/**
 * Writes `<dir>/<date>.json`, `<date>.md` and every artifact as `<date>-<name>`; returns the
 * paths written. A second run on the same day replaces the first.
 */
export async function writeResults(dir: string, report: BenchReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    [`${report.date}.json`, JSON.stringify(toJson(report), null, 2) + '\n'],
    [`${report.date}.md`, renderReport(report)],
  ];
  for (const { section } of report.sections) {
    for (const artifact of section.artifacts ?? []) files.push([`${report.date}-${artifact.name}`, artifact.content]);
  }
  const written: string[] = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    await writeFile(path, content);
    written.push(path);
  }
  return written;
}

/** The JSON file: artifacts are left out (they are files of their own). */
function toJson(report: BenchReport): unknown {
  return {
    date: report.date,
    mode: report.mode,
    environment: report.environment,
    benches: Object.fromEntries(
      report.sections.map(({ name, section, seconds }) => [
        name,
        {
          title: section.title,
          seconds,
          notes: section.notes ?? [],
          checks: section.checks ?? [],
          tables: section.tables,
          data: section.json,
        },
      ]),
    ),
  };
}
