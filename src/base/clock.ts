/**
 * The time source of the rollout, the weights-file watcher and the periodic re-resolution: the
 * current time and one-shot timers, behind a small
 * interface so that tests and simulations can decide when time passes instead of waiting for it.
 * @module
 */

/**
 * What `Clock.setTimeout()` returns. The caller only hands it back to `clearTimeout()`, or calls
 * its `unref()` when it has one (Node's `Timeout` has) and the timer must not keep the process
 * alive.
 */
export type ClockTimer = object;

/**
 * Current time and one-shot timers, in milliseconds. `realClock` is Node's own; a test can pass
 * a fake whose timers fire only when the test advances it.
 * @example
 * const clock: Clock = {
 *   now: () => t,
 *   setTimeout: (fn, ms) => queue(fn, t + ms),
 *   clearTimeout: (timer) => dequeue(timer),
 * };
 */
export interface Clock {
  /** Milliseconds since the epoch, like `Date.now()`. */
  now(): number;
  /** Runs `callback` once, `delayMs` from now. The timer keeps the process alive unless the caller `unref()`s it. */
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  /** Cancels a timer of this clock; a timer that already fired or was cancelled is ignored. */
  clearTimeout(timer: ClockTimer): void;
}

/**
 * Node's clock: `Date.now()`, `setTimeout()` and `clearTimeout()`. The globals are looked up at
 * each call rather than bound once, so node:test's `mock.timers`, which replaces them, reaches
 * code that uses this clock too.
 */
export const realClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number): ClockTimer => setTimeout(callback, delayMs),
  clearTimeout: (timer: ClockTimer): void => clearTimeout(timer as NodeJS.Timeout),
});

/**
 * `unref()`s a timer when it has that method (Node's have; a fake clock's need not): for timers
 * that must not keep the process alive on their own.
 */
export function unrefTimer(timer: ClockTimer): void {
  const unref = (timer as { unref?: unknown }).unref;
  if (typeof unref === 'function') unref.call(timer);
}
