/**
 * Options of `startRollout()`: their types, defaults, and the parser that validates them at the
 * boundary (every message starts with the field path and shows the rejected value).
 * @module
 */
import { MAX_METHOD_KEY_LENGTH, METHOD_NAME, SERVICE_PREFIX } from '../../algorithms/routing/method-lookup.js';
import { realClock, type Clock } from '../../base/clock.js';
import {
  booleanValue,
  clockValue,
  integerIn,
  MAX_TIMER_MS,
  numberWhere,
  rejectUnknownKeys,
  requireObject,
} from '../../base/validate.js';
import { rangeErrorAt, typeErrorAt } from '../../base/errors.js';
import { DEFAULT_CONFIDENCE, DEFAULT_MAX_ERROR_RATE_INCREASE, DEFAULT_MAX_LATENCY_RATIO } from './canary-judge.js';
import { Status } from '../../split/ops-port.js';
import type { SplitStats, StatusName, SubsetStats } from '../../split/ops-port.js';
import { parseShadowOptions, type ParsedShadowOptions, type RolloutShadowOptions } from './rollout-shadow.js';

/** How each rollout step is judged. */
export interface RolloutAnalysis {
  /**
   * Largest accepted share of failed calls among the calls the subset finished during the
   * step: `failures / finished`, from 0 to 1 (0.01 = 1%). A step passes when the rate is at most
   * this value. Required unless `baseline` is set (then it defaults to 1: no absolute bound).
   */
  maxErrorRate?: number;
  /**
   * Judge each step against this subset over the same interval (see `judgeCanary()`): the step
   * fails when the rolled-out subset's error rate is significantly higher and higher by more
   * than `maxErrorRateIncrease`, or its latencies significantly greater with a ratio of medians
   * above `maxLatencyRatio`. `minCalls` then applies to both subsets.
   * @default the rollout's `baseline` in baseline experiment mode, else no comparison
   */
  baseline?: string;
  /** Confidence of the comparison with `baseline` (one-sided), above 0.5 and below 1. @default 0.99 */
  confidence?: number;
  /** Smallest absolute error-rate increase over the baseline that fails a step (0 to 1). @default 0.005 */
  maxErrorRateIncrease?: number;
  /** Largest accepted ratio of the subset's median latency to the baseline's (>= 1). @default 1.2 */
  maxLatencyRatio?: number;
  /**
   * Compare with `baseline` method by method when the split counts methods (`methodFigures`):
   * see `judgeCanary()`'s `stratify`. `false` compares the pooled calls. @default true
   */
  stratify?: boolean;
  /**
   * With `baseline`: also judge every call as it ends, with tests that stay valid however often
   * they are read (a false rollback over the whole rollout at most `1 - confidence`), rolling
   * back as soon as a regression beyond the margins is shown and ending a step early (promoting
   * it) once equivalence within the margins is shown. The step's interval then only bounds how
   * long a step may take. See docs/judging.md. @default false
   */
  sequential?: boolean;
  /**
   * Status codes (names or numbers) counted as failures. Codes a client causes itself, such as
   * NOT_FOUND or INVALID_ARGUMENT, are left out by default: they say nothing about the version.
   * @default ["UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "DATA_LOSS", "RESOURCE_EXHAUSTED"]
   */
  failureCodes?: (StatusName | number)[];
  /** Largest accepted p99 latency of the subset's calls during the step, in milliseconds
   * (from `stats().subsets[subset].latencyMs.p99`, accurate to about 9%). @default no limit */
  maxP99Ms?: number;
  /**
   * Fewest finished calls on the subset a step is judged on. With fewer, the step waits one more
   * interval (its window grows), at most `maxWaitIntervals` times, and then the rollout is
   * rolled back: a version that got no traffic has not proved anything. 0 lets a step pass
   * without traffic. @default 1
   */
  minCalls?: number;
  /** Extra intervals a step may wait for `minCalls`. @default 3 */
  maxWaitIntervals?: number;
  /**
   * Your own check, run after the built-in ones passed: `true` passes the step; `false` or a
   * string fails it (the string is the reason); a throw or rejection fails it too. Not settled
   * within `judgeTimeoutMs`: fails.
   * @example judge: async (step) => (await errorBudgetLeft()) > 0 || 'error budget spent'
   */
  judge?: (step: RolloutStepStats) => boolean | string | Promise<boolean | string>;
  /** How long `judge` may take, in milliseconds. @default 10000 */
  judgeTimeoutMs?: number;
}

