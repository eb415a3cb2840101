/**
 * The replica's view of the fleet's keys: one read of the whole prefix, then one watch from the
 * next revision, so every change reaches the sink once, in revision order. The etcd3 client
 * re-opens a broken watch stream from the last revision it delivered (a replica cut off from etcd
 * gets every revision it missed when it is back); a watch etcd cancels (its start revision was
 * compacted away) is replaced by a fresh read and a new watch.
 * @module
 */
import type { IKeyValue, Watcher } from 'etcd3';
import { unrefTimer, type Clock } from '../../base/clock.js';
import { logError } from '../../split/fleet-port.js';
import type { EtcdClient } from './etcd.js';
import { messageOf } from '../errors.js';
import { revision } from './keys.js';

/** Where the watch delivers. Its methods must not throw (a throw inside the etcd3 client's
 * event would end the process); the watch logs and drops one if it does. */
export interface WatchSink {
  /** The whole prefix as it is at `storeRevision`, sorted by mod revision: at the start, and
   * after a resynchronisation. */
  reset(kvs: readonly IKeyValue[], storeRevision: bigint): void;
  /** One change, in revision order. A delete's `kv` has the key and the delete's revision only. */
  event(type: 'put' | 'delete', kv: IKeyValue): void;
  /** The watch stream went down or came back up. */
  connected(up: boolean): void;
  /** etcd's store went back to a lower revision than the sink was given: forget every revision
   * seen, so that the `reset()` that follows is taken as the truth, lower revisions and all. */
  rewound(): void;
}

/** Delay between attempts to read the prefix again after etcd cancelled the watch. */
const RESYNC_RETRY_MS = 500;

export class FleetWatch {
  private watcher: Watcher | null = null;
  private stopped = false;
  /** The newest revision delivered to the sink. */
  private processedValue = 0n;
  private waiters: { revision: bigint; resolve: (caughtUp: boolean) => void }[] = [];

  constructor(
    private readonly client: EtcdClient,
    /** The fleet's prefix with its trailing slash. */
    private readonly prefix: string,
    private readonly sink: WatchSink,
    private readonly clock: Clock,
  ) {}

  get processed(): bigint {
    return this.processedValue;
  }

  /** Reads the prefix and starts watching; rejects when etcd cannot be read. */
  async start(): Promise<void> {
    const response = await this.client.getAll().prefix(this.prefix).exec();
    if (this.stopped) return;
    const kvs = [...response.kvs].sort((a, b) => (revision(a.mod_revision) < revision(b.mod_revision) ? -1 : 1));
    const storeRevision = revision(response.header.revision);
    this.guard('reset', () => this.sink.reset(kvs, storeRevision));
    this.advance(storeRevision);
    this.watch(storeRevision + 1n);
  }

  /** Resolves true once the sink has been given `target` (false after `timeoutMs` or a stop). */
  waitFor(target: bigint, timeoutMs: number): Promise<boolean> {
    if (this.processedValue >= target) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = { revision: target, resolve };
      const timer = this.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((each) => each !== waiter);
        resolve(false);
      }, timeoutMs);
      unrefTimer(timer);
      waiter.resolve = (caughtUp) => {
        this.clock.clearTimeout(timer);
        resolve(caughtUp);
      };
      this.waiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiters) waiter.resolve(false);
    this.waiters = [];
    const watcher = this.watcher;
    this.watcher = null;
    if (watcher !== null) {
      watcher.removeAllListeners();
      watcher.on('error', () => undefined);
      await watcher.cancel().catch(() => undefined);
    }
  }

  private watch(from: bigint): void {
    const watcher = this.client.watch().prefix(this.prefix).startRevision(from.toString()).watcher();
    this.watcher = watcher;
    watcher.on('connected', (response) => {
      // A (re)connected watch learns the store's revision. Below what was processed, the store
      // lost its history (a new cluster on a wiped data directory, a restore from an old
      // backup): its revisions start again, and waiting for ours to come would be forever.
      if (revision(response.header.revision) < this.processedValue)
        return this.resync(
          watcher,
          `etcd's store is at revision ${response.header.revision}, below revision ${this.processedValue} seen before`,
          true,
        );
      this.guard('connected', () => this.sink.connected(true));
    });
    watcher.on('disconnected', () => this.guard('disconnected', () => this.sink.connected(false)));
    watcher.on('data', (response) => {
      for (const event of response.events) {
        const type = event.type === 'Delete' ? 'delete' : 'put';
        this.guard(type, () => this.sink.event(type, event.kv));
        this.advance(revision(event.kv.mod_revision));
      }
    });
    watcher.on('error', (error) => this.resync(watcher, error));
  }

  /** etcd cancelled the watch (compacted revisions), or its store went back (`rewound`): read
   * everything again, watch from there. */
  private resync(watcher: Watcher, error: unknown, rewound = false): void {
    if (this.stopped || this.watcher !== watcher) return;
    logError(
      `fleet watch of ${this.prefix} ${rewound ? 'reconnected to a store that went back' : 'cancelled'} ` +
        `(${messageOf(error)}); reading the prefix again`,
    );
    if (rewound) {
      this.processedValue = 0n;
      this.guard('rewound', () => this.sink.rewound());
    }
    watcher.removeAllListeners();
    watcher.on('error', () => undefined);
    this.watcher = null;
    void watcher.cancel().catch(() => undefined);
    const attempt = (): void => {
      if (this.stopped) return;
      this.start().catch(() => {
        const timer = this.clock.setTimeout(attempt, RESYNC_RETRY_MS);
        unrefTimer(timer);
      });
    };
    attempt();
  }

  private advance(to: bigint): void {
    if (to <= this.processedValue) return;
    this.processedValue = to;
    const due = this.waiters.filter((waiter) => waiter.revision <= to);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((waiter) => waiter.revision > to);
    for (const waiter of due) waiter.resolve(true);
  }

  private guard(what: string, deliver: () => void): void {
    try {
      deliver();
    } catch (error) {
      logError(
        `fleet watch of ${this.prefix}: ${what} handler ` +
          `threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
  }
}
