/**
 * Judging one rollout step: the subset's figures over the step's window, the built-in checks
 * (error rate, p99, minimum calls) and the user's `judge`, bounded in time.
 * @internal
 * @module
 */
import { judgeCanary } from './canary-judge.js';
import { answerHistogram } from './judged-latency.js';
import { histogramQuantile } from '../../algorithms/stats-tests.js';
import type { ClockTimer } from '../../base/clock.js';
import { describeValue } from '../../base/errors.js';
import { Status } from '../../split/ops-port.js';
import type { ParsedRolloutOptions, RolloutFigures, RolloutStepStats } from './rollout-options.js';
import type { RolloutComparison } from './rollout-types.js';
import type { SplitStats, StatusName } from '../../split/ops-port.js';

/** The outcome of judging a step. */
export interface StepVerdict {
  verdict: 'pass' | 'fail';
  /** Why, in words: `error rate 0% (0 of 240 calls) <= 5%`. */
  reason: string;
}

/**
 * The subset's figures in `window` (a `stats({ since: mark })` snapshot). `periodMs` is the
 * window's length on the rollout's clock, which a test may have faked.
 */
export function measure(
  window: SplitStats,
  subset: string,
  failureCodes: ReadonlySet<number>,
  periodMs: number,
  waitedIntervals: number,
): RolloutFigures {
  const stats = window.subsets[subset]!;
  const answered = answerHistogram(stats);
  let failures = 0;
  for (const [name, count] of Object.entries(stats.codes)) {
    if (failureCodes.has(Status[name as StatusName])) failures += count ?? 0;
  }
  return {
    periodMs,
    calls: stats.finished,
    failures,
    errorRate: stats.finished > 0 ? failures / stats.finished : 0,
    p99Ms: answered.length > 0 ? histogramQuantile(answered, 0.99) : stats.latencyMs.p99,
    waitedIntervals,
  };
}

/**
 * A step with fewer than `minCalls` calls may still be failed at once: when its failures alone
 * exceed the error budget of `minCalls` calls, no amount of waiting can make it pass at the
 * minimum, and a broken version should not get more intervals of traffic. Returns null when
 * waiting is still worth it.
 */
export function failsBeforeMinCalls(figures: RolloutFigures, options: ParsedRolloutOptions): StepVerdict | null {
  if (figures.failures === 0 || figures.failures <= options.maxErrorRate * options.minCalls) return null;
  return fail(
    `error rate over budget before minCalls: ${figures.failures} of ${figures.calls} calls ` +
      `failed, more than ${percent(options.maxErrorRate)} of ${options.minCalls} calls allows`,
  );
}

/** The built-in checks, on a window with enough calls. */
export function checkFigures(figures: RolloutFigures, options: ParsedRolloutOptions): StepVerdict {
  const rate = `error rate ${percent(figures.errorRate)} (${figures.failures} of ${figures.calls} calls)`;
  if (figures.errorRate > options.maxErrorRate) return fail(`${rate} > ${percent(options.maxErrorRate)}`);
  const reasons = [`${rate} <= ${percent(options.maxErrorRate)}`];
  if (options.maxP99Ms !== null && figures.p99Ms !== null) {
    const p99 = `p99 ${figures.p99Ms} ms`;
    if (figures.p99Ms > options.maxP99Ms) return fail(`${p99} > ${options.maxP99Ms} ms`);
    reasons.push(`${p99} <= ${options.maxP99Ms} ms`);
  }
  return { verdict: 'pass', reason: reasons.join('; ') };
}

/** The rolled-out subset against `baseline` over the same window (see `judgeCanary()`). */
export function compareWithBaseline(
  window: SplitStats,
  subset: string,
  baseline: string,
  options: ParsedRolloutOptions,
): RolloutComparison {
  const verdict = judgeCanary(window.subsets[subset]!, window.subsets[baseline]!, {
    confidence: options.confidence,
    maxErrorRateIncrease: options.maxErrorRateIncrease,
    maxLatencyRatio: options.maxLatencyRatio,
    failureCodes: options.failureCodes,
    names: [subset, baseline],
    stratify: options.stratify,
  });
  return { ...verdict, subsets: { canary: subset, baseline } };
}

/**
 * Runs the user's judge. Never throws: a throw, a rejection, an answer of the wrong type or no
 * answer within `judgeTimeoutMs` (on the rollout's clock) fails the step. `signal` ends the
 * wait early (the rollout was paused or stopped; its caller then ignores the verdict).
 */
export async function runJudge(
  judge: NonNullable<ParsedRolloutOptions['judge']>,
  step: RolloutStepStats,
  { judgeTimeoutMs: timeoutMs, clock }: Pick<ParsedRolloutOptions, 'judgeTimeoutMs' | 'clock'>,
  signal: AbortSignal,
): Promise<StepVerdict> {
  let timer: ClockTimer | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<StepVerdict>((resolve) => {
    timer = clock.setTimeout(() => resolve(fail(`judge did not answer within ${timeoutMs} ms`)), timeoutMs);
    onAbort = () => resolve(fail('judging stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const answer = Promise.resolve()
    .then(() => judge(step))
    .then(judgeVerdict, (error: unknown) =>
      fail(`judge threw: ${error instanceof Error ? error.message : describeValue(error)}`),
    );
  try {
    return await Promise.race([answer, deadline]);
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
    signal.removeEventListener('abort', onAbort!);
  }
}

function judgeVerdict(answer: unknown): StepVerdict {
  if (answer === true) return { verdict: 'pass', reason: 'judge passed' };
  if (answer === false) return fail('judge failed the step');
  if (typeof answer === 'string') return fail(answer === '' ? 'judge failed the step' : `judge: ${answer}`);
  return fail(`judge answered ${describeValue(answer)}; expected true, false or a reason string`);
}

function fail(reason: string): StepVerdict {
  return { verdict: 'fail', reason };
}

/** 0.05 -> "5%", 0.0012 -> "0.12%". */
function percent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(3))}%`;
}