/**
 * Options of `startRollout()` / `split.rollout()`.
 * @example
 * { subset: 'v2', steps: [10, 25, 50], intervalMs: 60_000, analysis: { maxErrorRate: 0.01, minCalls: 100 } }
 */
export interface RolloutOptions {
  /** The subset being rolled out. The split needs at least one other subset. */
  subset: string;
  /**
   * The subset's share in percent at each step, strictly increasing, each from 1 to 100 (below 1
   * only with `allowStepsBelowOnePercent`). After the last step passes, the subset gets 100 and
   * every other subset 0.
   * @example [10, 50] (10%, then 50%)
   */
  steps: number[];
  /**
   * Accept steps above 0 and below 1 percent (`[0.1, 1, 10]` for 0.1%, 1%, 10%). Without it they
   * are refused, because `[0.1, 0.5]` is most often meant as fractions (10%, 50%) and would
   * otherwise run as 0.1% and 0.5%. @default false
   */
  allowStepsBelowOnePercent?: boolean;
  /** How long each step runs before it is judged, in milliseconds (1 to 2147483647). */
  intervalMs: number;
  /**
   * Roll out for these methods only: full method names (`/pkg.Service/Method`) or service
   * prefixes (`/pkg.Service/`). The steps set a method-weight override for each (other methods
   * keep their weights), a rollback restores the overrides as they were, a promotion leaves the
   * subset at 100 for them, and each step is judged on the calls of these methods alone (their
   * per-method figures: they must be within the split's `methodFigures` bound). The methods must
   * have the same weights when the rollout starts. Not on a fleet. @default every method
   * @example methods: ['/shop.Store/Read']
   */
  methods?: string[];
  /** How each step is judged. */
  analysis: RolloutAnalysis;
  /**
   * Baseline experiment mode: a subset (fresh instances of the stable version, at weight 0 when
   * the rollout starts) that gets exactly the rolled-out subset's share at every step, the other
   * subsets sharing the rest, so both are compared like for like. Implies `analysis.baseline`;
   * each step is then at most 50. It goes back to 0 when the rollout ends, however it ends.
   */
  baseline?: string;
  /**
   * Where the rollout reads the time and sets its timers (the step intervals, `judgeTimeoutMs`,
   * `durationMs`). For tests and simulations: a fake clock makes a step's interval end when the
   * test advances it, so verdicts depend on the calls made, not on how fast the machine runs.
   * @default the real clock (`Date.now()`, `setTimeout()`)
   */
  clock?: Clock;
  /**
   * A shadow phase before the first step: the subset (at weight 0 when the rollout starts) gets
   * only copies of `percent` of the calls (the split's mirror, comparing answers) for
   * `intervalMs`; more mismatches or failed copies than allowed roll the rollout back before
   * any real call reached the subset, otherwise the weight steps begin. See `setMirror()`.
   * @example shadow: { percent: 20, maxMismatchRate: 0, minCalls: 50 }
   */
  shadow?: RolloutShadowOptions;
}

/** Figures of the rolled-out subset over one step's window. */
export interface RolloutFigures {
  /** Milliseconds the window covered (it grows when the step waits for `minCalls`). */
  periodMs: number;
  /** Calls the subset finished in the window. */
  calls: number;
  /** Those that ended with one of `failureCodes`. */
  failures: number;
  /** `failures / calls`; 0 without calls. */
  errorRate: number;
  /** p99 latency of those calls in milliseconds; null without calls. */
  p99Ms: number | null;
  /** Extra intervals the step waited for `minCalls`. */
  waitedIntervals: number;
}

/** What `analysis.judge` receives. */
export interface RolloutStepStats {
  /** 0-based step index. */
  step: number;
  /** The subset's share in percent. */
  percent: number;
  subset: string;
  /** The weights in force during the step. */
  weights: Record<string, number>;
  figures: RolloutFigures;
  /** The subset's own stats over the window. */
  subsetStats: SubsetStats;
  /** The whole split over the window: compare the subset with the others. */
  splitStats: SplitStats;
}

