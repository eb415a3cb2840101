/**
 * The matches a routing rule is made of (one on the method, any number on headers), validated
 * once and compiled to a flat list that a call is tested against without allocating.
 * @module
 */
import { typeErrorAt, TrafficSplitTypeError } from '../../base/errors.js';
import { booleanValue, rejectUnknownKeys, requireObject, stringValue } from '../../base/validate.js';
import { LinearRegex, MAX_REGEX_STATES, PatternTooLargeError, UnsupportedPatternError } from './linear-regex.js';

/** A match on the call's full method name, `/package.Service/Method`. Exactly one matcher. */
export interface MethodMatchJson {
  /** The method is this one, such as `/shop.Store/Read`. */
  equals?: string;
  /** The method starts with this, such as `/shop.Store/` (every method of the service). */
  prefix?: string;
  /** The method matches this pattern, with the limits of a header `regex`. */
  regex?: string;
  /** The rule needs the match NOT to hold. */
  invert?: boolean;
}

/** A match on one header. Exactly one matcher; `present: true` holds when the header is sent. */
export interface HeaderMatchJson {
  /** Metadata key to read (lower case, not `-bin`). */
  header: string;
  /** A value equals this string. */
  equals?: string;
  /** A value starts with this string. */
  prefix?: string;
  /** A value matches this pattern (as the short form's `regex`). */
  regex?: string;
  /** The header is sent, with any value. */
  present?: true;
  /** The rule needs the match NOT to hold (no value of the header matches). */
  invert?: boolean;
}

/** One compiled match: `header` null reads the method. */
export interface Match {
  readonly header: string | null;
  readonly test: (value: string) => boolean;
  readonly invert: boolean;
}

/** Reads a header's values from what carries them (the picker: grpc-js Metadata). */
export type ValuesOf<H> = (headers: H, key: string) => readonly unknown[] | undefined;

/** Metadata keys a routing option may read: ASCII, lower case, text-valued, not reserved. */
const METADATA_KEY = /^(?!grpc-)[0-9a-z_.-]+$/;

export function parseMetadataKey(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || !METADATA_KEY.test(raw) || raw.endsWith('-bin')) {
    throw typeErrorAt(field, 'a lower-case metadata key such as "x-user-id" (not "grpc-*", not "-bin")', raw);
  }
  return raw;
}

/**
 * Longest value (header value or method name) a `regex` match looks at; a longer one never
 * matches. Matching is linear, but a gateway may forward headers of any size and rules run on
 * every call: with MAX_REGEX_STATES this bounds one match to about 260,000 automaton steps.
 */
export const MAX_REGEX_VALUE_LENGTH = 1024;

export const VALUE_MATCHERS = ['equals', 'prefix', 'regex'] as const;
type ValueMatcher = (typeof VALUE_MATCHERS)[number];

/** The one matcher of `obj` among `kinds`, else a TypeError naming `field`. */
export function onlyMatcher<K extends string>(obj: Record<string, unknown>, kinds: readonly K[], field: string): K {
  const given = kinds.filter((m) => obj[m] !== undefined);
  if (given.length !== 1) {
    throw new TrafficSplitTypeError(
      `${field}: expected exactly one of ${kinds.join(', ')}, ` +
        `got ${given.length === 0 ? 'none' : given.join(' and ')}`,
    );
  }
  return given[0]!;
}

