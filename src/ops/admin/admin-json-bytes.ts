/**
 * The bytes of the admin endpoint's JSON, written where they go. Building each slice from string
 * pieces, joining them and copying the result into a Buffer allocated about five bytes of heap
 * per byte answered (19 MB for a 3.8 MB `GET /stats`, two young-generation collections per
 * request): here ASCII pieces are copied into the slice's Buffer, other strings are encoded into
 * it by Node, and binaries are encoded to base64 in place, so the heap sees little beyond the
 * few strings that need JSON escapes. The Buffers come from a pool (admin-slice-pool.ts).
 * @module
 */
import type { SlicePool } from './admin-slice-pool.js';

/** Pieces up to this long are copied by a loop here rather than by a call into Node. */
const SHORT_CHARS = 64;
const BASE64_ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const EQUALS = 0x3d;
const SPACE = 0x20;
const EMPTY = Buffer.alloc(0);

/** Characters of base64 for `bytes` bytes. */
export function base64Chars(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

/** A growing Buffer of UTF-8, handed out a slice at a time. */
export class JsonBytes {
  private buffer: Buffer | null = null;
  /** Bytes written since the last `take()`. */
  used = 0;

  /** Each slice starts in one of `pool`'s Buffers, and grows out of it if it needs more. */
  constructor(private readonly pool: SlicePool) {}

  /** Writes `text` as UTF-8 and returns its length in characters. */
  write(text: string): number {
    const length = text.length;
    if (length <= SHORT_CHARS) {
      const buffer = this.reserve(3 * length);
      let at = this.used;
      for (let i = 0; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code > 0x7f) {
          // Not ASCII: Node encodes it (from the start of the piece again).
          this.used += buffer.write(text, this.used);
          return length;
        }
        buffer[at++] = code;
      }
      this.used = at;
      return length;
    }
    const buffer = this.reserve(Buffer.byteLength(text));
    this.used += buffer.write(text, this.used);
    return length;
  }

  /** Writes `count` spaces. */
  spaces(count: number): void {
    const buffer = this.reserve(count);
    buffer.fill(SPACE, this.used, this.used + count);
    this.used += count;
  }

  /** Writes `bytes` in base64 (with padding) and returns its length in characters. */
  base64(bytes: Uint8Array): number {
    const chars = base64Chars(bytes.length);
    const buffer = this.reserve(chars);
    const alphabet = BASE64_ALPHABET;
    const whole = bytes.length - (bytes.length % 3);
    let at = this.used;
    let i = 0;
    for (; i < whole; i += 3) {
      const triple = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
      buffer[at++] = alphabet[triple >> 18]!;
      buffer[at++] = alphabet[(triple >> 12) & 63]!;
      buffer[at++] = alphabet[(triple >> 6) & 63]!;
      buffer[at++] = alphabet[triple & 63]!;
    }
    if (i < bytes.length) {
      const two = i + 1 < bytes.length;
      const triple = (bytes[i]! << 16) | (two ? bytes[i + 1]! << 8 : 0);
      buffer[at++] = alphabet[triple >> 18]!;
      buffer[at++] = alphabet[(triple >> 12) & 63]!;
      buffer[at++] = two ? alphabet[(triple >> 6) & 63]! : EQUALS;
      buffer[at++] = EQUALS;
    }
    this.used = at;
    return chars;
  }

  /** The bytes written since the last call; the next write starts a new Buffer (a slice handed
   * out is never written again). */
  take(): Buffer {
    if (this.used === 0 || this.buffer === null) return EMPTY;
    const slice = this.buffer.subarray(0, this.used);
    this.buffer = null;
    this.used = 0;
    return slice;
  }

  /** The Buffer, with room for `bytes` more. */
  private reserve(bytes: number): Buffer {
    const buffer = this.buffer;
    if (buffer !== null && this.used + bytes <= buffer.length) return buffer;
    if (buffer === null && bytes <= this.pool.bufferBytes) return (this.buffer = this.pool.take());
    // A piece that does not fit in what is left (a long string near the end of a slice): the
    // slice moves to a Buffer of its own, outside the pool.
    const grown = Buffer.allocUnsafeSlow(Math.max(this.pool.bufferBytes, 2 * this.used + bytes));
    if (buffer !== null) {
      buffer.copy(grown, 0, 0, this.used);
      this.pool.give(buffer);
    }
    return (this.buffer = grown);
  }
}
