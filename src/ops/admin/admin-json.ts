/**
 * JSON for the admin endpoint's answers, rendered in slices and safely. `JSON.stringify` takes a
 * whole answer in one synchronous call and throws on a BigInt or a cycle; an answer that holds
 * the application's decoded messages (mirror samples with `keepBodies`) can hold both, and
 * megabytes of them. This renderer walks the value with its own stack (no recursion), stops after
 * every slice of about SLICE_CHARS characters or SLICE_VALUES values so its caller can yield to
 * the event loop, and never throws: what JSON cannot say, it says as a string.
 *
 * For plain JSON data the text is `JSON.stringify(value, null, 2)`'s, character for character.
 * @module
 */

/** A slice ends once it holds this many characters (plus at most one piece, see MAX_PIECE_CHARS). */
export const SLICE_CHARS = 16 * 1024;
/** ...or once it visited this many values, so that values that print little (omitted keys,
 * holes) cannot make a slice long either. */
export const SLICE_VALUES = 1024;
/** Longest string shown; longer ones are cut and marked `…[truncated, N chars]`. */
export const MAX_STRING_CHARS = 8 * 1024;
/** Longest object key shown (cut and marked the same way). */
export const MAX_KEY_CHARS = 256;
/** Bytes of a binary value (Buffer, typed array, ArrayBuffer) shown in base64, outside a capped subtree. */
export const MAX_BINARY_BYTES = 4 * 1024;
/** Deepest nesting shown; deeper values show as `"[too deep]"`. */
export const MAX_DEPTH = 64;
/** The most one member can add to a slice past SLICE_CHARS: its indentation, its key and its
 * value, each string escaped (up to 6 characters per character) with its cut marker. A slice is
 * at most SLICE_CHARS + MAX_PIECE_CHARS characters. */
export const MAX_PIECE_CHARS = 2 * MAX_DEPTH + 6 * (MAX_KEY_CHARS + 64) + 6 * (MAX_STRING_CHARS + 64) + 16;

/**
 * A value rendered within about `maxChars` characters of JSON: once they are spent, the rest of
 * each array shows as `"[truncated: N more items]"` and of each object as a
 * `"[truncated]": "N more keys"` member (the brackets that are open still close). Inside it, the
 * value is the application's: no `toJSON()` of it is called (its cost and result are unknown).
 */
export class CappedValue {
  constructor(
    readonly value: unknown,
    readonly maxChars: number,
    /** Bytes of each binary value shown in base64. */
    readonly maxBinaryBytes: number,
  ) {}
}

/** The characters a capped subtree has left. */
interface Budget {
  left: number;
  readonly maxBinaryBytes: number;
}

interface Frame {
  readonly kind: 'array' | 'object' | 'entries';
  readonly source: object;
  /** The object's keys (objects only). */
  readonly keys: string[] | null;
  /** Keys or items to visit (0 for Map and Set, read through `iterator`). */
  readonly length: number;
  /** Map and Set contents, as arrays of `[key, value]` pairs or of values. */
  readonly iterator: Iterator<unknown> | null;
  index: number;
  /** Members written so far. */
  written: number;
  /** Indentation level of the members. */
  readonly depth: number;
  readonly budget: Budget | null;
}

const INDENTS: string[] = [];
const BIGINT_LIMIT = 1n << 1024n;

function indent(depth: number): string {
  return (INDENTS[depth] ??= '  '.repeat(depth));
}

/**
 * Renders `value` as pretty JSON, one slice per `next()` call (null once done). Odd values:
 * BigInt as a decimal string; Buffers, typed arrays and ArrayBuffers as `{ base64, bytes,
 * truncated }` (the first MAX_BINARY_BYTES, or the capped subtree's `maxBinaryBytes`); Map as an
 * array of `[key, value]` pairs, Set as an array; Date as its ISO string; a cycle as
 * `"[circular]"`; a property whose getter throws, or a proxy that refuses, as `"[unreadable]"`;
 * functions and symbols as JSON does (left out, or null in arrays).
 */
