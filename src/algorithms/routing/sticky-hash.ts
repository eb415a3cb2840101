/**
 * Sticky-key hashing, version 1: weighted rendezvous hashing over MurmurHash3 (x86, 32-bit).
 *
 * Specification (any implementation that follows it maps keys identically):
 * 1. `seed_i = murmur3_x86_32(utf8(subsetName_i), 0)`, once per subset.
 * 2. `k = murmur3_x86_32(utf8(key), 0)`, once per call.
 * 3. `h_i = fmix32(k XOR seed_i)`, MurmurHash3's 32-bit finalizer, read as unsigned.
 * 4. `u_i = (h_i + 0.5) / 2^32`, a number strictly between 0 and 1.
 * 5. Among the candidate subsets with weight > 0, the key goes to the one with the largest
 *    `score_i = w_i / -ln(u_i)`; equal scores go to the lower index.
 * Hashing the key once and mixing it per subset keeps a pick at one pass over the key plus a
 * few multiplications and one logarithm per subset.
 *
 * Why this shape: the subset is a pure function of (key, weights, subset names), so every
 * process and replica agrees with no shared state. Each subset's probability is exactly its
 * share of the weights. And it is monotone: raising w_j raises only score_j, so keys can only move
 * to j; lowering it, keys can only leave j. (A cumulative interval over one hash has that property
 * for two subsets only.) Test vectors: test/sticky-hash.test.ts.
 * @module
 */

/** Bumped whenever the mapping of any key could change. */
export const STICKY_HASH_VERSION = 1;

/**
 * Longest key, in UTF-16 code units, encoded into the shared scratch buffer (which then never
 * exceeds 3 x this many bytes). A longer key is encoded into a buffer of its own that is freed
 * with it: a single 64 MB key must not pin 192 MB for the life of the process. Either way the
 * bytes, and so the hash, are the same.
 */
export const SCRATCH_KEY_LENGTH = 4096;

let scratch = new Uint8Array(256);

/** The scratch buffer's size in bytes (for tests). @internal */
export function scratchBytes(): number {
  return scratch.length;
}

/** UTF-8 encodes `text` (at most SCRATCH_KEY_LENGTH code units) into the shared scratch buffer
 * (no allocation once it is large enough); returns the byte length. Lone surrogates become
 * U+FFFD, as TextEncoder does. */
function encodeUtf8(text: string): number {
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const out = scratch;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[n++] = 0xf0 | (cp >> 18);
        out[n++] = 0x80 | ((cp >> 12) & 0x3f);
        out[n++] = 0x80 | ((cp >> 6) & 0x3f);
        out[n++] = 0x80 | (cp & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    out[n++] = 0xe0 | (c >> 12);
    out[n++] = 0x80 | ((c >> 6) & 0x3f);
    out[n++] = 0x80 | (c & 0x3f);
  }
  return n;
}

/** MurmurHash3 x86 32-bit over `bytes[0..length)`; returns an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, length: number, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= bytes[blocks + 2]! << 16;
    if (tail >= 2) k ^= bytes[blocks + 1]! << 8;
    k ^= bytes[blocks]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  return fmix32(h ^ length);
}

/** MurmurHash3's 32-bit finalizer: a bijection with full avalanche; unsigned result. */
export function fmix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86 32-bit of a string's UTF-8 bytes. */
export function murmur3String(text: string, seed: number): number {
  if (text.length > SCRATCH_KEY_LENGTH) {
    // Node's UTF-8 encoder also writes lone surrogates as U+FFFD: the same bytes.
    const bytes = Buffer.from(text, 'utf8');
    return murmur3(bytes, bytes.length, seed);
  }
  // encodeUtf8 may replace `scratch` with a larger buffer: read it only afterwards.
  const length = encodeUtf8(text);
  return murmur3(scratch, length, seed);
}

/** Step 1 of the specification, computed once per subset. */
export function subsetSeeds(subsetNames: readonly string[]): Uint32Array {
  return Uint32Array.from(subsetNames, (name) => murmur3String(name, 0));
}

const TWO_POW_32 = 4294967296;

/**
 * The subset `key` maps to among `candidates` (subset indices), or -1 when no candidate has a
 * positive weight. Allocation-free.
 */
export function rendezvousPick(
  key: string,
  candidates: ArrayLike<number>,
  weights: ArrayLike<number>,
  seeds: Uint32Array,
): number {
  const k = murmur3String(key, 0);
  let best = -1;
  let bestScore = -1;
  for (let c = 0; c < candidates.length; c++) {
    const i = candidates[c]!;
    const w = weights[i]!;
    if (!(w > 0)) continue;
    const u = (fmix32(k ^ seeds[i]!) + 0.5) / TWO_POW_32;
    const score = w / -Math.log(u);
    if (score > bestScore || (score === bestScore && i < best)) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}
