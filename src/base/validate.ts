/**
 * One validator per kind of value, each throwing the one message template of src/base/errors.ts:
 * ``field: expected <what>, got `value` (type)``, a TrafficSplitTypeError for a wrong type and a
 * TrafficSplitRangeError for a value of the right type out of range. Parsers of options and
 * configs call these instead of writing their own checks, so a kind of value is checked, and
 * described, the same way everywhere.
 * @module
 */
import type { Clock } from './clock.js';
import { describeValue, keyForPath, rangeErrorAt, typeErrorAt, TrafficSplitTypeError } from './errors.js';

/** The longest delay Node's timers accept (2^31 - 1 ms); longer ones fire at once. */
export const MAX_TIMER_MS = 0x7fffffff;

/** How an integer is described: `unit` names what it counts in the type error ("an integer
 * number of milliseconds"); `range` replaces "an integer from <min> to <max>" in both. */
export interface IntegerWords {
  unit?: string;
  range?: string;
}

/** An integer from `min` to `max` inclusive. */
export function integerIn(field: string, value: unknown, min: number, max: number, words: IntegerWords = {}): number {
  const range = words.range ?? `an integer from ${min} to ${max}`;
  if (typeof value !== 'number')
    throw typeErrorAt(field, words.unit === undefined ? range : `an integer number of ${words.unit}`, value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeErrorAt(field, range, value);
  return value;
}

/** A delay or period in milliseconds that a Node timer can hold: an integer from `min` to 2^31 - 1. */
export function timerMs(field: string, value: unknown, min: number, range?: string): number {
  return integerIn(field, value, min, MAX_TIMER_MS, {
    unit: 'milliseconds',
    ...(range === undefined ? {} : { range }),
  });
}

/** A safe integer (seeds): any integer a double holds exactly. */
export function safeInteger(field: string, value: unknown): number {
  if (typeof value !== 'number') throw typeErrorAt(field, 'a safe integer', value);
  if (!Number.isSafeInteger(value)) throw rangeErrorAt(field, 'a safe integer', value);
  return value;
}

/** A finite number from `min` to `max` inclusive (NaN and the infinities are out of range). */
export function finiteNumberIn(field: string, value: unknown, min: number, max: number): number {
  const expectation = `a finite number from ${min} to ${max}`;
  if (typeof value !== 'number') throw typeErrorAt(field, expectation, value);
  if (!Number.isFinite(value) || value < min || value > max) throw rangeErrorAt(field, expectation, value);
  return value;
}

/** A finite number that `valid` accepts, described by `expectation` in both kinds of error. */
export function numberWhere(
  field: string,
  value: unknown,
  expectation: string,
  valid: (x: number) => boolean,
): number {
  if (typeof value !== 'number') throw typeErrorAt(field, expectation, value);
  if (!Number.isFinite(value) || !valid(value)) throw rangeErrorAt(field, expectation, value);
  return value;
}

/** `true` or `false`; no truthy stand-ins. */
export function booleanValue(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeErrorAt(field, 'a boolean', value);
  return value;
}

/** Any string, the empty one included. */
export function stringValue(field: string, value: unknown, expectation = 'a string'): string {
  if (typeof value !== 'string') throw typeErrorAt(field, expectation, value);
  return value;
}

/** A string of at least one character; `expectation` says what it names ("a file path"). */
export function nonEmptyString(field: string, value: unknown, expectation = 'a non-empty string'): string {
  if (typeof value !== 'string' || value === '') throw typeErrorAt(field, expectation, value);
  return value;
}

/** A string that `pattern` matches in full (the pattern carries its own anchors). */
export function stringMatching(field: string, value: unknown, pattern: RegExp, expectation: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw typeErrorAt(field, expectation, value);
  return value;
}

/** One of `allowed`, compared with `===`. */
export function oneOf<T>(
  field: string,
  value: unknown,
  allowed: readonly T[],
  expectation = `one of ${allowed.join(', ')}`,
): T {
  if (!allowed.includes(value as T)) throw typeErrorAt(field, expectation, value);
  return value as T;
}

/** A function (callbacks, hooks). */
export function functionValue<F extends (...args: never[]) => unknown>(
  field: string,
  value: unknown,
  expectation = 'a function',
): F {
  if (typeof value !== 'function') throw typeErrorAt(field, expectation, value);
  return value as F;
}

/** A non-null, non-array object, read through its own keys only. */
export function requireObject(value: unknown, field: string, expectation: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeErrorAt(field, expectation, value);
  }
  return value as Record<string, unknown>;
}

/** Rejects keys outside `allowed`: a typo such as `weigths` must not pass silently. */
export function rejectUnknownKeys(obj: Record<string, unknown>, allowed: readonly string[], prefix: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new TrafficSplitTypeError(
        `${prefix}${keyForPath(key)}: unknown option (known: ${allowed.join(', ')}), got ${describeValue(obj[key])}`,
      );
    }
  }
}

/**
 * A `Clock`: checked when the option is given rather than at its first timer, where a missing
 * method would throw inside a timer callback.
 */
export function clockValue(field: string, value: unknown): Clock {
  const clock = requireObject(value, field, 'an object with now(), setTimeout() and clearTimeout() methods');
  for (const method of ['now', 'setTimeout', 'clearTimeout']) {
    if (typeof clock[method] !== 'function') throw typeErrorAt(`${field}.${method}`, 'a function', clock[method]);
  }
  return value as Clock;
}
