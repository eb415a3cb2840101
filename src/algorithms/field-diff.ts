/**
 * Where two decoded messages differ, as field paths (`quote.price`, `items[].sku`): the
 * per-field part of the mirror's three-way comparison. Pure (no gRPC, no clock), bounded and
 * total: the walk stops at limits of depth, array items, nodes and paths, and never throws,
 * whatever a decoder returned (BigInt, Buffer and typed arrays, Long-like `{ low, high,
 * unsigned }` objects, Dates, Maps, Sets, cycles, proxies and getters that throw).
 *
 * Path syntax: keys joined by `.`; a key that is not an identifier in brackets, JSON-quoted
 * (`labels["app.kubernetes.io/name"]`, cut to 64 characters); every item of an array (or value
 * of a Map) under one path, `items[]`, so that a field's counts do not scatter over indices; the
 * root itself `(root)`. A difference of kind (an object against a number), of array length, of
 * Map or Set contents, or of a leaf value is reported at the node's own path.
 * @module
 */

/** Bounds of one walk. */
export interface FieldDiffLimits {
  /** Deepest level walked (the root is level 0). A pair of distinct objects below it is not
   * walked: `truncated`. */
  maxDepth: number;
  /** Items of an array, and entries of a Map or Set, walked; further ones are not: `truncated`. */
  maxArrayItems: number;
  /** Pairs of values visited in all; the walk stops there: `truncated`. */
  maxNodes: number;
  /** Distinct paths reported; the walk stops at the next one: `truncated`. */
  maxPaths: number;
}

/** The limits the mirror uses: a walk of two decoded answers costs at most about a millisecond. */
export const DEFAULT_FIELD_DIFF_LIMITS: Readonly<FieldDiffLimits> = Object.freeze({
  maxDepth: 32,
  maxArrayItems: 1000,
  maxNodes: 20_000,
  maxPaths: 256,
});

/** The path of the root value itself. */
export const ROOT_PATH = '(root)';

/** What differs between two values. */
export interface FieldDiff {
  /** Paths where the values differ, each once, in the order the walk met them. */
  paths: string[];
  /** A limit stopped part of the walk: a difference there is not in `paths`. */
  truncated: boolean;
}

/** What a read that threw is replaced with: equal only to itself. */
const UNREADABLE = Symbol('unreadable');
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const MAX_KEY_CHARS = 64;

/** Where `a` and `b` differ, field by field. Never throws. */
export function diffFields(a: unknown, b: unknown, limits: FieldDiffLimits = DEFAULT_FIELD_DIFF_LIMITS): FieldDiff {
  const walk = new Walk(limits);
  walk.node(a, b, 0);
  return { paths: [...walk.found], truncated: walk.truncated };
}

/** The segment a key adds to a path. */
function keySegment(key: string): string {
  if (IDENTIFIER.test(key)) return `.${key}`;
  const cut = key.length <= MAX_KEY_CHARS ? key : `${key.slice(0, MAX_KEY_CHARS - 3)}...`;
  return `[${JSON.stringify(cut)}]`;
}

function read(target: object, key: PropertyKey): unknown {
  try {
    return (target as Record<PropertyKey, unknown>)[key];
  } catch {
    return UNREADABLE;
  }
}

/** Leaves the walk does not descend into, compared whole. */
function leafEquals(a: unknown, b: unknown): boolean | undefined {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // NaN equals NaN here: the same computation on both sides is not a difference.
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b))
    return ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && bytesOf(a).equals(bytesOf(b));
  if (a instanceof ArrayBuffer || b instanceof ArrayBuffer)
    return a instanceof ArrayBuffer && b instanceof ArrayBuffer && Buffer.from(a).equals(Buffer.from(b));
  if (a instanceof Date || b instanceof Date)
    return a instanceof Date && b instanceof Date && leafEquals(a.getTime(), b.getTime());
  if (isBoxed(a) || isBoxed(b)) return isBoxed(a) && isBoxed(b) && leafEquals(a.valueOf(), b.valueOf());
  const longA = longParts(a);
  const longB = longParts(b);
  if (longA !== null || longB !== null) return longA !== null && longB !== null && longA === longB;
  return undefined; // a container: walked
}

function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

// eslint-disable-next-line @typescript-eslint/no-wrapper-object-types -- boxed primitives are what it detects
function isBoxed(value: object): value is Number | String | Boolean {
  return value instanceof Number || value instanceof String || value instanceof Boolean;
}

/** A Long (long.js, as protobufjs and @grpc/proto-loader give int64 fields) as one comparable
 * string, or null for any other object. */
function longParts(value: object): string | null {
  const low = read(value, 'low');
  const high = read(value, 'high');
  const unsigned = read(value, 'unsigned');
  if (typeof low !== 'number' || typeof high !== 'number' || typeof unsigned !== 'boolean') return null;
  return `${low}:${high}:${unsigned}`;
}

