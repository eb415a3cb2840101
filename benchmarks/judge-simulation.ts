/**
 * Seeded simulation of the canary judges: the sequential judge (checked after every call)
 * against the fixed tests of `judgeCanary()` (Fisher exact and Mann-Whitney U on the split's
 * latency histograms) checked every 50 calls per side. Prints the Markdown table of
 * docs/judging.md; progress goes to stderr.
 *
 *   node dist/benchmarks/judge-simulation.js [--reps 2000] [--seed 1]
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { CANARY, BASELINE, type Side } from '../src/algorithms/judge/blocks.js';
import { requestMetrics, SequentialJudge } from '../src/algorithms/judge/sequential-judge.js';
import { LATENCY_BUCKETS, latencyBucket, latencyHistogram } from '../src/algorithms/latency.js';
import { seededRandom, type RandomSource } from '../src/algorithms/random.js';
import { judgeCanary } from '../src/ops/index.js';

/** One version's calls: each fails with `errorRate`; latencies log-normal (spread 0.3) around `medianMs`. */
export interface Version {
  errorRate: number;
  medianMs: number;
}

/** A row of the table: two versions, the canary's share of their calls, how far to run. */
export interface Scenario {
  name: string;
  canary: Version;
  baseline: Version;
  /** The canary's share of the calls of the two versions (0.5: alternating). */
  canaryShare: number;
  /** Calls of the canary's side to run at most (the baseline's in proportion). */
  canaryCalls: number;
  /** Stop a repetition once both judges have rolled back (detection rows). */
  stopAtRollback: boolean;
}

/** The judges' settings: those of `judgeCanary()` and the rollout by default. */
export const SETTINGS: Settings = {
  confidence: 0.99,
  maxErrorRateIncrease: 0.005,
  maxLatencyRatio: 1.2,
  checkEvery: 50,
};

/** Both judges' confidence and margins; the fixed tests run every `checkEvery` canary calls. */
export interface Settings {
  confidence: number;
  maxErrorRateIncrease: number;
  maxLatencyRatio: number;
  checkEvery: number;
}
const SPREAD = 0.3;

/** What one repetition saw: canary calls at each first event, -1 when it did not happen. */
export interface Outcome {
  sequentialRollback: number;
  sequentialPromotion: number;
  /** The sequential judge with `evidence: 'any-regression'` (significant and estimated beyond the margins). */
  anyRegressionRollback: number;
  /** `judgeCanary()` failing the canary (significant and beyond the margins). */
  fixedJudgeRollback: number;
  /** Fisher or Mann-Whitney alone at p < 1 - confidence (no margin). */
  fixedTestsRollback: number;
  /** The test of the sequential rollback, or null. */
  sequentialTest: string | null;
}

/** Runs one repetition of `scenario` with its own seeded random source. */
export function runRepetition(scenario: Scenario, random: RandomSource, settings = SETTINGS): Outcome {
  const judge = new SequentialJudge({ confidence: settings.confidence, metrics: requestMetrics(settings) });
  const anyRegression = new SequentialJudge({
    confidence: settings.confidence,
    metrics: requestMetrics(settings),
    evidence: 'any-regression',
  });
  const buckets = [new Float64Array(LATENCY_BUCKETS), new Float64Array(LATENCY_BUCKETS)];
  const calls = [0, 0];
  const failures = [0, 0];
  const outcome: Outcome = {
    sequentialRollback: -1,
    sequentialPromotion: -1,
    anyRegressionRollback: -1,
    fixedJudgeRollback: -1,
    fixedTestsRollback: -1,
    sequentialTest: null,
  };
  const baselineCalls = Math.round((scenario.canaryCalls * (1 - scenario.canaryShare)) / scenario.canaryShare);
  const total = scenario.canaryCalls + baselineCalls;
  for (let i = 0; i < total; i++) {
    // The split's exact schedule: the canary's count never strays a call from its share.
    const side: Side =
      Math.floor((i + 1) * scenario.canaryShare) > Math.floor(i * scenario.canaryShare) ? CANARY : BASELINE;
    const version = side === CANARY ? scenario.canary : scenario.baseline;
    const failed = random() < version.errorRate ? 1 : 0;
    const ms = version.medianMs * Math.exp(SPREAD * normal(random));
    calls[side]!++;
    failures[side]! += failed;
    buckets[side]![latencyBucket(ms)]!++;
    judge.observe(0, '', side, failed);
    judge.observe(1, '', side, ms);
    if (outcome.sequentialRollback < 0 || outcome.sequentialPromotion < 0) {
      readSequential(judge, calls[CANARY]!, outcome);
    }
    if (outcome.anyRegressionRollback < 0) {
      anyRegression.observe(0, '', side, failed);
      anyRegression.observe(1, '', side, ms);
      if (anyRegression.decision() === 'rollback') outcome.anyRegressionRollback = calls[CANARY]!;
    }
    if (side === CANARY && calls[CANARY]! % settings.checkEvery === 0) {
      readFixed(calls, failures, buckets, outcome, settings);
    }
    const done = [outcome.sequentialRollback, outcome.anyRegressionRollback, outcome.fixedJudgeRollback];
    if (scenario.stopAtRollback && done.every((calls) => calls >= 0)) break;
  }
  return outcome;
}

