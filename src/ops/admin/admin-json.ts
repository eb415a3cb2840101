/**
 * JSON for the admin endpoint's answers, rendered in slices and safely. `JSON.stringify` takes a
 * whole answer in one synchronous call and throws on a BigInt or a cycle; an answer that holds
 * the application's decoded messages (mirror samples with `keepBodies`) can hold both, and
 * megabytes of them. This renderer walks the value with its own stack (no recursion), stops after
 * every slice of about SLICE_BYTES bytes or SLICE_VALUES values so its caller can yield to the
 * event loop, writes each slice's bytes straight into a Buffer (admin-json-bytes.ts), and never
 * throws: what JSON cannot say, it says as a string.
 *
 * For plain JSON data the text is `JSON.stringify(value, null, 2)`'s, character for character.
 * @module
 */
import { JsonBytes } from './admin-json-bytes.js';
import { SlicePool } from './admin-slice-pool.js';

/** A slice ends once it holds this many bytes (plus at most one piece, see MAX_PIECE_BYTES). */
export const SLICE_BYTES = 16 * 1024;
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
/** The most one member can add to a slice past SLICE_BYTES: its indentation, its key and its
 * value, each string escaped (up to 6 bytes of UTF-8 per character, `\u0001` or a character of
 * 3 bytes) with its cut marker. A slice is at most SLICE_BYTES + MAX_PIECE_BYTES bytes. */
export const MAX_PIECE_BYTES = 2 * MAX_DEPTH + 6 * (MAX_KEY_CHARS + 64) + 6 * (MAX_STRING_CHARS + 64) + 16;
/** The Buffers slices are written in, shared by every answer of the process: a slice and the
 * piece that ends it fit in one, mostly. Up to 8 MiB of them wait for the next answers. */
export const SLICE_POOL = new SlicePool(SLICE_BYTES + 4 * 1024, 8 * 1024 * 1024);

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