/** The default `failureCodes`: server-side failures that point at the version being rolled out.
 * UNIMPLEMENTED is one: a version that lost a method, or answers a unary call with no message
 * (grpc-js makes that UNIMPLEMENTED for the application), fails the calls v1 served. */
export const DEFAULT_FAILURE_CODES: readonly StatusName[] = Object.freeze([
  'UNKNOWN',
  'INTERNAL',
  'UNIMPLEMENTED',
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'DATA_LOSS',
  'RESOURCE_EXHAUSTED',
]);

/** Default `analysis.minCalls`: a step with no call on the subset is never passed. */
export const DEFAULT_MIN_CALLS = 1;
/** Default `analysis.maxWaitIntervals`. */
export const DEFAULT_MAX_WAIT_INTERVALS = 3;
/** Default `analysis.judgeTimeoutMs`. */
export const DEFAULT_JUDGE_TIMEOUT_MS = 10_000;
/** Most steps in one rollout. */
export const MAX_ROLLOUT_STEPS = 100;

/** Validated options with every default filled in. @internal */
export interface ParsedRolloutOptions {
  readonly subset: string;
  readonly steps: readonly number[];
  readonly intervalMs: number;
  readonly maxErrorRate: number;
  /** The subset each step is compared with, or null. */
  readonly baseline: string | null;
  /** The subset that gets the rolled-out subset's share at every step, or null. */
  readonly experimentBaseline: string | null;
  readonly confidence: number;
  readonly maxErrorRateIncrease: number;
  readonly maxLatencyRatio: number;
  readonly stratify: boolean;
  readonly sequential: boolean;
  readonly failureCodes: ReadonlySet<number>;
  readonly maxP99Ms: number | null;
  readonly minCalls: number;
  readonly maxWaitIntervals: number;
  readonly judge: NonNullable<RolloutAnalysis['judge']> | null;
  readonly judgeTimeoutMs: number;
  readonly clock: Clock;
  /** The shadow phase, or null for none. */
  readonly shadow: ParsedShadowOptions | null;
  /** The methods rolled out (method names or service prefixes), or null for every method. */
  readonly methods: readonly string[] | null;
}

const ANALYSIS_KEYS = [
  'maxErrorRate',
  'failureCodes',
  'maxP99Ms',
  'minCalls',
  'maxWaitIntervals',
  'judge',
  'judgeTimeoutMs',
  'baseline',
  'confidence',
  'maxErrorRateIncrease',
  'maxLatencyRatio',
  'stratify',
  'sequential',
];

/** Validates every option before anything changes. @internal Long as a list of fields is long:
 * one validator call per option, in the order the documentation gives them. */
