/**
 * Per-method weights: validation and their public form. An override maps a full method name
 * (`/pkg.Service/Method`) or a service prefix (`/pkg.Service/`) to weights of the same shape and
 * bounds as the split's; the longest matching key applies to a call (method-lookup.ts).
 * @module
 */
import { TrafficSplitRangeError, typeErrorAt } from '../../base/errors.js';
import { requireObject } from '../../base/validate.js';
import { MAX_METHOD_KEY_LENGTH, METHOD_NAME, SERVICE_PREFIX } from '../../algorithms/routing/method-lookup.js';
import { validateWeights, weightsToRecord } from '../balancer/config.js';

/** `methodWeights` as given: method name or service prefix to weights (null removes, where allowed). */
export type MethodWeightsInput = Record<string, Record<string, number> | null>;

/** Overrides a split holds at most: each is a schedule of its own on every channel. */
export const MAX_METHOD_OVERRIDES = 1_000;

/** Validates one key: a full method name or a service prefix. */
export function parseMethodKey(key: string, field: string): string {
  if (key.length > MAX_METHOD_KEY_LENGTH || !(METHOD_NAME.test(key) || SERVICE_PREFIX.test(key))) {
    throw typeErrorAt(
      field,
      `a full method name such as "/pkg.Service/Method" or a service prefix such as "/pkg.Service/" ` +
        `(at most ${MAX_METHOD_KEY_LENGTH} characters)`,
      key,
    );
  }
  return key;
}

/**
 * Validates a whole `methodWeights` object, every entry, before anything is applied. With
 * `allowRemoval`, a null value removes that override. Returns key to weights (null: remove).
 */
export function parseMethodWeights(
  subsetNames: readonly string[],
  raw: unknown,
  field: string,
  allowRemoval: boolean,
): Map<string, number[] | null> {
  const expectation =
    'an object mapping method names ("/pkg.Service/Method") or service prefixes ("/pkg.Service/") to weights';
  const obj = requireObject(raw, field, expectation);
  // A Map keeps its entries out of its own keys: read as {}, it would remove every override.
  const prototype = Object.getPrototypeOf(obj);
  if (prototype !== Object.prototype && prototype !== null)
    throw typeErrorAt(field, `${expectation} (a plain object, not ${Object.prototype.toString.call(raw)})`, raw);
  const keys = Object.keys(obj);
  // Removals do not count: a whole set replacing another removes up to as many as it adds.
  const removals = allowRemoval ? keys.filter((key) => obj[key] === null).length : 0;
  for (const [count, what] of [
    [keys.length - removals, 'overrides'],
    [removals, 'removals'],
  ] as const) {
    if (count > MAX_METHOD_OVERRIDES)
      throw new TrafficSplitRangeError(`${field}: at most ${MAX_METHOD_OVERRIDES} ${what}, got ${count}`);
  }
  const parsed = new Map<string, number[] | null>();
  for (const key of keys) {
    const at = `${field}[${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}...` : key)}]`;
    parseMethodKey(key, at);
    const value = obj[key];
    if (value === null && allowRemoval) parsed.set(key, null);
    else parsed.set(key, validateWeights(subsetNames, value, at));
  }
  return parsed;
}

/** Refuses a change that would leave more than MAX_METHOD_OVERRIDES overrides in force. */
export function checkOverridesInForce(count: number, field: string): void {
  if (count > MAX_METHOD_OVERRIDES) {
    throw new TrafficSplitRangeError(
      `${field}: at most ${MAX_METHOD_OVERRIDES} overrides in force, got ${count} with this change`,
    );
  }
}

/** The overrides in force as plain records, keys sorted. */
export function methodWeightsToRecord(
  subsetNames: readonly string[],
  overrides: ReadonlyMap<string, readonly number[]>,
): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const key of [...overrides.keys()].sort()) out[key] = weightsToRecord(subsetNames, overrides.get(key)!);
  return out;
}
