/**
 * Header rules: explicit routes configured once, matched per call. First match wins.
 * @module
 */
import { typeErrorAt, TrafficSplitTypeError } from '../../base/errors.js';
import { oneOf, rejectUnknownKeys, requireObject, stringValue } from '../../base/validate.js';
import { LinearRegex, MAX_REGEX_STATES, PatternTooLargeError, UnsupportedPatternError } from './linear-regex.js';

/** One rule as written in options or service-config JSON. Exactly one matcher. */
export interface RouteRuleJson {
  /** Metadata key to read (lower case, not `-bin`). */
  header: string;
  /** The value equals this string. */
  equals?: string;
  /** The value starts with this string. */
  prefix?: string;
  /**
   * The value matches this JavaScript regular expression (not anchored unless you anchor it; no
   * flags). Matched in time linear in the value's length, whatever the pattern: backreferences,
   * lookarounds and word boundaries are refused, and values longer than
   * `MAX_REGEX_VALUE_LENGTH` characters never match.
   */
  regex?: string;
  /** The subset the matching calls go to, whatever its weight. */
  subset: string;
}

/** A validated rule; `subset` is the subset's index. */
export interface RouteRule {
  readonly header: string;
  readonly matches: (value: string) => boolean;
  readonly subset: number;
  readonly json: RouteRuleJson;
}

/** Metadata keys a routing option may read: ASCII, lower case, text-valued, not reserved. */
const METADATA_KEY = /^(?!grpc-)[0-9a-z_.-]+$/;

export function parseMetadataKey(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || !METADATA_KEY.test(raw) || raw.endsWith('-bin')) {
    throw typeErrorAt(field, 'a lower-case metadata key such as "x-user-id" (not "grpc-*", not "-bin")', raw);
  }
  return raw;
}

const MATCHERS = ['equals', 'prefix', 'regex'] as const;

/**
 * Longest header value a `regex` rule looks at; a longer value never matches. Matching is
 * linear, but a gateway may forward headers of any size and rules run on every call: with
 * MAX_REGEX_STATES this bounds one match to about 260,000 automaton steps.
 */
export const MAX_REGEX_VALUE_LENGTH = 1024;

function regexMatcher(value: string, field: string): (v: string) => boolean {
  let pattern: LinearRegex;
  try {
    pattern = new LinearRegex(value);
  } catch (error) {
    if (error instanceof PatternTooLargeError) {
      throw typeErrorAt(
        field,
        `a regular expression of at most ${MAX_REGEX_STATES} ` +
          `automaton states (a repeat counts its body once per copy)`,
        value,
      );
    }
    if (error instanceof UnsupportedPatternError) {
      throw typeErrorAt(
        field,
        `a regular expression without backreferences, lookarounds or word boundaries (${error.message})`,
        value,
      );
    }
    throw typeErrorAt(field, `a valid regular expression (${(error as Error).message})`, value);
  }
  return (v) => v.length <= MAX_REGEX_VALUE_LENGTH && pattern.test(v);
}

function parseRule(raw: unknown, field: string, subsetNames: readonly string[]): RouteRule {
  const obj = requireObject(raw, field, 'a rule such as {"header": "x-canary", "equals": "always", "subset": "v2"}');
  rejectUnknownKeys(obj, ['header', ...MATCHERS, 'subset'], `${field}.`);
  const header = parseMetadataKey(obj['header'], `${field}.header`);
  const given = MATCHERS.filter((m) => obj[m] !== undefined);
  if (given.length !== 1) {
    throw new TrafficSplitTypeError(
      `${field}: expected exactly one of equals, prefix, regex, ` +
        `got ${given.length === 0 ? 'none' : given.join(' and ')}`,
    );
  }
  const kind = given[0]!;
  const value = stringValue(`${field}.${kind}`, obj[kind]);
  const subset = subsetNames.indexOf(
    oneOf(`${field}.subset`, obj['subset'], subsetNames, `one of the subsets ${subsetNames.join(', ')}`),
  );
  let matches: (v: string) => boolean;
  if (kind === 'equals') matches = (v) => v === value;
  else if (kind === 'prefix') matches = (v) => v.startsWith(value);
  else matches = regexMatcher(value, `${field}.regex`);
  return Object.freeze({
    header,
    matches,
    subset,
    json: { header, [kind]: value, subset: subsetNames[subset]! } as RouteRuleJson,
  });
}

/** Validates the `rules` list. */
export function parseRules(raw: unknown, subsetNames: readonly string[]): readonly RouteRule[] {
  if (raw === undefined) return Object.freeze([]);
  if (!Array.isArray(raw)) throw typeErrorAt('rules', 'a list of rules', raw);
  return Object.freeze(raw.map((rule, i) => parseRule(rule, `rules[${i}]`, subsetNames)));
}
