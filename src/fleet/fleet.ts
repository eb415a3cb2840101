/**
 * The fleet handle: a `SplitHandle` for every replica's split at once. Weights go through etcd
 * and come back to each replica's split in revision order; figures are the sum of what every
 * live replica publishes; a rollout started on it is written to etcd and run by the elected
 * leader. The operations (`startRollout`, `startAdminServer`, `renderPrometheusMetrics`,
 * `judgeCanary`, `watchWeightsFile`) work on it as they are.
 * @module
 */
import { EventEmitter } from 'node:events';
import { realClock, unrefTimer } from '../base/clock.js';
import { TrafficSplitClosedError, TrafficSplitTypeError, typeErrorAt } from '../base/errors.js';
import { hostRollouts } from '../ops/rollout/rollout.js';
import { sameWeights } from '../ops/rollout/rollout-plan.js';
import {
  emitClientWarning,
  trace,
  type CallEndedListener,
  type MirrorSettings,
  type SetWeightsOptions,
  type SplitHandle,
  type SplitStats,
  type StatsMark,
  type TrafficSplitEvents,
} from '../split/fleet-port.js';
import type { FleetCore, FleetLeaderChange } from './etcd/core.js';
import { transact, type EtcdClient } from './etcd/etcd.js';
import { messageOf } from './errors.js';
import { aggregate } from './state/figures.js';
import { fleetKeys, revision, type FleetKeys } from './etcd/keys.js';
import { Leadership } from './etcd/leadership.js';
import type { ParsedFleetOptions } from './options.js';
import { FleetMark } from './state/publications.js';
import { FiguresPublisher } from './state/publisher.js';
import { Reachability } from './etcd/reachability.js';
import { FleetRollouts } from './rollout/rollout-host.js';
import { RolloutLeader } from './rollout/rollout-leader.js';
import { FleetSession } from './etcd/session.js';
import { FleetState } from './state/state.js';
import { FleetWatch } from './etcd/watch.js';
import { applyRevision, writeOperatorWeights, type FleetWeightsApplied } from './state/weights.js';
import { encodeWeights } from './state/weights-value.js';

/** Events of a fleet handle: the local split's, and the fleet's own. */
export interface FleetEvents extends TrafficSplitEvents {
  /** A revision of the fleet's weights reached this replica (in revision order). */
  applied: [change: FleetWeightsApplied];
  /** The leader of the fleet's rollouts changed (or this replica's view of it). */
  leader: [change: FleetLeaderChange];
  /** etcd became unreachable (after `unreachableWarningMs`) or reachable again. */
  etcd: [change: { reachable: boolean }];
  /** etcd refused a write of this replica as leader: it no longer leads. */
  fenced: [info: { reason: string }];
}

/** Longest wait between two attempts to get a lease again. */
const MAX_SESSION_RETRY_MS = 2_000;

