/**
 * Envoy's `POST /runtime_modify?<key>=<value>&...` for split weights: with Envoy's
 * `weighted_clusters.runtime_key_prefix`, the weight of cluster `c` lives at the runtime key
 * `<prefix>.c`; here the same keys name subsets. Pure: the caller applies the result.
 * @module
 */
import { MAX_WEIGHT } from '../../base/constants.js';
import { describeValue, rangeErrorAt, typeErrorAt, TrafficSplitTypeError } from '../../base/errors.js';

/** Envoy's usual prefix for weighted-cluster runtime keys, used by default. */
export const DEFAULT_RUNTIME_PREFIX = 'routing.traffic_split';

/** Plain decimal numbers only: `30`, `12.5`. No signs, exponents, hex or spaces. */
const WEIGHT_TEXT = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * The complete weights after applying the runtime keys in `query` to `current`: subsets not
 * named keep their weight. Every key and value is checked before anything is returned, so a
 * request with one bad parameter changes nothing. (Whether the result has a weight > 0 is
 * left to `setWeights()`, which checks it.)
 * @example
 * const query = new URLSearchParams('routing.traffic_split.v2=30');
 * weightsFromRuntimeQuery(query, 'routing.traffic_split', { v1: 100, v2: 0 });
 * // { v1: 100, v2: 30 }
 */
export function weightsFromRuntimeQuery(
  query: URLSearchParams,
  prefix: string,
  current: Readonly<Record<string, number>>,
): Record<string, number> {
  const names = Object.keys(current);
  const keys = names.map((name) => `${prefix}.${name}`);
  const entries = [...query.entries()];
  if (entries.length === 0)
    throw typeErrorAt('query', `at least one parameter such as ${keys[0]}=<weight>`, query.toString());
  const weights = { ...current };
  const seen = new Set<string>();
  for (const [key, value] of entries) {
    const subset = key.startsWith(`${prefix}.`) ? key.slice(prefix.length + 1) : null;
    if (subset === null || !names.includes(subset)) {
      throw new TrafficSplitTypeError(
        `${key}: unknown runtime key (keys: ${keys.join(', ')}), got ${describeValue(value)}`,
      );
    }
    // Twice the same key has no clear meaning (Envoy would keep the last); refuse rather than guess.
    if (seen.has(key)) throw typeErrorAt(key, 'one value (the key appears twice)', value);
    seen.add(key);
    const expectation = `a decimal weight from 0 to ${MAX_WEIGHT}, such as 30`;
    if (!WEIGHT_TEXT.test(value)) throw typeErrorAt(key, expectation, value);
    const weight = Number(value);
    if (weight > MAX_WEIGHT) throw rangeErrorAt(key, expectation, value);
    weights[subset] = weight;
  }
  return weights;
}
