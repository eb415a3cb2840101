/**
 * What `judgeCanary()` asks of the figures it is given: counts that are finite and not negative,
 * failures within the calls, histograms of such pairs. Figures from elsewhere (a fleet, a file, a
 * custom handle) may break this; a judge that read NaN as "no failures" would pass a canary
 * whose every call failed.
 * @module
 */
import { describeValue } from '../../base/errors.js';

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** The first problem of `window` (read as `field`), in the library's words, or null. */
export function windowProblem(window: unknown, field: string): string | null {
  if (typeof window !== 'object' || window === null) return `${field}: expected figures, got ${describeValue(window)}`;
  const w = window as Record<string, unknown>;
  const problem = figuresProblem(w, field);
  if (problem !== null || w['methods'] === undefined) return problem;
  if (typeof w['methods'] !== 'object' || w['methods'] === null)
    return `${field}.methods: expected figures by method, got ${describeValue(w['methods'])}`;
  for (const [method, figures] of Object.entries(w['methods'])) {
    const at = `${field}.methods[${JSON.stringify(method.slice(0, 80))}]`;
    if (typeof figures !== 'object' || figures === null)
      return `${at}: expected figures, got ${describeValue(figures)}`;
    const inner = figuresProblem(figures as Record<string, unknown>, at);
    if (inner !== null) return inner;
  }
  return null;
}

function figuresProblem(w: Record<string, unknown>, field: string): string | null {
  if (!isCount(w['finished']))
    return `${field}.finished: expected a count (a finite number >= 0), got ${describeValue(w['finished'])}`;
  const codes = w['codes'];
  if (typeof codes !== 'object' || codes === null)
    return `${field}.codes: expected counts by status code, got ${describeValue(codes)}`;
  let counted = 0;
  for (const [code, count] of Object.entries(codes)) {
    if (count === undefined) continue;
    if (!isCount(count)) return `${field}.codes.${code}: expected a count, got ${describeValue(count)}`;
    counted += count;
  }
  if (counted > w['finished'])
    return `${field}.codes: ${counted} calls by code, more than the ${w['finished']} finished`;
  const streams = w['streams'] as Record<string, unknown> | undefined;
  const histograms: [string, unknown][] = [
    ['latencyHistogram', w['latencyHistogram']],
    ['unaryLatencyHistogram', w['unaryLatencyHistogram']],
    ['streams.firstMessageHistogram', typeof streams === 'object' ? streams?.['firstMessageHistogram'] : undefined],
  ];
  for (const [name, histogram] of histograms) {
    if (histogram === undefined) continue;
    const bad = !Array.isArray(histogram)
      ? histogram
      : histogram.find((pair) => !Array.isArray(pair) || !isCount(pair[0]) || !isCount(pair[1]));
    if (bad !== undefined)
      return `${field}.${name}: expected [ms, count] pairs of finite numbers >= 0, got ${describeValue(bad)}`;
  }
  return null;
}
