/**
 * The marks of `split.mark()` and their check in `stats({ since })`. A mark is a copy of one
 * split's counters: subtracted from another split's, it gives negative counts (or, were it
 * ignored, the whole lifetime), so `stats()` accepts only the marks its own split issued.
 * @module
 */
import { describeValue, TrafficSplitTypeError } from '../base/errors.js';
import type { StatsMark } from './types.js';

/** Who issued each mark: the split's name and target. */
const issuers = new WeakMap<object, string>();

function describeSplit(split: { readonly name: string; readonly target: string }): string {
  return `split "${split.name}" (${split.target})`;
}

/** Records that `split` issued `mark`; returns the mark. */
export function issuedMark(mark: StatsMark, split: { readonly name: string; readonly target: string }): StatsMark {
  issuers.set(mark, describeSplit(split));
  return mark;
}

/**
 * `options.since` of `stats()` checked to be a mark of `split`, or null when there is none.
 * @throws {TrafficSplitTypeError} for anything else, naming what it got and the fix.
 */
export function sinceMarkOf(
  options: unknown,
  split: { readonly name: string; readonly target: string },
): StatsMark | null {
  if (options === undefined) return null;
  const own = describeSplit(split);
  const expected = `{ since: <a mark of this split> }; take one with mark() on ${own}`;
  // `stats(mark)` instead of `stats({ since: mark })` would quietly give the whole lifetime.
  if (typeof options === 'object' && options !== null && issuers.has(options)) {
    throw new TrafficSplitTypeError(
      `stats(): expected options ${expected}, got a mark itself: pass it as stats({ since: mark })`,
    );
  }
  if (typeof options !== 'object' || options === null)
    throw new TrafficSplitTypeError(`stats(): expected options ${expected}, got ${describeValue(options)}`);
  const since = (options as { since?: unknown }).since;
  if (since === undefined) return null;
  const issuer = typeof since === 'object' && since !== null ? issuers.get(since) : undefined;
  if (issuer === undefined) {
    throw new TrafficSplitTypeError(`since: expected a mark from mark() of ${own}, got ${describeValue(since)}`);
  }
  if (issuer !== own) {
    throw new TrafficSplitTypeError(
      `since: expected a mark from mark() of ${own}, got a mark ` +
        `of ${issuer}: a mark counts the calls of the split that made it; ` +
        `call mark() on the split whose stats() you read`,
    );
  }
  return since as StatsMark;
}
