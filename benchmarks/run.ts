/**
 * The benchmark runner: `npm run bench [-- --quick] [names...]`. Runs the selected benches in
 * order, prints progress to stderr and Markdown to stdout, writes `<date>.json`, `<date>.md`
 * and the chart to `benchmarks/runs/` (git-ignored; `--out` elsewhere), and ends with a summary
 * of a few lines: each design target, what was measured, met or not.
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { runAdminBench } from './admin.bench.js';
import { runChartBench } from './chart.bench.js';
import { runE2eBench } from './e2e.bench.js';
import { describeEnvironment, describeLoadAtEnd, markLoad } from './env.js';
import { runFeaturesBench } from './features.bench.js';
import { runPickRatioBench } from './pick-ratio.bench.js';
import { runSocketsBench } from './sockets.bench.js';
import type { BenchOptions } from './options.js';
import { runPrecisionBench } from './precision.bench.js';
import { runReactionBench } from './reaction.bench.js';
import { localDate, renderReport, writeResults, type BenchReport, type BenchSection } from './report.js';
import { summaryLines } from './summary.js';
import { runScaleBench } from './scale.bench.js';
import { runMirrorBench } from './mirror.bench.js';
import { runSchedulerBench } from './scheduler.bench.js';

type BenchFn = (opts: BenchOptions) => Promise<BenchSection>;

interface Bench {
  name: string;
  describe: string;
  run: BenchFn;
}

const PICKER_MODULE = './picker.bench.js';

/** Where a run writes its files unless `--out` says otherwise: git-ignored, so that a run never
 * leaves changes in the working tree. */
const DEFAULT_OUT = fileURLToPath(new URL('../../benchmarks/runs/', import.meta.url));

/** In run order: CPU-only microbenches first, the heaviest (scale) last. */
const BENCHES: Bench[] = [
  { name: 'scheduler', describe: 'WeightedSchedule.next() picks/s vs random weighted picks', run: runSchedulerBench },
  { name: 'picker', describe: 'pick() cost, from benchmarks/picker.bench.ts when present', run: runPickerBench },
  {
    name: 'pick-ratio',
    describe: 'pick + call hooks vs round_robin at 2 and 100 subsets, sticky',
    run: runPickRatioBench,
  },
  { name: 'e2e', describe: 'unary QPS, p50/p99: round_robin vs split 50/50, 90/10 vs nginx', run: runE2eBench },
  {
    name: 'features',
    describe: 'client CPU/call of each feature off and on; vs round_robin, nginx',
    run: runFeaturesBench,
  },
  { name: 'precision', describe: 'max deviation over windows of 10/100/1000 calls', run: runPrecisionBench },
  { name: 'reaction', describe: 'calls, ms and connections until 90/10 -> 10/90 holds', run: runReactionBench },
  {
    name: 'mirror',
    describe: 'primary p50/p99 with and without a mirror (identical v2, slow v2)',
    run: runMirrorBench,
  },
  {
    name: 'admin',
    describe: 'longest event-loop block during GET /stats with 1,000 samples of 64 KiB',
    run: runAdminBench,
  },
  { name: 'chart', describe: 'share of v2 over time across a weight change (SVG)', run: runChartBench },
  { name: 'sockets', describe: 'TCP connections of 1,000 splits over the same two backends', run: runSocketsBench },
  { name: 'scale', describe: '10,000 endpoints, 100 subsets, memory per split/channel', run: runScaleBench },
];

const USAGE = `usage: npm run bench -- [--quick] [--no-nginx] [--out DIR] [--strict] [bench...]
  --quick     fewer rounds, shorter loads (a few minutes on 2 cores)
  --tiny      the smallest sizes, to check that benches run (figures mean nothing)
  --no-nginx  skip the nginx comparisons even when nginx is installed
  --out DIR   where results go (default benchmarks/runs, git-ignored)
  --strict    exit 1 when a design target is missed
benches (default: all, in this order):${BENCHES.map((b) => `\n  ${b.name.padEnd(10)} ${b.describe}`).join('')}`;

/**
 * The pick-cost bench lives in its own module, written separately; until it exists the section
 * says so instead of failing the run. The specifier is a variable so the compiler does not
 * require the file.
 */