const BIGINT_LIMIT = 1n << 1024n;

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
  private readonly out: JsonBytes;
  private sliceValues = 0;
  private started = false;
  /** The member `nextMember()` read (fields rather than an object per member: less garbage). */
  private memberKey: string | null = null;
  private memberValue: unknown = undefined;

  constructor(
    private readonly root: unknown,
    /** Where the slices' Buffers come from; give each back once it is written out. */
    pool: SlicePool = SLICE_POOL,
  ) {
    this.out = new JsonBytes(pool);
  }

  /** True once the last slice is out. */
  get done(): boolean {
    return this.started && this.stack.length === 0;
  }

  /** The next slice of the text, as UTF-8, or null once it is all out. */
  next(): Buffer | null {
    if (this.done) return null;
    this.sliceValues = 0;
    if (!this.started) {
      this.started = true;
      this.value(this.root, 0, null);
    }
    while (this.stack.length > 0 && this.out.used < SLICE_BYTES && this.sliceValues < SLICE_VALUES)
      this.advance(this.stack.at(-1)!);
    return this.out.take();
  }

  private emit(text: string, budget: Budget | null): void {
    const chars = this.out.write(text);
    if (budget !== null) budget.left -= chars;
  }

  private indent(depth: number, budget: Budget | null): void {
    this.out.spaces(2 * depth);
    if (budget !== null) budget.left -= 2 * depth;
  }

  /** A string as JSON: quoted as it is when nothing in it needs an escape (no copy of it made). */
  private quoted(text: string, budget: Budget | null): void {
    if (needsEscape(text)) return this.emit(JSON.stringify(text), budget);
    this.emit('"', budget);
    this.emit(text, budget);
    this.emit('"', budget);
  }

  /** Writes the next member of `frame`, or closes it. */
  private advance(frame: Frame): void {
    this.sliceValues++;
    const budget = frame.budget;
    let more: boolean;
    try {
      more = this.nextMember(frame);
    } catch {
      // An array proxy's trap moved on to the next index; an iterator that throws may throw
      // forever, so its container ends here.
      more = frame.kind !== 'entries';
      this.memberKey = null;
      this.memberValue = '[unreadable]';
    }
    if (!more) return this.close(frame);
    const key = this.memberKey;
    const value = this.memberValue;
    this.memberValue = undefined;
    if (frame.kind === 'object' && isOmitted(value)) return;
    if (budget !== null && budget.left <= 0) return this.truncate(frame);
    this.emit(frame.written++ === 0 ? '\n' : ',\n', budget);
    this.indent(frame.depth, budget);
    if (key !== null) {
      this.quoted(cut(key, MAX_KEY_CHARS), budget);
      this.emit(': ', budget);
    }
    this.value(value, frame.depth, budget);
  }

  /** Reads the next member into memberKey and memberValue; false once there is none. */
  private nextMember(frame: Frame): boolean {
    if (frame.kind === 'entries') {
      const step = frame.iterator!.next();
      this.memberKey = null;
      this.memberValue = step.value;
      return step.done !== true;
    }
    if (frame.index >= frame.length) return false;
    const index = frame.index++;
    if (frame.kind === 'array') {
      this.memberKey = null;
      this.memberValue = (frame.source as unknown[])[index];
      return true;
    }
    const key = frame.keys![index]!;
    this.memberKey = key;
    try {
      this.memberValue = (frame.source as Record<string, unknown>)[key];
    } catch {
      this.memberValue = '[unreadable]';
    }
    return true;
  }

  /** Ends a frame whose budget is spent, saying how much was left out. */
  private truncate(frame: Frame): void {
    const left = frame.kind === 'entries' ? 'more' : `${frame.length - frame.index + 1} more`;
    this.emit(frame.written++ === 0 ? '\n' : ',\n', frame.budget);
    this.indent(frame.depth, frame.budget);
    this.emit(
      frame.kind === 'object' ? `"[truncated]": "${left} keys"` : `"[truncated: ${left} items]"`,
      frame.budget,
    );
    this.close(frame);
  }

  private close(frame: Frame): void {
    this.stack.pop();
    this.ancestors.delete(frame.source);
    if (frame.written > 0) {
      this.emit('\n', frame.budget);
      this.indent(frame.depth - 1, frame.budget);
    }
    this.emit(frame.kind === 'object' ? '}' : ']', frame.budget);
  }

  /** Writes `value` at indentation `depth` (its members go one deeper). */
  private value(raw: unknown, depth: number, outer: Budget | null): void {
    let value = raw;
    let budget = outer;
    try {
      // `instanceof` asks a proxy's getPrototypeOf trap, which may throw (a revoked proxy does).
      if (value instanceof CappedValue) {
        budget ??= { left: value.maxChars, maxBinaryBytes: value.maxBinaryBytes };
        value = value.value;
      }
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
      // Everything that may throw (a getter, a proxy's trap, a boxed value's valueOf) runs before
      // the first byte of the value is written: a throw then writes "[unreadable]" alone.
      const scalar = scalarOf(value);
      if (scalar === undefined) return this.container(value as object, depth, budget);
      this.scalar(scalar, budget);
    } catch {
      this.emit('"[unreadable]"', budget);
    }
  }

  /** Writes a value that scalarOf() returned. */
  private scalar(value: string | number | boolean | bigint | null, budget: Budget | null): void {
    switch (typeof value) {
      case 'string': {
        const max = budget === null ? MAX_STRING_CHARS : Math.min(MAX_STRING_CHARS, Math.max(0, budget.left - 2));
        return this.quoted(cut(value, max), budget);
      }
      case 'number':
        return this.emit(Number.isFinite(value) ? String(value) : 'null', budget);
      case 'boolean':
        return this.emit(value ? 'true' : 'false', budget);
      case 'bigint':
        // An int64 of a protobuf runtime fits easily; a BigInt of millions of digits would take
        // seconds to print in decimal.
        return this.emit(
          value < BIGINT_LIMIT && value > -BIGINT_LIMIT ? `"${value}"` : '"[bigint beyond 1024 bits]"',
          budget,
        );
      default:
        return this.emit('null', budget);
    }
  }

  private container(value: object, depth: number, budget: Budget | null): void {
    if (this.ancestors.has(value)) return this.emit('"[circular]"', budget);
    if (depth >= MAX_DEPTH) return this.emit('"[too deep]"', budget);
    const binary = binaryView(value);
    if (binary !== null) return this.binary(binary, depth, budget);
    let kind: Frame['kind'] = 'entries';
    let keys: string[] | null = null;
    let length = 0;
    let iterator: Iterator<unknown> | null = null;
    if (value instanceof Map) iterator = mapPairs(value);
    else if (value instanceof Set) iterator = Set.prototype.values.call(value);
    else if (Array.isArray(value)) {
      kind = 'array';
      length = value.length;
    } else {
      kind = 'object';
      keys = Object.keys(value);
      length = keys.length;
    }
    const opened: Frame = {
      kind,
      source: value,
      keys,
      length,
      iterator,
      index: 0,
      written: 0,
      depth: depth + 1,
      budget,
    };
    this.ancestors.add(value);
    this.stack.push(opened);
    this.emit(opened.kind === 'object' ? '{' : '[', budget);
  }

  /** `{ base64, bytes, truncated }`: the first bytes in base64, and the full size. */
  private binary(bytes: Uint8Array, depth: number, budget: Budget | null): void {
    const max =
      budget === null
        ? MAX_BINARY_BYTES
        : Math.min(budget.maxBinaryBytes, Math.floor((Math.max(0, budget.left - 80) * 3) / 4));
    this.emit('{\n', budget);
    this.indent(depth + 1, budget);
    this.emit('"base64": "', budget);
    const chars = this.out.base64(bytes.subarray(0, Math.min(max, bytes.byteLength)));
    if (budget !== null) budget.left -= chars;
    this.emit('",\n', budget);
    this.indent(depth + 1, budget);
    this.emit(`"bytes": ${bytes.byteLength},\n`, budget);
    this.indent(depth + 1, budget);
    this.emit(bytes.byteLength > max ? '"truncated": true\n' : '"truncated": false\n', budget);
    this.indent(depth, budget);
    this.emit('}', budget);
  }
}

/** What JSON leaves out of an object and shows as null in an array. */
function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/** The primitive a value is shown as (a Date's ISO string, a boxed value's own), or undefined for
 * a container (a value JSON leaves out is never asked for). */
function scalarOf(value: unknown): string | number | boolean | bigint | null | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return value;
    default:
  }
  if (value === null) return null;
  if (value instanceof Date)
    return Number.isNaN(Date.prototype.getTime.call(value)) ? null : Date.prototype.toISOString.call(value);
  // Boxed primitives print as their value, as JSON.stringify does.
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt)
    return scalarOf(value.valueOf());
  return undefined;
}

/** Whether JSON.stringify would escape something in `text`: a quote, a backslash, a control
 * character or a surrogate (a lone one is escaped; a pair is left to JSON.stringify too). */
function needsEscape(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return true;
  }
  return false;
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

/** A Map's entries as `[key, value]` arrays, from Map.prototype (a subclass's override is the
 * application's code). */
function mapPairs(map: Map<unknown, unknown>): Iterator<unknown> {
  return Map.prototype.entries.call(map);
}