class Walk {
  readonly found = new Set<string>();
  truncated = false;
  private nodes = 0;
  private stopped = false;
  /** Segments from the root to the node being walked. */
  private readonly segments: string[] = [];
  /** The objects from the root to the node being walked, on each side (cycles). */
  private readonly ancestorsA: object[] = [];
  private readonly ancestorsB: object[] = [];

  constructor(private readonly limits: FieldDiffLimits) {}

  node(a: unknown, b: unknown, depth: number): void {
    if (this.stopped) return;
    if (++this.nodes > this.limits.maxNodes) return this.stop();
    const level = this.segments.length;
    try {
      const leaf = leafEquals(a, b);
      if (leaf !== undefined) {
        if (!leaf) this.record();
        return;
      }
      this.container(a as object, b as object, depth);
    } catch {
      // A proxy or an exotic object that throws where the walk looks: not comparable, so not
      // equal (the two answers' bytes already differ, or the walk would not be here).
      this.segments.length = level;
      this.record();
    }
  }

  private container(a: object, b: object, depth: number): void {
    const cycleA = this.ancestorsA.indexOf(a);
    const cycleB = this.ancestorsB.indexOf(b);
    if (cycleA !== -1 || cycleB !== -1) {
      // Back to an ancestor: equal when both sides go back to the same level.
      if (cycleA !== cycleB) this.record();
      return;
    }
    if (depth >= this.limits.maxDepth) {
      this.truncated = true;
      return;
    }
    const kindA = kindOf(a);
    if (kindA !== kindOf(b)) return this.record();
    this.ancestorsA.push(a);
    this.ancestorsB.push(b);
    try {
      if (kindA === 'array') this.arrays(a as unknown[], b as unknown[], depth);
      else if (kindA === 'map') this.maps(a as Map<unknown, unknown>, b as Map<unknown, unknown>, depth);
      else if (kindA === 'set') this.sets(a as Set<unknown>, b as Set<unknown>);
      else this.objects(a, b, depth);
    } finally {
      this.ancestorsA.pop();
      this.ancestorsB.pop();
    }
  }

  private arrays(a: unknown[], b: unknown[], depth: number): void {
    if (a.length !== b.length) this.record();
    const common = Math.min(a.length, b.length);
    const walked = Math.min(common, this.limits.maxArrayItems);
    if (walked < common) this.truncated = true;
    this.segments.push('[]');
    for (let i = 0; i < walked && !this.stopped; i++) this.node(read(a, i), read(b, i), depth + 1);
    this.segments.pop();
  }

  private maps(a: Map<unknown, unknown>, b: Map<unknown, unknown>, depth: number): void {
    if (a.size !== b.size) this.record();
    this.segments.push('[]');
    let walked = 0;
    for (const [key, value] of a) {
      if (this.stopped) break;
      if (++walked > this.limits.maxArrayItems) {
        this.truncated = true;
        break;
      }
      // A key only one side has: its value against nothing.
      this.node(value, b.has(key) ? b.get(key) : UNREADABLE, depth + 1);
    }
    this.segments.pop();
  }

  private sets(a: Set<unknown>, b: Set<unknown>): void {
    if (a.size !== b.size) return this.record();
    let walked = 0;
    for (const item of a) {
      if (++walked > this.limits.maxArrayItems) {
        this.truncated = true;
        return;
      }
      if (!b.has(item)) return this.record();
    }
  }

  private objects(a: object, b: object, depth: number): void {
    const keysA = Object.keys(a);
    const keysB = Object.keys(b);
    const ownA = new Set(keysA);
    for (const key of keysA) {
      if (this.stopped) return;
      this.child(key, read(a, key), read(b, key), depth);
    }
    for (const key of keysB) {
      if (this.stopped) return;
      // Read through the prototype on the other side too: a decoder may keep defaults there.
      if (!ownA.has(key)) this.child(key, read(a, key), read(b, key), depth);
    }
  }

  private child(key: string, a: unknown, b: unknown, depth: number): void {
    this.segments.push(keySegment(key));
    this.node(a, b, depth + 1);
    this.segments.pop();
  }

  private record(): void {
    const path = this.path();
    if (this.found.has(path)) return;
    if (this.found.size >= this.limits.maxPaths) return this.stop();
    this.found.add(path);
  }

  private path(): string {
    if (this.segments.length === 0) return ROOT_PATH;
    const joined = this.segments.join('');
    return joined.startsWith('.') ? joined.slice(1) : joined;
  }

  private stop(): void {
    this.truncated = true;
    this.stopped = true;
  }
}

type Kind = 'array' | 'map' | 'set' | 'object';

function kindOf(value: object): Kind {
  if (Array.isArray(value)) return 'array';
  if (value instanceof Map) return 'map';
  if (value instanceof Set) return 'set';
  return 'object';
}
