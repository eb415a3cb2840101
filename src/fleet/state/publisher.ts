/**
 * Publishes this replica's figures under its lease: every `publishIntervalMs`, and at once when
 * a snapshot request arrives (in the same turn as the weights written with it, so a rollout's
 * window starts, on every replica, exactly where its weights did). Publications go out one
 * after the other, in the order they were taken.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { unrefTimer, type ClockTimer } from '../../base/clock.js';
import { trace } from '../../split/fleet-port.js';
import type { FleetCore } from '../etcd/core.js';
import { messageOf } from '../errors.js';
import { publicationOf } from './figures.js';

export class FiguresPublisher {
  /** Drawn once per fleet handle (see `Publication.instance`). */
  private readonly instance = randomBytes(6).toString('hex');
  private seq = 0;
  private timer: ClockTimer | null = null;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly core: FleetCore) {
    core.state.on('snapshot', () => this.publish());
  }

  start(): void {
    this.publish();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.core.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Takes the figures now and queues their publication; resolves once it was written (or not). */
  publish(): Promise<void> {
    const session = this.core.session();
    if (this.stopped || session === null || session.lost) return this.queue;
    const { replicaId: replica, clock, keys, client } = this.core;
    const publication = publicationOf(this.core.split.stats(), {
      replica,
      instance: this.instance,
      seq: ++this.seq,
      ack: this.core.state.snapshot.toString(),
      at: clock.now(),
    });
    const value = JSON.stringify(publication);
    this.queue = this.queue.then(async () => {
      try {
        await client.put(`${keys.replicas}${replica}`).value(value).lease(session.leaseId).exec();
      } catch (error) {
        // The next publication carries newer figures; etcd being away is reported elsewhere.
        trace(`fleet ${keys.prefix}: figures of ${replica} not published: ${messageOf(error)}`);
      }
    });
    return this.queue;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.core.clock.setTimeout(() => {
      this.publish();
      this.schedule();
    }, this.core.options.publishIntervalMs);
    unrefTimer(this.timer);
  }
}