export class JsonSlicer {
  private readonly stack: Frame[] = [];
  /** Objects being rendered, to tell a cycle from a value shared by two branches. */
  private readonly ancestors = new Set<object>();
  private out: string[] = [];
  private sliceChars = 0;
  private sliceValues = 0;
  private started = false;

  constructor(private readonly root: unknown) {}

  /** True once the last slice is out. */
  get done(): boolean {
    return this.started && this.stack.length === 0;
  }

  /** The next slice of the text, or null once it is all out. */
  next(): string | null {
    if (this.done) return null;
    this.out = [];
    this.sliceChars = 0;
    this.sliceValues = 0;
    if (!this.started) {
      this.started = true;
      this.value(this.root, 0, null);
    }
    while (this.stack.length > 0 && this.sliceChars < SLICE_CHARS && this.sliceValues < SLICE_VALUES)
      this.advance(this.stack.at(-1)!);
    return this.out.join('');
  }

  private emit(text: string, budget: Budget | null): void {
    this.out.push(text);
    this.sliceChars += text.length;
    if (budget !== null) budget.left -= text.length;
  }

  /** Writes the next member of `frame`, or closes it. */
  private advance(frame: Frame): void {
    this.sliceValues++;
    const budget = frame.budget;
    let item: { key: string | null; value: unknown } | null;
    try {
      item = this.nextMember(frame);
    } catch {
      // An array proxy's trap moved on to the next index; an iterator that throws may throw
      // forever, so its container ends here.
      item = frame.kind === 'entries' ? null : { key: null, value: '[unreadable]' };
    }
    if (item === null) return this.close(frame);
    if (frame.kind === 'object' && isOmitted(item.value)) return;
    if (budget !== null && budget.left <= 0) return this.truncate(frame);
    const key = item.key === null ? '' : `${JSON.stringify(cut(item.key, MAX_KEY_CHARS))}: `;
    this.emit(`${frame.written++ === 0 ? '\n' : ',\n'}${indent(frame.depth)}${key}`, budget);
    this.value(item.value, frame.depth, budget);
  }

  private nextMember(frame: Frame): { key: string | null; value: unknown } | null {
    if (frame.kind === 'entries') {
      const step = frame.iterator!.next();
      return step.done === true ? null : { key: null, value: step.value };
    }
    if (frame.index >= frame.length) return null;
    const index = frame.index++;
    if (frame.kind === 'array') return { key: null, value: (frame.source as unknown[])[index] };
    const key = frame.keys![index]!;
    let value: unknown;
    try {
      value = (frame.source as Record<string, unknown>)[key];
    } catch {
      value = '[unreadable]';
    }
    return { key, value };
  }

  /** Ends a frame whose budget is spent, saying how much was left out. */
  private truncate(frame: Frame): void {
    const left = frame.kind === 'entries' ? 'more' : `${frame.length - frame.index + 1} more`;
    const marker = frame.kind === 'object' ? `"[truncated]": "${left} keys"` : `"[truncated: ${left} items]"`;
    this.emit(`${frame.written++ === 0 ? '\n' : ',\n'}${indent(frame.depth)}${marker}`, frame.budget);
    this.close(frame);
  }

  private close(frame: Frame): void {
    this.stack.pop();
    this.ancestors.delete(frame.source);
    const bracket = frame.kind === 'object' ? '}' : ']';
    this.emit(frame.written === 0 ? bracket : `\n${indent(frame.depth - 1)}${bracket}`, frame.budget);
  }

