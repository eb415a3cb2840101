/**
 * Heap measurements with a forced full GC. Node only exposes `gc()` under `--expose-gc`; setting
 * the flag at run time and fetching `gc` from a fresh context gives the same function without
 * re-spawning the runner.
 * @module
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFunction: (() => void) | null = null;

/** Runs a full, synchronous garbage collection. */
export function fullGc(): void {
  if (gcFunction === null) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  // Twice: the first pass can leave objects whose finalizers free more on the second.
  gcFunction();
  gcFunction();
}

/** `process.memoryUsage()` after a full GC, in bytes. */
export function settledMemory(): { heapUsed: number; rss: number } {
  fullGc();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

/** Bytes as `12.3 MB` (10^6) or `512 B`. */
export function fmtBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  const abs = Math.abs(bytes);
  if (abs >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (abs >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${Math.round(bytes)} B`;
}
