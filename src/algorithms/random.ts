/**
 * A small seedable pseudo-random source for the weighted schedule: the arrangement of calls
 * within the exactness bound. Not for anything secret: the state is 128 bits and the
 * output is predictable from a few values.
 * @module
 */
import { randomBytes } from 'node:crypto';

/** Returns a number in [0, 1) at each call. */
export type RandomSource = () => number;

/** One step of SplitMix32: spreads a seed over the generator's state words. */
function splitMix32(state: { value: number }): number {
  state.value = (state.value + 0x9e3779b9) | 0;
  let z = state.value;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A xoshiro128** generator (Blackman and Vigna, 2018) seeded from `seed`: the same seed gives
 * the same numbers on every platform. 32 bits per number, no allocation per call.
 * @param seed any finite number; only its integer part matters (up to 2^53).
 */
export function seededRandom(seed: number): RandomSource {
  const whole = Math.trunc(Number.isFinite(seed) ? seed : 0);
  const mixer = { value: (whole >>> 0) ^ Math.imul(Math.floor(whole / 0x1_0000_0000) | 0, 0x27d4eb2d) };
  let s0 = splitMix32(mixer);
  let s1 = splitMix32(mixer);
  let s2 = splitMix32(mixer);
  let s3 = splitMix32(mixer);
  // An all-zero state would only ever produce zeros.
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  return () => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result / 0x1_0000_0000;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A seed from the operating system's random source: no two splits in a fleet share one. */
export function randomSeed(): number {
  const bytes = randomBytes(6);
  return bytes.readUIntBE(0, 6);
}