/** Typed events (declared apart: a subclass of `EventEmitter<FleetEvents>` would not be a
 * `SplitHandle`, whose listeners are typed by the split's events only). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- typed events on an EventEmitter
export interface Fleet {
  on<K extends keyof FleetEvents>(event: K, listener: (...args: FleetEvents[K]) => void): this;
  once<K extends keyof FleetEvents>(event: K, listener: (...args: FleetEvents[K]) => void): this;
  off<K extends keyof FleetEvents>(event: K, listener: (...args: FleetEvents[K]) => void): this;
  emit<K extends keyof FleetEvents>(event: K, ...args: FleetEvents[K]): boolean;
}

const NO_FLEET_METHOD_WEIGHTS =
  "a fleet does not share method weights through etcd; set them on each replica's split (split.setMethodWeights())";

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class Fleet extends EventEmitter implements SplitHandle, FleetCore {
  readonly name: string;
  readonly target: string;
  readonly subsets: readonly string[];
  readonly replicaId: string;
  readonly client: EtcdClient;
  readonly keys: FleetKeys;
  readonly clock = realClock;
  readonly state: FleetState;
  readonly watch: FleetWatch;
  private sessionValue: FleetSession | null = null;
  private readonly leadership: Leadership;
  private readonly publisher: FiguresPublisher;
  private readonly reachability: Reachability;
  private readonly leader: RolloutLeader;
  private readonly rollouts: FleetRollouts;
  private lastApplied: FleetWeightsApplied | null = null;
  private left = false;
  private readonly forwarders: { [K in keyof TrafficSplitEvents]?: (...args: TrafficSplitEvents[K]) => void } = {};

  /** Use `joinFleet()`. @internal */
  constructor(
    readonly split: SplitHandle,
    readonly options: ParsedFleetOptions,
  ) {
    super();
    this.name = split.name;
    this.target = split.target;
    this.subsets = split.subsets;
    this.replicaId = options.replicaId;
    this.client = options.client;
    this.keys = fleetKeys(options.prefix);
    this.state = new FleetState(this.keys);
    this.watch = new FleetWatch(this.client, `${this.keys.prefix}/`, this.state, this.clock);
    this.leadership = new Leadership(this);
    this.publisher = new FiguresPublisher(this);
    this.reachability = new Reachability(this.clock, options.unreachableWarningMs, (reachable, downForMs, what) =>
      this.reachabilityChanged(reachable, downForMs, what),
    );
    this.state.on('weights', (weights) => {
      this.lastApplied = applyRevision(this, weights);
      this.emit('applied', this.lastApplied);
    });
    this.state.on('candidates', () => this.leadership.update());
    this.state.on('connected', (up) => this.reachability.watch(up));
    this.leadership.on('change', (change) => this.emit('leader', change));
    this.leader = new RolloutLeader(this, this.leadership);
    this.rollouts = new FleetRollouts(this);
  }

  /** Reads the fleet, applies its weights (or seeds them), gets a lease and starts publishing. @internal */
  async join(): Promise<void> {
    for (const event of ['weights', 'subsetState', 'mirror'] as const) {
      const forward = (...args: unknown[]): boolean =>
        (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args);
      (this.forwarders as Record<string, unknown>)[event] = forward;
      this.split.on(event, forward);
    }
    this.forwarders.close = () => void this.leave();
    this.split.on('close', this.forwarders.close);
    await this.watch.start();
    if (this.state.weightsKeyRevision === 0n) await this.seed();
    this.adopt(await FleetSession.open(this.client, this.keys, this.replicaId, this.options.leaseTtlSeconds));
    this.publisher.start();
    hostRollouts(this, this.rollouts);
  }

  get closed(): boolean {
    return this.left || this.split.closed;
  }

  /** The last revision of the weights this replica applied (or refused), or null before any. */
  get applied(): FleetWeightsApplied | null {
    return this.lastApplied === null ? null : { ...this.lastApplied };
  }

  /** Who leads the fleet's rollouts, as this replica sees it. */
  get leaderStatus(): FleetLeaderChange {
    return this.leadership.current;
  }

  /** The replicas whose figures are live (their leases run). */
  get replicas(): string[] {
    return this.state.publications.replicas().sort();
  }

  /** False while etcd has been unreachable longer than `unreachableWarningMs`. */
  get reachable(): boolean {
    return this.reachability.reachable;
  }

  session(): FleetSession | null {
    return this.sessionValue;
  }

  /**
   * Writes the weights to etcd (compare-and-swap on the revision this replica saw last; a rollout
   * running in the fleet ends, aborted, in the same write). Invalid weights throw at once, as on
   * a split. Resolves with the etcd revision once this replica applied it; rejects with a
   * TrafficSplitFleetError when etcd could not take it (the weights in force stay). Every replica
   * applies it through its own split. Weights equal to those in force write nothing.
   */
  setWeights(weights: Record<string, number>, options?: SetWeightsOptions): Promise<string> {
    if (this.closed) throw new TrafficSplitClosedError(this.name, 'setWeights()');
    if (typeof options === 'object' && options !== null && options.methods !== undefined)
      throw new TrafficSplitTypeError(`options.methods: ${NO_FLEET_METHOD_WEIGHTS}`);
    const current = this.state.weights;
    // Already the fleet's weights and in force here: nothing to write. (Weights this replica's
    // split refused are not in force, so the same ones are written again, and refused again.)
    const inForce =
      current !== null &&
      typeof weights === 'object' &&
      weights !== null &&
      sameWeights(weights, current.value.weights) &&
      sameWeights(weights, this.split.getWeights());
    if (inForce && options === undefined) {
      return Promise.resolve(current.modRevision.toString());
    }
    const written = writeOperatorWeights(this, weights, options);
    // Callers that await it see the rejection; the rollout and the weights file do not await.
    written.catch(() => undefined);
    return written;
  }

  getWeights(method?: string): Record<string, number> {
    return this.split.getWeights(method);
  }

  /** A fleet does not share method weights: set them on each replica's split. Always throws. */
  setMethodWeights(_methods: unknown): void {
    throw new TrafficSplitTypeError(NO_FLEET_METHOD_WEIGHTS);
  }

  /** This replica's split's method overrides (a fleet does not share them). */
  getMethodWeights(): Record<string, Record<string, number>> {
    return this.split.getMethodWeights();
  }

  /** A fleet does not share a mirror: set one on each replica's split. Always throws. */
  setMirror(options: unknown): void {
    throw typeErrorAt(
      'mirror',
      "no mirror on a fleet handle (it is not shared through etcd): set it on each replica's split",
      options,
    );
  }

  /** The local split's mirror. */
  getMirror(): MirrorSettings | null {
    return this.split.getMirror();
  }

  /** The local split's feed of answered attempts: this replica's calls only. */
  onCallEnded(listener: CallEndedListener): () => void {
    return this.split.onCallEnded(listener);
  }

  /**
   * The fleet's figures: the sum of every live replica's latest publication (for each one's
   * lifetime), or with `since` the sum of what each counted after the mark. A replica whose
   * lease ended is in neither. `mirror` is null: mirrors are per replica.
   */
  stats(options: { since?: StatsMark } = {}): SplitStats {
    const since = options.since;
    // Another fleet's mark holds baselines of other replicas: subtracting them would be nonsense.
    if (since !== undefined && !(since instanceof FleetMark && since.store === this.state.publications))
      throw typeErrorAt('since', 'a mark of this fleet (fleet.mark())', since);
    return this.figures(since ?? null);
  }

  figures(since: FleetMark | null): SplitStats {
    const latest = this.state.publications.latest();
    const weights = this.getWeights();
    const { channels, notStarted, subsets } = aggregate(this.subsets, weights, latest, since?.baselines ?? null);
    const now = this.clock.now();
    const start = since?.at ?? Math.min(now, ...latest.map((publication) => publication.since));
    return {
      name: this.name,
      target: this.target,
      closed: this.closed,
      periodMs: now - start,
      weights,
      // Method overrides are not shared through etcd: this replica's own.
      methodWeights: this.split.getMethodWeights(),
      channels,
      notStarted,
      subsets,
      mirror: null,
    };
  }

  /** Marks the fleet's figures now: asks every replica for its figures (a snapshot request),
   * whose answers become the mark's start as they arrive. */
  mark(): StatsMark {
    const mark = this.state.publications.mark(this.clock.now());
    const { client, keys } = this;
    client
      .put(keys.snapshot)
      .value(JSON.stringify({ replica: this.replicaId }))
      .exec()
      .then(
        (response) => this.state.publications.requested(mark, response.header.revision),
        () => this.state.publications.forget(mark),
      );
    return mark.asStatsMark();
  }

  fenced(reason: string): void {
    this.emit('fenced', { reason });
  }

  /**
   * Leaves the fleet: stops watching and publishing, and ends the replica's lease, so its figures
   * and candidacy go at once (another replica takes over a rollout it led). The split keeps
   * the weights in force. Idempotent; also happens when the split closes.
   */
  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    this.publisher.stop();
    this.leader.stop();
    this.reachability.stop();
    for (const [event, forward] of Object.entries(this.forwarders))
      this.split.off(event as keyof TrafficSplitEvents, forward as () => void);
    await this.watch.stop();
    const session = this.sessionValue;
    this.sessionValue = null;
    this.leadership.update();
    await session?.close(true);
    this.emit('close');
  }

  /** The first replica of a fleet writes its split's weights, if nobody did meanwhile. */
  private async seed(): Promise<void> {
    const value = encodeWeights({
      weights: this.split.getWeights(),
      replica: this.replicaId,
      by: 'seed',
      at: this.clock.now(),
    });
    const outcome = await transact(
      this.client,
      [{ key: this.keys.weights, target: 'Create', revision: '0' }],
      [{ key: this.keys.weights, value }],
      [this.keys.weights],
    );
    const written = outcome.succeeded ? outcome.revision : (outcome.read.get(this.keys.weights)?.mod_revision ?? '0');
    await this.watch.waitFor(revision(written), 5_000);
  }

  private adopt(session: FleetSession): void {
    this.sessionValue = session;
    // A failed keepalive alone says nothing: while one member of a cluster dies, or raft elects
    // a new leader, renewals stall for a second or two and resume. A lease etcd3 gives up on is lost.
    session.on('renewed', () => this.reachability.lease(true));
    session.once('lost', (reason) => this.sessionLost(session, reason));
    this.reachability.lease(true);
    this.leadership.update();
  }

  /** The lease ended: out of the election now, and a new lease as soon as etcd grants one. */
  private sessionLost(lost: FleetSession, reason: string): void {
    if (this.left || this.sessionValue !== lost) return;
    trace(`fleet ${this.keys.prefix}: ${this.replicaId}: ${reason}; getting a new lease`);
    this.sessionValue = null;
    this.reachability.lease(false);
    this.leadership.update();
    const attempt = (delayMs: number): void => {
      if (this.left) return;
      FleetSession.open(this.client, this.keys, this.replicaId, this.options.leaseTtlSeconds).then(
        (session) => {
          if (this.left) return void session.close(true);
          this.adopt(session);
          void this.publisher.publish();
          // If etcd kept the old lease through an outage, its keys would linger until it expires.
          void lost.close(true);
        },
        (error: unknown) => {
          trace(`fleet ${this.keys.prefix}: ${this.replicaId}: no new lease yet (${messageOf(error)})`);
          unrefTimer(this.clock.setTimeout(() => attempt(Math.min(delayMs * 2, MAX_SESSION_RETRY_MS)), delayMs));
        },
      );
    };
    attempt(100);
  }

  private reachabilityChanged(reachable: boolean, downForMs: number, what: string): void {
    if (reachable) {
      trace(`fleet ${this.keys.prefix}: ${this.replicaId}: etcd reachable again`);
    } else {
      const at = this.lastApplied === null ? 'none' : `revision ${this.lastApplied.revision}`;
      emitClientWarning(
        `fleet ${this.keys.prefix}: etcd unreachable from replica ${this.replicaId} for ${downForMs} ms ` +
          `(${what}); it keeps serving with the weights it applied last (${at}) and catches up when etcd is back`,
        'TRAFFIC_SPLIT_FLEET_ETCD_UNREACHABLE',
      );
    }
    this.emit('etcd', { reachable });
  }
}
