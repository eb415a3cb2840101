/**
 * Byte work on large bodies in slices, one slice per turn of the event loop: comparing two
 * 10 MB answers or hashing them for a sample must not hold up the calls of the application
 * (a SHA-256 of 10 MB is tens of milliseconds of one core). A slice is small enough to take well
 * under a millisecond; bodies of one slice or less are done in the current turn.
 * @module
 */
import { createHash } from 'node:crypto';

/** Bytes handled per turn of the event loop. */
export const SLICE_BYTES = 256 * 1024;

/** Resolves on the next turn of the event loop, after pending I/O callbacks. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Whether `a` and `b` hold the same bytes, compared a slice per turn. */
export async function equalInSlices(a: Buffer, b: Buffer): Promise<boolean> {
  if (a.length !== b.length) return false;
  for (let offset = 0; offset < a.length; offset += SLICE_BYTES) {
    if (offset > 0) await nextTurn();
    const end = Math.min(offset + SLICE_BYTES, a.length);
    if (!a.subarray(offset, end).equals(b.subarray(offset, end))) return false;
  }
  return true;
}

/** SHA-256 of `bytes` as hex, hashed a slice per turn. */
export async function sha256InSlices(bytes: Buffer): Promise<string> {
  const hash = createHash('sha256');
  for (let offset = 0; offset < bytes.length; offset += SLICE_BYTES) {
    if (offset > 0) await nextTurn();
    hash.update(bytes.subarray(offset, Math.min(offset + SLICE_BYTES, bytes.length)));
  }
  return hash.digest('hex');
}