function readSequential(judge: SequentialJudge, canaryCalls: number, outcome: Outcome): void {
  const decision = judge.decision();
  if (decision === 'rollback' && outcome.sequentialRollback < 0) {
    outcome.sequentialRollback = canaryCalls;
    outcome.sequentialTest = judge.verdict().test;
  }
  if (decision === 'promote' && outcome.sequentialPromotion < 0) outcome.sequentialPromotion = canaryCalls;
}

/** The fixed tests on everything so far, as a rollout step's window would give them. */
function readFixed(
  calls: number[],
  failures: number[],
  buckets: Float64Array[],
  outcome: Outcome,
  settings: Settings,
): void {
  if (outcome.fixedJudgeRollback >= 0 && outcome.fixedTestsRollback >= 0) return;
  const window = (side: Side) => ({
    finished: calls[side]!,
    codes: { OK: calls[side]! - failures[side]!, INTERNAL: failures[side]! },
    latencyHistogram: latencyHistogram(buckets[side]!, 0),
  });
  const verdict = judgeCanary(window(CANARY), window(BASELINE), {
    confidence: settings.confidence,
    maxErrorRateIncrease: settings.maxErrorRateIncrease,
    maxLatencyRatio: settings.maxLatencyRatio,
  });
  const alpha = 1 - settings.confidence;
  if (verdict.verdict === 'fail' && outcome.fixedJudgeRollback < 0) outcome.fixedJudgeRollback = calls[CANARY]!;
  if ((verdict.errors.pValue < alpha || verdict.latency.pValue < alpha) && outcome.fixedTestsRollback < 0) {
    outcome.fixedTestsRollback = calls[CANARY]!;
  }
}

/** A standard normal draw (Box-Muller; 1 - random() keeps the logarithm finite). */
function normal(random: RandomSource): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** `reps` repetitions of `scenario`, repetition r seeded from (seed, r): a row does not depend on the others. */
export function runScenario(
  scenario: Scenario,
  reps: number,
  seed: number,
  { settings = SETTINGS, progress }: { settings?: Settings; progress?: (done: number) => void } = {},
): Outcome[] {
  const outcomes: Outcome[] = [];
  for (let r = 0; r < reps; r++) {
    outcomes.push(runRepetition(scenario, seededRandom(seed * 1_000_003 + r), settings));
    if (progress !== undefined && (r + 1) % 100 === 0) progress(r + 1);
  }
  return outcomes;
}

const BASE: Version = { errorRate: 0.002, medianMs: 10 };