  /** Writes `value` at indentation `depth` (its members go one deeper). */
  private value(raw: unknown, depth: number, outer: Budget | null): void {
    let value = raw;
    let budget = outer;
    if (value instanceof CappedValue) {
      budget ??= { left: value.maxChars, maxBinaryBytes: value.maxBinaryBytes };
      value = value.value;
    }
    try {
      // As JSON.stringify, outside capped subtrees (there the value is the application's).
      // Not for binaries: a Buffer's toJSON() is an array of numbers, one line each.
      if (
        budget === null &&
        typeof value === 'object' &&
        value !== null &&
        binaryView(value) === null &&
        typeof (value as { toJSON?: unknown }).toJSON === 'function'
      ) {
        value = (value as { toJSON(key: string): unknown }).toJSON('');
      }
      if (isOmitted(value)) return this.emit('null', budget);
      const scalar = scalarJson(value, budget);
      if (scalar !== null) return this.emit(scalar, budget);
      this.container(value as object, depth, budget);
    } catch {
      this.emit('"[unreadable]"', budget);
    }
  }

  private container(value: object, depth: number, budget: Budget | null): void {
    if (this.ancestors.has(value)) return this.emit('"[circular]"', budget);
    if (depth >= MAX_DEPTH) return this.emit('"[too deep]"', budget);
    const binary = binaryView(value);
    if (binary !== null) return this.emit(binaryJson(binary, depth, budget), budget);
    const frame = (
      kind: Frame['kind'],
      keys: string[] | null,
      length: number,
      iterator: Iterator<unknown> | null,
    ): Frame => ({ kind, source: value, keys, length, iterator, index: 0, written: 0, depth: depth + 1, budget });
    let opened: Frame;
    if (value instanceof Map) opened = frame('entries', null, 0, mapPairs(value));
    else if (value instanceof Set) opened = frame('entries', null, 0, Set.prototype.values.call(value));
    else if (Array.isArray(value)) opened = frame('array', null, value.length, null);
    else {
      const keys = Object.keys(value);
      opened = frame('object', keys, keys.length, null);
    }
    this.ancestors.add(value);
    this.stack.push(opened);
    this.emit(opened.kind === 'object' ? '{' : '[', budget);
  }
}

/** What JSON leaves out of an object and shows as null in an array. */
function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/** The JSON of a value that is not a container, or null when it is one. */
function scalarJson(value: unknown, budget: Budget | null): string | null {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(
        cut(value, budget === null ? MAX_STRING_CHARS : Math.min(MAX_STRING_CHARS, Math.max(0, budget.left - 2))),
      );
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return String(value);
    case 'bigint':
      // An int64 of a protobuf runtime fits easily; a BigInt of millions of digits would take
      // seconds to print in decimal.
      return value < BIGINT_LIMIT && value > -BIGINT_LIMIT ? `"${value}"` : '"[bigint beyond 1024 bits]"';
    default:
  }
  if (value === null) return 'null';
  if (value instanceof Date)
    return Number.isNaN(Date.prototype.getTime.call(value)) ? 'null' : `"${Date.prototype.toISOString.call(value)}"`;
  // Boxed primitives print as their value, as JSON.stringify does.
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt)
    return scalarJson(value.valueOf(), budget);
  return null;
}

/** `text`, or its first `max` characters marked as cut. */
function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…[truncated, ${text.length} chars]`;
}

function binaryView(value: object): Uint8Array | null {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer))
    return new Uint8Array(value);
  return null;
}

/** `{ base64, bytes, truncated }`: the first bytes in base64, and the full size. */
function binaryJson(bytes: Uint8Array, depth: number, budget: Budget | null): string {
  const max =
    budget === null
      ? MAX_BINARY_BYTES
      : Math.min(budget.maxBinaryBytes, Math.floor((Math.max(0, budget.left - 80) * 3) / 4));
  const shown = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(max, bytes.byteLength)).toString('base64');
  const inner = indent(depth + 1);
  return `{\n${inner}"base64": "${shown}",\n${inner}"bytes": ${bytes.byteLength},\n${inner}"truncated": ${bytes.byteLength > max}\n${indent(depth)}}`;
}

/** A Map's entries as `[key, value]` arrays, from Map.prototype (a subclass's override is the
 * application's code). */
function mapPairs(map: Map<unknown, unknown>): Iterator<unknown> {
  return Map.prototype.entries.call(map);
}
