/**
 * Whether this replica can reach etcd, from two signals: its watch stream, and its lease (lost:
 * the etcd3 client gave up renewing it). Either down for `warnAfterMs` makes etcd unreachable
 * (once: one warning per outage, however long); both up again makes it reachable. Losing one
 * member of a cluster moves the streams to another member well within the grace period, and
 * says nothing.
 * @module
 */
import { unrefTimer, type Clock, type ClockTimer } from '../../base/clock.js';

export class Reachability {
  private watchDownSince: number | null = null;
  private leaseDownSince: number | null = null;
  private reachableValue = true;
  private timer: ClockTimer | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly warnAfterMs: number,
    private readonly onChange: (reachable: boolean, downForMs: number, what: string) => void,
  ) {}

  get reachable(): boolean {
    return this.reachableValue;
  }

  watch(up: boolean): void {
    if (up) this.watchDownSince = null;
    else this.watchDownSince ??= this.clock.now();
    this.update();
  }

  lease(up: boolean): void {
    if (up) this.leaseDownSince = null;
    else this.leaseDownSince ??= this.clock.now();
    this.update();
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private update(): void {
    const now = this.clock.now();
    const since = Math.min(this.watchDownSince ?? Infinity, this.leaseDownSince ?? Infinity);
    if (since === Infinity) {
      this.stop();
      if (!this.reachableValue) {
        this.reachableValue = true;
        this.onChange(true, 0, '');
      }
      return;
    }
    if (!this.reachableValue) return;
    if (now - since >= this.warnAfterMs) {
      this.stop();
      this.reachableValue = false;
      const what = this.watchDownSince !== null ? 'the watch stream is down' : 'the lease is not renewed';
      this.onChange(false, now - since, what);
    } else if (this.timer === null) {
      this.timer = this.clock.setTimeout(
        () => {
          this.timer = null;
          this.update();
        },
        since + this.warnAfterMs - now,
      );
      unrefTimer(this.timer);
    }
  }
}