/** The table's rows. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'identical versions',
    canary: BASE,
    baseline: BASE,
    canaryShare: 0.5,
    canaryCalls: 20_000,
    stopAtRollback: false,
  },
  {
    name: 'at the margins: errors 0.7% vs 0.2%, latency x1.2',
    canary: { errorRate: 0.007, medianMs: 12 },
    baseline: BASE,
    canaryShare: 0.5,
    canaryCalls: 20_000,
    stopAtRollback: false,
  },
  {
    name: 'errors 3% vs 0.2%',
    canary: { errorRate: 0.03, medianMs: 10 },
    baseline: BASE,
    canaryShare: 0.5,
    canaryCalls: 20_000,
    stopAtRollback: true,
  },
  {
    name: 'median 30% slower',
    canary: { errorRate: 0.002, medianMs: 13 },
    baseline: BASE,
    canaryShare: 0.5,
    canaryCalls: 20_000,
    stopAtRollback: true,
  },
  {
    name: 'errors 30% vs 0.2%, canary at 10% of calls',
    canary: { errorRate: 0.3, medianMs: 10 },
    baseline: BASE,
    canaryShare: 0.1,
    canaryCalls: 2_000,
    stopAtRollback: true,
  },
];

/** `12.3% (246)` of `reps`. */
function share(count: number, reps: number): string {
  return `${((100 * count) / reps).toFixed(2)}% (${count})`;
}

/** Median and 90th percentile of the events that happened, with how many did. */
function quantiles(values: number[], reps: number): string {
  const seen = values.filter((v) => v >= 0).sort((a, b) => a - b);
  if (seen.length === 0) return 'never';
  const at = (q: number) => seen[Math.min(seen.length - 1, Math.ceil(q * seen.length) - 1)]!;
  const all = seen.length === reps ? '' : `, in ${share(seen.length, reps)}`;
  return `${at(0.5)} / ${at(0.9)}${all}`;
}

/** The Markdown table of the rows' outcomes: rollbacks (a share for a false-alarm row, calls for a detection row). */
export function renderTable(rows: readonly { scenario: Scenario; outcomes: Outcome[] }[]): string {
  const lines = [
    '| scenario | sequential judge | sequential, `any-regression` | fixed judge every 50 calls | fixed tests alone every 50 calls |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const { scenario, outcomes } of rows) {
    const reps = outcomes.length;
    const column = (pick: (o: Outcome) => number): string =>
      scenario.stopAtRollback
        ? quantiles(outcomes.map(pick), reps)
        : share(outcomes.filter((o) => pick(o) >= 0).length, reps);
    const what = scenario.stopAtRollback ? 'calls to roll back' : 'rolled back';
    lines.push(
      `| ${scenario.name}: ${what} | ${column((o) => o.sequentialRollback)} | ` +
        `${column((o) => o.anyRegressionRollback)} | ${column((o) => o.fixedJudgeRollback)} | ` +
        `${column((o) => o.fixedTestsRollback)} |`,
    );
    if (!scenario.stopAtRollback && outcomes.some((o) => o.sequentialPromotion >= 0)) {
      const promoted = quantiles(
        outcomes.map((o) => o.sequentialPromotion),
        reps,
      );
      lines.push(`| ${scenario.name}: calls to promote early | ${promoted} | (the same tests) | never | never |`);
    }
  }
  return lines.join('\n');
}

function main(argv: string[]): void {
  const value = (flag: string, fallback: number): number => {
    const index = argv.indexOf(flag);
    const parsed = index >= 0 ? Number(argv[index + 1]) : fallback;
    if (!Number.isInteger(parsed) || parsed < 1)
      throw new RangeError(`${flag}: expected a positive integer, got ${argv[index + 1]}`);
    return parsed;
  };
  const reps = value('--reps', 2000);
  const seed = value('--seed', 1);
  const rows = SCENARIOS.map((scenario) => {
    const started = Date.now();
    const outcomes = runScenario(scenario, reps, seed, {
      progress: (done) => process.stderr.write(`\r${scenario.name}: ${done} of ${reps} repetitions`),
    });
    process.stderr.write(`\r${scenario.name}: ${reps} repetitions, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    return { scenario, outcomes };
  });
  console.log(`node dist/benchmarks/judge-simulation.js --reps ${reps} --seed ${seed}\n`);
  console.log(renderTable(rows));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
