/**
 * Routing rules: explicit routes configured once, matched per call. A rule holds when all its
 * matches hold (the method, headers); the first rule that holds wins.
 * @module
 */
import { typeErrorAt, TrafficSplitTypeError } from '../../base/errors.js';
import { oneOf, rejectUnknownKeys, requireObject } from '../../base/validate.js';
import {
  allHold,
  onlyMatcher,
  parseHeaderMatch,
  parseMetadataKey,
  parseMethodMatch,
  VALUE_MATCHERS,
  valueTest,
  type HeaderMatchJson,
  type Match,
  type MethodMatchJson,
  type ValuesOf,
} from './rule-matches.js';

export { MAX_REGEX_VALUE_LENGTH, parseMetadataKey } from './rule-matches.js';
export type { HeaderMatchJson, MethodMatchJson, ValuesOf } from './rule-matches.js';

/**
 * One rule as written in options or service-config JSON: at least one match, all of which must
 * hold. `header` with one of `equals`, `prefix`, `regex` is the single-header form (a header
 * match written inline); it may be combined with `method` and `headers`.
 */
export interface RouteRuleJson {
  /** A match on the call's full method name. */
  method?: MethodMatchJson;
  /** Header matches, every one of which must hold. */
  headers?: HeaderMatchJson[];
  /** Metadata key to read (lower case, not `-bin`). */
  header?: string;
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
  readonly subset: number;
  readonly json: RouteRuleJson;
  /** Every match holds for a call with these headers (read by `valuesOf`) and this method ('' if unknown). */
  test<H>(headers: H, method: string, valuesOf: ValuesOf<H>): boolean;
}

const RULE_KEYS = ['method', 'headers', 'header', ...VALUE_MATCHERS, 'subset'];

/** The single-header form's match, or null when the rule does not use it. */
function inlineHeaderMatch(obj: Record<string, unknown>, field: string): [Match, Partial<RouteRuleJson>] | null {
  if (obj['header'] === undefined && VALUE_MATCHERS.every((m) => obj[m] === undefined)) return null;
  const header = parseMetadataKey(obj['header'], `${field}.header`);
  const kind = onlyMatcher(obj, VALUE_MATCHERS, field);
  const [test, value] = valueTest(kind, obj[kind], `${field}.${kind}`);
  return [
    { header, test, invert: false },
    { header, [kind]: value },
  ];
}

function headerMatches(raw: unknown, field: string): [Match, HeaderMatchJson][] {
  if (!Array.isArray(raw) || raw.length === 0)
    throw typeErrorAt(
      field,
      'a non-empty list of header matches such as [{"header": "x-beta", "equals": "yes"}]',
      raw,
    );
  return raw.map((match, i) => parseHeaderMatch(match, `${field}[${i}]`));
}

function parseRule(raw: unknown, field: string, subsetNames: readonly string[]): RouteRule {
  const obj = requireObject(raw, field, 'a rule such as {"header": "x-canary", "equals": "always", "subset": "v2"}');
  rejectUnknownKeys(obj, RULE_KEYS, `${field}.`);
  const method = obj['method'] === undefined ? null : parseMethodMatch(obj['method'], `${field}.method`);
  const inline = inlineHeaderMatch(obj, field);
  const headers = obj['headers'] === undefined ? [] : headerMatches(obj['headers'], `${field}.headers`);
  // The method first: it rules out the calls of other methods before any header is read.
  const matches: Match[] = [];
  if (method !== null) matches.push(method[0]);
  if (inline !== null) matches.push(inline[0]);
  for (const [match] of headers) matches.push(match);
  if (matches.length === 0)
    throw new TrafficSplitTypeError(`${field}: expected at least one match (method, headers, or header), got none`);
  const subset = subsetNames.indexOf(
    oneOf(`${field}.subset`, obj['subset'], subsetNames, `one of the subsets ${subsetNames.join(', ')}`),
  );
  const json: RouteRuleJson = {
    ...(method === null ? {} : { method: method[1] }),
    ...(headers.length === 0 ? {} : { headers: headers.map(([, j]) => j) }),
    ...inline?.[1],
    subset: subsetNames[subset]!,
  };
  const all = Object.freeze(matches);
  return Object.freeze({
    subset,
    json,
    test: <H>(headers: H, methodName: string, valuesOf: ValuesOf<H>) => allHold(all, headers, methodName, valuesOf),
  });
}

/** Validates the `rules` list. */
export function parseRules(raw: unknown, subsetNames: readonly string[]): readonly RouteRule[] {
  if (raw === undefined) return Object.freeze([]);
  if (!Array.isArray(raw)) throw typeErrorAt('rules', 'a list of rules', raw);
  return Object.freeze(raw.map((rule, i) => parseRule(rule, `rules[${i}]`, subsetNames)));
}
