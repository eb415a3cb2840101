/**
 * Every live replica's publications of figures, as this replica sees them through its watch,
 * and the marks that `stats({ since })` subtracts. A mark names a snapshot request (its etcd
 * revision); each replica answers it with a publication taken when it saw the request, in the
 * same turn in which it applied the weights written with it. That answer is the replica's
 * baseline in the mark: until it arrives, its latest publication stands in.
 * @module
 */
import type { StatsMark } from '../../split/fleet-port.js';
import { revision } from '../etcd/keys.js';
import type { Publication } from './figures.js';

/** Publications kept per replica: enough to find the answer to a request made moments ago. */
const HISTORY = 16;
/** Marks still waiting for answers, at most. */
const MAX_PENDING_MARKS = 64;

/** A mark of the fleet's figures (opaque to callers, like a split's). */
export class FleetMark {
  /** Per replica: its answer to `snapshot`, or its latest publication when the mark was made. */
  readonly baselines = new Map<string, Publication>();
  /** Replicas whose baseline is their answer to the request. */
  readonly answered = new Set<string>();
  /** The snapshot request's revision, once its write returned. */
  snapshot: bigint | null = null;

  constructor(
    readonly at: number,
    /** The store (one per fleet handle) whose publications the baselines are. */
    readonly store: PublicationStore,
  ) {}

  /** This mark, typed as the handle's marks are. */
  asStatsMark(): StatsMark {
    return this as unknown as StatsMark;
  }
}

export class PublicationStore {
  private readonly byReplica = new Map<string, Publication[]>();
  /** Marks whose baselines are not all answers yet. */
  private readonly pending = new Set<FleetMark>();
  private readonly listeners = new Set<() => void>();

  /** The latest publication of every live replica. */
  latest(): Publication[] {
    return [...this.byReplica.values()].map((history) => history[history.length - 1]!);
  }

  replicas(): string[] {
    return [...this.byReplica.keys()];
  }

  put(publication: Publication): void {
    const history = this.byReplica.get(publication.replica) ?? [];
    // A new instance under the same id starts a new history.
    const kept = history.length > 0 && history[0]!.instance !== publication.instance ? [] : history;
    kept.push(publication);
    if (kept.length > HISTORY) kept.shift();
    this.byReplica.set(publication.replica, kept);
    for (const mark of this.pending) this.settle(mark, publication.replica);
    for (const listener of this.listeners) listener();
  }

  /** The replica's lease ended (or it left): it drops out of every figure. */
  remove(replica: string): void {
    this.byReplica.delete(replica);
    for (const mark of this.pending)
      if (this.replicas().every((each) => mark.answered.has(each))) this.pending.delete(mark);
    for (const listener of this.listeners) listener();
  }

  /** A mark made now: the latest publications, to be replaced by the answers to `snapshot`. */
  mark(at: number): FleetMark {
    const mark = new FleetMark(at, this);
    for (const publication of this.latest()) mark.baselines.set(publication.replica, publication);
    this.pending.add(mark);
    // Marks nobody uses any more are never forgotten explicitly: keep the newest only.
    if (this.pending.size > MAX_PENDING_MARKS) this.pending.delete(this.pending.values().next().value!);
    return mark;
  }

  /** The mark's snapshot request was written at `snapshotRevision`: take the answers already here. */
  requested(mark: FleetMark, snapshotRevision: string): void {
    mark.snapshot = revision(snapshotRevision);
    for (const replica of this.byReplica.keys()) this.settle(mark, replica);
  }

  /** Stops refining the mark (its request failed, or nobody will ask for it again). */
  forget(mark: FleetMark): void {
    this.pending.delete(mark);
  }

  /** True once every live replica has published figures taken after the request at `snapshotRevision`. */
  allAnswered(snapshotRevision: bigint): boolean {
    return this.latest().every((publication) => revision(publication.ack) >= snapshotRevision);
  }

  /** Calls `listener` after every change; returns the function that removes it. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The replica's first publication that answers the mark's request, if it has arrived. */
  private settle(mark: FleetMark, replica: string): void {
    if (mark.snapshot === null || mark.answered.has(replica)) return;
    const answer = this.byReplica.get(replica)?.find((publication) => revision(publication.ack) >= mark.snapshot!);
    if (answer === undefined) return;
    mark.baselines.set(replica, answer);
    mark.answered.add(replica);
    if (this.replicas().every((each) => mark.answered.has(each))) this.pending.delete(mark);
  }
}
