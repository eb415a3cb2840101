/** Small validation helpers shared by the config parsers. @internal @module */
import { describeValue, keyForPath, typeErrorAt, TrafficSplitTypeError } from './errors.js';

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

