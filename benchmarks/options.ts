/**
 * Options every bench receives, and the one rule that turns "full / quick / tiny" into sizes.
 * @module
 */

/** Writes one progress line (to stderr in the runner; a no-op in the smoke test). */
export type Logger = (message: string) => void;

/** What `run.ts` (or the smoke test) hands each bench. */
export interface BenchOptions {
  /** Fewer rounds, shorter loads: the whole suite in under two minutes on 2 cores. */
  quick: boolean;
  /**
   * Smallest sizes that still walk every code path (the smoke test): a few hundred calls, one
   * round. Figures from a tiny run mean nothing; only their shape is checked.
   * @default false
   */
  tiny?: boolean;
  /** Run the nginx variants when the binary exists. @default true */
  nginx?: boolean;
  /** Progress lines. @default no output */
  log?: Logger;
}

/** The three sizes of one parameter. */
export interface Sizes<T> {
  full: T;
  quick: T;
  tiny: T;
}

/**
 * Picks the size for the run's mode; `tiny` wins over `quick`.
 * @example const rounds = sized(opts, { full: 5, quick: 3, tiny: 1 });
 */
export function sized<T>(opts: BenchOptions, sizes: Sizes<T>): T {
  if (opts.tiny === true) return sizes.tiny;
  return opts.quick ? sizes.quick : sizes.full;
}

/** The logger of `opts`, or one that drops everything. */
export function loggerOf(opts: BenchOptions): Logger {
  return opts.log ?? (() => {});
}