function regexTest(value: string, field: string): (v: string) => boolean {
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

/** The test of a value matcher, and the value as validated. */
export function valueTest(kind: ValueMatcher, raw: unknown, field: string): [(v: string) => boolean, string] {
  const value = stringValue(field, raw);
  if (kind === 'equals') return [(v) => v === value, value];
  if (kind === 'prefix') return [(v) => v.startsWith(value), value];
  return [regexTest(value, field), value];
}

function parseInvert(raw: unknown, field: string): boolean {
  return raw === undefined ? false : booleanValue(field, raw);
}

/** A full method name: one slash, the service, one slash, the method; no blanks. */
const METHOD_NAME = /^\/[^/\s]+\/[^/\s]+$/;

/** Method names a prefix or regex match remembers its answer for (the first seen, each of at
 * most MAX_REGEX_VALUE_LENGTH characters); others are tested at each call. */
export const METHOD_MEMO_SIZE = 128;

/** `test` with its answers remembered: a client calls a few methods over and over, and a Map
 * lookup costs less than a `startsWith`, far less than a regex. */
export function remembered(test: (v: string) => boolean): (v: string) => boolean {
  const answers = new Map<string, boolean>();
  return (method) => {
    const known = answers.get(method);
    if (known !== undefined) return known;
    const answer = test(method);
    if (answers.size < METHOD_MEMO_SIZE && method.length <= MAX_REGEX_VALUE_LENGTH) answers.set(method, answer);
    return answer;
  };
}

export function parseMethodMatch(raw: unknown, field: string): [Match, MethodMatchJson] {
  const obj = requireObject(raw, field, 'a method match such as {"prefix": "/shop.Store/"}');
  rejectUnknownKeys(obj, [...VALUE_MATCHERS, 'invert'], `${field}.`);
  const kind = onlyMatcher(obj, VALUE_MATCHERS, field);
  const at = `${field}.${kind}`;
  if (kind === 'equals' && (typeof obj[kind] !== 'string' || !METHOD_NAME.test(obj[kind])))
    throw typeErrorAt(at, 'a full method name such as "/shop.Store/Read"', obj[kind]);
  if (kind === 'prefix' && (typeof obj[kind] !== 'string' || !obj[kind].startsWith('/')))
    throw typeErrorAt(at, 'a method name prefix starting with "/", such as "/shop.Store/"', obj[kind]);
  const [test, value] = valueTest(kind, obj[kind], at);
  const invert = parseInvert(obj['invert'], `${field}.invert`);
  const json: MethodMatchJson = invert ? { [kind]: value, invert } : { [kind]: value };
  return [{ header: null, test: kind === 'equals' ? test : remembered(test), invert }, json];
}

const HEADER_MATCHERS = [...VALUE_MATCHERS, 'present'] as const;
const isSent = (): boolean => true;

export function parseHeaderMatch(raw: unknown, field: string): [Match, HeaderMatchJson] {
  const obj = requireObject(raw, field, 'a header match such as {"header": "x-beta", "equals": "yes"}');
  rejectUnknownKeys(obj, ['header', ...HEADER_MATCHERS, 'invert'], `${field}.`);
  const header = parseMetadataKey(obj['header'], `${field}.header`);
  const kind = onlyMatcher(obj, HEADER_MATCHERS, field);
  let test: (v: string) => boolean;
  let value: string | true;
  if (kind === 'present') {
    if (obj['present'] !== true)
      throw typeErrorAt(`${field}.present`, 'true (for an absent header, add "invert": true)', obj['present']);
    [test, value] = [isSent, true];
  } else {
    [test, value] = valueTest(kind, obj[kind], `${field}.${kind}`);
  }
  const invert = parseInvert(obj['invert'], `${field}.invert`);
  const json = { header, [kind]: value, ...(invert ? { invert } : {}) } as HeaderMatchJson;
  return [{ header, test, invert }, json];
}

/** Some string value of `values` passes `test` (none: an absent header). */
function someValue(values: readonly unknown[] | undefined, test: (v: string) => boolean): boolean {
  if (values === undefined) return false;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value === 'string' && test(value)) return true;
  }
  return false;
}

/**
 * Whether every match holds for a call. A method match never holds on the unknown method ''
 * (its inverse always does); a header match holds when some value of the header passes.
 */
export function allHold<H>(matches: readonly Match[], headers: H, method: string, valuesOf: ValuesOf<H>): boolean {
  for (let i = 0; i < matches.length; i++) {
    const match = matches[i]!;
    const held =
      match.header === null
        ? method !== '' && match.test(method)
        : someValue(valuesOf(headers, match.header), match.test);
    if (held === match.invert) return false;
  }
  return true;
}