async function runPickerBench(opts: BenchOptions): Promise<BenchSection> {
  if (!existsSync(new URL(PICKER_MODULE, import.meta.url))) {
    return {
      title: 'Pick cost',
      notes: ['Not measured: benchmarks/picker.bench.ts is not written yet.'],
      tables: [],
      json: null,
    };
  }
  const specifier: string = PICKER_MODULE;
  const mod = (await import(specifier)) as { runPickerBench?: (o: { quick: boolean }) => Promise<BenchSection> };
  if (typeof mod.runPickerBench !== 'function') throw new Error(`${PICKER_MODULE} does not export runPickerBench()`);
  return mod.runPickerBench(opts);
}

interface Args {
  quick: boolean;
  tiny: boolean;
  nginx: boolean;
  strict: boolean;
  out: string;
  names: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, tiny: false, nginx: true, strict: false, out: DEFAULT_OUT, names: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') args.quick = true;
    else if (arg === '--tiny') args.tiny = true;
    else if (arg === '--no-nginx') args.nginx = false;
    else if (arg === '--strict') args.strict = true;
    else if (arg === '--out' && argv[i + 1] !== undefined) args.out = argv[++i]!;
    else if (arg === '--help' || arg === '-h') throw new UsageError('');
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else if (BENCHES.some((b) => b.name === arg)) args.names.push(arg);
    else throw new UsageError(`unknown bench "${arg}"`);
  }
  return args;
}

class UsageError extends Error {}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const selected = BENCHES.filter((b) => args.names.length === 0 || args.names.includes(b.name));
  const t0 = performance.now();
  const loadMark = markLoad();
  const log = (message: string): void => {
    process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
  };
  const report: BenchReport = {
    date: localDate(),
    mode: args.tiny ? 'tiny' : args.quick ? 'quick' : 'full',
    environment: describeEnvironment(args.nginx),
    sections: [],
  };
  report.environment['command'] = ['node dist/benchmarks/run.js', ...process.argv.slice(2)].join(' ');
  if (report.environment['nginx']!.startsWith('not found'))
    log('nginx not found: nginx comparisons will be skipped (Debian: apt-get install nginx)');
  let failed = 0;
  for (const bench of selected) {
    log(`${bench.name}: start`);
    const start = performance.now();
    let section: BenchSection;
    try {
      section = await bench.run({ quick: args.quick, tiny: args.tiny, nginx: args.nginx, log });
    } catch (error) {
      failed++;
      log(`${bench.name}: FAILED: ${(error as Error).stack ?? String(error)}`);
      section = {
        title: `${bench.name}: failed`,
        notes: [`The bench threw: ${(error as Error).message}`],
        tables: [],
        json: { error: String(error) },
      };
    }
    const seconds = (performance.now() - start) / 1000;
    report.sections.push({ name: bench.name, section, seconds });
    log(`${bench.name}: done in ${seconds.toFixed(1)} s`);
  }
  Object.assign(report.environment, describeLoadAtEnd(loadMark));
  process.stdout.write(`\n${renderReport(report)}`);
  for (const path of await writeResults(args.out, report)) log(`wrote ${path}`);
  const missed = report.sections
    .flatMap(({ section }) => section.checks ?? [])
    .filter((c) => !c.ok && c.informational !== true);
  log(
    `${failed} bench(es) failed; ${missed.length} target(s) ` +
      `missed${missed.length ? `: ${missed.map((c) => c.target).join('; ')}` : ''}`,
  );
  log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  process.stderr.write(`\n${summaryLines(report).join('\n')}\n`);
  return failed > 0 || (args.strict && missed.length > 0) ? 1 : 0;
}

// Ctrl-C or a kill: exit through 'exit' so the server processes and nginx are stopped too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  // Exit explicitly: a channel some grpc-js timer still references must not keep the run alive.
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError && error.message === '') {
      // --help: the usage is the output asked for.
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    process.stderr.write(error instanceof UsageError ? `${error.message}\n${USAGE}\n` : `${String(error)}\n`);
    process.exit(2);
  },
);