export function parseRolloutOptions(raw: unknown, subsetNames: readonly string[]): ParsedRolloutOptions {
  const obj = requireObject(raw, 'options', 'an object with "subset", "steps", "intervalMs" and "analysis"');
  rejectUnknownKeys(
    obj,
    [
      'subset',
      'steps',
      'intervalMs',
      'analysis',
      'clock',
      'baseline',
      'shadow',
      'allowStepsBelowOnePercent',
      'methods',
    ],
    '',
  );
  const subset = obj['subset'];
  if (typeof subset !== 'string' || !subsetNames.includes(subset)) {
    throw typeErrorAt('subset', `one of the subsets ${subsetNames.join(', ')}`, subset);
  }
  // With a single subset every step would already send it all calls: nothing to roll out.
  if (subsetNames.length < 2) throw typeErrorAt('subset', 'a subset of a split with at least two subsets', subset);
  const analysis = requireObject(obj['analysis'], 'analysis', 'an object with at least "maxErrorRate"');
  rejectUnknownKeys(analysis, ANALYSIS_KEYS, 'analysis.');
  const experimentBaseline = parseBaseline(obj['baseline'], 'baseline', subset, subsetNames, 3);
  const baseline =
    parseBaseline(analysis['baseline'], 'analysis.baseline', subset, subsetNames, 2) ?? experimentBaseline;
  if (experimentBaseline !== null && baseline !== experimentBaseline) {
    throw typeErrorAt(
      'analysis.baseline',
      `the rollout's baseline "${experimentBaseline}" (or no value)`,
      analysis['baseline'],
    );
  }
  const steps = parseSteps(
    obj['steps'],
    booleanValue('allowStepsBelowOnePercent', obj['allowStepsBelowOnePercent'] ?? false),
  );
  // The baseline gets the subset's share too, so both fit in 100 only up to 50 each.
  const over = experimentBaseline === null ? -1 : steps.findIndex((step) => step > 50);
  if (over >= 0)
    throw rangeErrorAt(
      `steps[${over}]`,
      'a percentage of at most 50 with a baseline (it gets the same share)',
      steps[over],
    );
  const intervalMs = parseInteger(obj['intervalMs'], 'intervalMs', 1, MAX_TIMER_MS, undefined);
  const maxErrorRate =
    analysis['maxErrorRate'] === undefined && baseline !== null
      ? 1
      : parseNumber(analysis['maxErrorRate'], 'analysis.maxErrorRate', 'a number from 0 to 1', 0, 1);
  const methods = parseRolloutMethods(obj['methods']);
  if (methods !== null && obj['shadow'] !== undefined)
    throw typeErrorAt('shadow', 'no shadow phase in a rollout by methods (the mirror copies every method)', 'set');
  return Object.freeze({
    subset,
    steps,
    intervalMs,
    maxErrorRate,
    methods,
    shadow: parseShadowOptions(obj['shadow'], { intervalMs, maxErrorRate }, { subset, subsetNames }),
    baseline,
    experimentBaseline,
    confidence: optionalNumber(
      analysis['confidence'],
      'analysis.confidence',
      'a number above 0.5 and below 1',
      DEFAULT_CONFIDENCE,
      (x) => x > 0.5 && x < 1,
    ),
    maxErrorRateIncrease: optionalNumber(
      analysis['maxErrorRateIncrease'],
      'analysis.maxErrorRateIncrease',
      'a number from 0 to 1',
      DEFAULT_MAX_ERROR_RATE_INCREASE,
      (x) => x >= 0 && x <= 1,
    ),
    maxLatencyRatio: optionalNumber(
      analysis['maxLatencyRatio'],
      'analysis.maxLatencyRatio',
      'a finite number >= 1',
      DEFAULT_MAX_LATENCY_RATIO,
      (x) => x >= 1,
    ),
    stratify: booleanValue('analysis.stratify', analysis['stratify'] ?? true),
    sequential: parseSequential(analysis['sequential'], baseline),
    failureCodes: parseFailureCodes(analysis['failureCodes']),
    maxP99Ms:
      analysis['maxP99Ms'] === undefined
        ? null
        : parseNumber(
            analysis['maxP99Ms'],
            'analysis.maxP99Ms',
            'a number of milliseconds > 0',
            Number.MIN_VALUE,
            Infinity,
          ),
    minCalls: parseInteger(analysis['minCalls'], 'analysis.minCalls', 0, 1e9, DEFAULT_MIN_CALLS),
    maxWaitIntervals: parseInteger(
      analysis['maxWaitIntervals'],
      'analysis.maxWaitIntervals',
      0,
      1000,
      DEFAULT_MAX_WAIT_INTERVALS,
    ),
    judge: parseJudge(analysis['judge']),
    judgeTimeoutMs: parseInteger(
      analysis['judgeTimeoutMs'],
      'analysis.judgeTimeoutMs',
      1,
      MAX_TIMER_MS,
      DEFAULT_JUDGE_TIMEOUT_MS,
    ),
    clock: parseClock(obj['clock']),
  });
}

function parseSteps(raw: unknown, belowOnePercent: boolean): number[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_ROLLOUT_STEPS) {
    throw typeErrorAt('steps', `a list of 1 to ${MAX_ROLLOUT_STEPS} percentages such as [10, 50]`, raw);
  }
  raw.forEach((step: unknown, i) => {
    const field = `steps[${i}]`;
    if (typeof step !== 'number') throw typeErrorAt(field, 'a percentage above 0 and at most 100', step);
    if (!(step > 0 && step <= 100)) throw rangeErrorAt(field, 'a percentage above 0 and at most 100', step);
    if (step < 1 && !belowOnePercent) {
      const error = rangeErrorAt(field, 'a percentage from 1 to 100', step);
      error.message +=
        ': steps are percentages, not fractions ([10, 50] is 10% then 50%); ' +
        'for a step below 1% on purpose, set allowStepsBelowOnePercent: true';
      throw error;
    }
    // Increasing steps only: a decreasing list is almost surely a typo, and a step judged at a
    // share it already passed proves nothing new.
    const before = raw[i - 1] as number | undefined;
    if (before !== undefined && step <= before)
      throw rangeErrorAt(field, `a percentage above the previous step (${before})`, step);
  });
  return [...(raw as number[])];
}

