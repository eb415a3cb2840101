/**
 * The bound on the methods a split's per-method figures name, and its option. Declared methods
 * are always named; other methods are named in the order first seen until `limit` of them are;
 * every further method counts as `other`, as gRFC A66 does for unregistered methods, so a
 * client calling any number of method names (a generic client) keeps at most
 * declared + limit + 2 names. Calls whose method the split never saw count as `unknown`.
 * @module
 */
import { rangeErrorAt, typeErrorAt } from '../base/errors.js';
import { integerIn, rejectUnknownKeys, requireObject } from '../base/validate.js';

/** Where methods past the bound are counted (and names that are not method names). */
export const OTHER_METHOD = 'other';
/** Where calls without a known method are counted (clients built without the split's options). */
export const UNKNOWN_METHOD = 'unknown';
/** How many undeclared methods are named, by default. */
export const DEFAULT_METHOD_LIMIT = 100;
/** The largest `limit`, and the most declared methods. */
export const MAX_METHODS = 10_000;
/** Longer method names count as `other`. */
export const MAX_METHOD_NAME_LENGTH = 256;

/** `/package.Service/Method`: two parts of printable ASCII without spaces or `/`. */
const METHOD_NAME = /^\/[!-.0-~]+\/[!-.0-~]+$/;

/** Whether `name` can be named in the figures (else it counts as `other`). */
export function isMethodName(name: string): boolean {
  return name.length <= MAX_METHOD_NAME_LENGTH && METHOD_NAME.test(name);
}

/**
 * Option `methodFigures` of a split: which methods its `stats()` and metrics name.
 * @example { services: [shopService], limit: 20 }
 */
export interface MethodFiguresOptions {
  /** Full method names (`/package.Service/Method`) always named, whatever the limit. */
  methods?: readonly string[];
  /** Service definitions (`grpc.ServiceDefinition`) whose methods (`path`) are always named. */
  services?: readonly Readonly<Record<string, { readonly path: string }>>[];
  /** How many other methods are named, in the order first seen. @default 100 */
  limit?: number;
}

/** The option parsed: declared methods, without duplicates, and the limit. */
export interface MethodFiguresSettings {
  readonly methods: readonly string[];
  readonly limit: number;
}

const DESCRIBED = `a full method name /package.Service/Method of printable ASCII, at most ${MAX_METHOD_NAME_LENGTH} characters`;

/**
 * The settings of `raw` (`methodFigures`), or null when per-method figures are off: `false`, or
 * a limit of 0 with no declared method (nothing could be named).
 * @throws TypeError/RangeError naming the field and value.
 */
export function parseMethodFigures(raw: unknown): MethodFiguresSettings | null {
  if (raw === false) return null;
  if (raw === undefined) return Object.freeze({ methods: Object.freeze([]), limit: DEFAULT_METHOD_LIMIT });
  const field = 'methodFigures';
  const obj = requireObject(raw, field, 'false or an object { methods?, services?, limit? }');
  rejectUnknownKeys(obj, ['methods', 'services', 'limit'], `${field}.`);
  const limit =
    obj['limit'] === undefined ? DEFAULT_METHOD_LIMIT : integerIn(`${field}.limit`, obj['limit'], 0, MAX_METHODS);
  const declared = new Set<string>();
  for (const [i, name] of arrayAt(`${field}.methods`, obj['methods']).entries())
    declared.add(methodName(`${field}.methods[${i}]`, name));
  for (const [i, service] of arrayAt(`${field}.services`, obj['services']).entries()) {
    const at = `${field}.services[${i}]`;
    const methods = requireObject(service, at, 'a service definition (grpc.ServiceDefinition)');
    for (const [key, method] of Object.entries(methods)) {
      const definition = requireObject(method, `${at}.${key}`, 'a method definition with a path');
      declared.add(methodName(`${at}.${key}.path`, definition['path']));
    }
  }
  if (declared.size > MAX_METHODS)
    throw rangeErrorAt(`${field}.methods`, `at most ${MAX_METHODS} declared methods`, declared.size);
  if (limit === 0 && declared.size === 0) return null;
  return Object.freeze({ methods: Object.freeze([...declared]), limit });
}

function arrayAt(field: string, value: unknown): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw typeErrorAt(field, 'an array', value);
  return value;
}

function methodName(field: string, value: unknown): string {
  if (typeof value !== 'string') throw typeErrorAt(field, DESCRIBED, value);
  if (!isMethodName(value)) throw rangeErrorAt(field, DESCRIBED, value);
  return value;
}

/**
 * The names of a split's per-method figures, each with a slot that is never reassigned, so
 * counts kept by slot and copies of them stay comparable. Slots are assigned as names are
 * first used: declared methods at once, `unknown` and `other` when first counted.
 */
export class MethodNames {
  /** Names by slot. */
  readonly names: string[] = [];
  private readonly slots = new Map<string, number>();
  /** Undeclared methods named so far. */
  private seen = 0;
  private unknownSlot = -1;
  private otherSlot = -1;

  constructor(
    declared: readonly string[],
    readonly limit: number,
  ) {
    for (const name of declared) if (!this.slots.has(name)) this.slots.set(name, this.add(name));
  }

  /** The most slots there can ever be. */
  get maxSlots(): number {
    return this.slots.size - this.seen + this.limit + 2;
  }

  /** The slot of method `method` ('' when unknown), named now if the bound allows. */
  slotOf(method: string): number {
    if (method === '') return this.unknownSlot >= 0 ? this.unknownSlot : (this.unknownSlot = this.add(UNKNOWN_METHOD));
    const slot = this.slots.get(method);
    if (slot !== undefined) return slot;
    if (this.seen < this.limit && isMethodName(method)) {
      this.seen++;
      const named = this.add(method);
      this.slots.set(method, named);
      return named;
    }
    return this.otherSlot >= 0 ? this.otherSlot : (this.otherSlot = this.add(OTHER_METHOD));
  }

  private add(name: string): number {
    return this.names.push(name) - 1;
  }
}
