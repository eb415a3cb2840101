/**
 * A clock whose time moves only when a test calls `advance()`: timers fire in order of their due
 * time, synchronously, with `now()` set to each one's due time while it runs.
 */
import type { Clock, ClockTimer } from '../../src/index.js';

interface FakeTimer {
  at: number;
  seq: number;
  callback: () => void;
}

export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, delayMs: number): ClockTimer {
    const timer: FakeTimer = { at: this.time + delayMs, seq: this.seq++, callback };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }

  /** Delays from now of the timers not yet fired, soonest first. */
  get pending(): number[] {
    return this.sorted().map((t) => t.at - this.time);
  }

  /** Moves time forward by `ms`, firing every timer that falls due (also those set meanwhile). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (let next = this.sorted()[0]; next !== undefined && next.at <= end; next = this.sorted()[0]) {
      this.timers = this.timers.filter((t) => t !== next);
      this.time = next.at;
      next.callback();
    }
    this.time = end;
  }

  private sorted(): FakeTimer[] {
    return [...this.timers].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