function parseBaseline(
  raw: unknown,
  field: string,
  subset: string,
  subsetNames: readonly string[],
  fewest: number,
): string | null {
  if (raw === undefined) return null;
  const others = subsetNames.filter((name) => name !== subset);
  if (typeof raw !== 'string' || !others.includes(raw))
    throw typeErrorAt(field, `one of the other subsets ${others.join(', ')}`, raw);
  if (subsetNames.length < fewest)
    throw typeErrorAt(field, `a subset of a split with at least ${fewest} subsets`, raw);
  return raw;
}

function optionalNumber(
  raw: unknown,
  field: string,
  expectation: string,
  fallback: number,
  valid: (x: number) => boolean,
): number {
  return raw === undefined ? fallback : numberWhere(field, raw, expectation, valid);
}

function parseNumber(raw: unknown, field: string, expectation: string, min: number, max: number): number {
  return numberWhere(field, raw, expectation, (x) => x >= min && x <= max);
}

function parseInteger(raw: unknown, field: string, min: number, max: number, fallback: number | undefined): number {
  return raw === undefined && fallback !== undefined ? fallback : integerIn(field, raw, min, max);
}

function parseFailureCodes(raw: unknown): ReadonlySet<number> {
  const list = raw ?? DEFAULT_FAILURE_CODES;
  if (!Array.isArray(list) || list.length === 0)
    throw typeErrorAt('analysis.failureCodes', 'a non-empty list of status code names or numbers', raw);
  const codes = list.map((code: unknown, i) => {
    if (typeof code === 'number' && Number.isInteger(code) && Status[code] !== undefined) return code;
    if (typeof code === 'string' && Object.hasOwn(Status, code) && typeof Status[code as StatusName] === 'number')
      return Status[code as StatusName];
    throw typeErrorAt(
      `analysis.failureCodes[${i}]`,
      'a gRPC status code name (such as "INTERNAL") or number (0 to 16)',
      code,
    );
  });
  return new Set(codes);
}

function parseJudge(raw: unknown): NonNullable<RolloutAnalysis['judge']> | null {
  if (raw === undefined) return null;
  if (typeof raw !== 'function')
    throw typeErrorAt('analysis.judge', 'a function (step) => boolean | string | Promise<boolean | string>', raw);
  return raw as NonNullable<RolloutAnalysis['judge']>;
}

function parseClock(raw: unknown): Clock {
  return raw === undefined ? realClock : clockValue('clock', raw);
}

/** Most methods one rollout targets. */
const MAX_ROLLOUT_METHODS = 100;

function parseRolloutMethods(raw: unknown): readonly string[] | null {
  if (raw === undefined) return null;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_ROLLOUT_METHODS)
    throw typeErrorAt('methods', `a list of 1 to ${MAX_ROLLOUT_METHODS} method names or service prefixes`, raw);
  const seen = new Set<string>();
  raw.forEach((method: unknown, i) => {
    if (
      typeof method !== 'string' ||
      method.length > MAX_METHOD_KEY_LENGTH ||
      !(METHOD_NAME.test(method) || SERVICE_PREFIX.test(method))
    )
      throw typeErrorAt(
        `methods[${i}]`,
        'a full method name ("/pkg.Service/Method") or a service prefix ("/pkg.Service/")',
        method,
      );
    if (seen.has(method)) throw typeErrorAt(`methods[${i}]`, 'a method not listed before', method);
    seen.add(method);
  });
  return Object.freeze([...seen]);
}

function parseSequential(raw: unknown, baseline: string | null): boolean {
  const sequential = booleanValue('analysis.sequential', raw ?? false);
  if (sequential && baseline === null)
    throw typeErrorAt('analysis.sequential', 'true only with a baseline (analysis.baseline or baseline)', raw);
  return sequential;
}
