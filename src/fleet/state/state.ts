/**
 * What this replica knows of the fleet's keys, kept by the watch (watch.ts) in revision order:
 * the weights, the rollout record, the latest snapshot request, the candidates for leading and
 * every live replica's figures. Each change is told to the parts of the fleet that act on it.
 * A value that is not the fleet's format is skipped with one log line.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { IKeyValue } from 'etcd3';
import { logError } from '../../split/fleet-port.js';
import { jsonObjectOf, keyOf } from '../etcd/etcd.js';
import { decodePublication } from './figures.js';
import { revision, type FleetKeys } from '../etcd/keys.js';
import { REPLICA_ID_PATTERN } from '../options.js';
import { PublicationStore } from './publications.js';
import { decodeRecord, type FleetRolloutRecord } from '../rollout/rollout-record.js';
import type { WatchSink } from '../etcd/watch.js';
import { decodeWeights, type WeightsValue } from './weights-value.js';

/** A candidate key ends in its lease id in hex (session.ts); a figures key in a replica id. */
const CANDIDATE_SUFFIX = /^[0-9a-f]{1,16}$/;

/** A value with the revision that last changed its key. */
export interface Versioned<T> {
  readonly value: T;
  readonly modRevision: bigint;
}

/** A candidate for leading: the key's replica and create revision (the oldest leads). */
export interface Candidate {
  readonly key: string;
  readonly replica: string;
  readonly created: bigint;
}

export interface FleetStateEvents {
  /** A new revision of the weights (in order; at the start, the one in force). */
  weights: [weights: Versioned<WeightsValue>];
  /** The rollout record changed (or was read at the start). */
  record: [record: Versioned<FleetRolloutRecord>];
  /** A snapshot request was written at this revision. */
  snapshot: [revision: bigint];
  /** A candidate came or went. */
  candidates: [];
  /** The watch stream went down or up. */
  connected: [up: boolean];
}

export class FleetState extends EventEmitter<FleetStateEvents> implements WatchSink {
  weights: Versioned<WeightsValue> | null = null;
  record: Versioned<FleetRolloutRecord> | null = null;
  /** The last revisions of the weights and rollout keys, readable or not (0: no key): what a
   * compare-and-swap compares against. */
  weightsKeyRevision = 0n;
  recordKeyRevision = 0n;
  /** The latest snapshot request's revision; 0 before any. */
  snapshot = 0n;
  readonly candidates = new Map<string, Candidate>();
  readonly publications = new PublicationStore();

  constructor(private readonly keys: FleetKeys) {
    super();
  }

  /** The candidate that leads: the oldest key. */
  leader(): Candidate | null {
    let oldest: Candidate | null = null;
    for (const candidate of this.candidates.values())
      if (oldest === null || candidate.created < oldest.created) oldest = candidate;
    return oldest;
  }

  reset(kvs: readonly IKeyValue[]): void {
    this.candidates.clear();
    for (const replica of this.publications.replicas()) this.publications.remove(replica);
    for (const kv of kvs) this.event('put', kv);
    this.emit('candidates');
  }

  event(type: 'put' | 'delete', kv: IKeyValue): void {
    const key = keyOf(kv);
    const modRevision = revision(kv.mod_revision);
    // The watch sees the whole prefix, so also the keys of any fleet whose prefix lies under this
    // one's (`<prefix>/election/...`): only the exact shapes this fleet writes are its own.
    if (key.startsWith(this.keys.election)) {
      if (!CANDIDATE_SUFFIX.test(key.slice(this.keys.election.length))) return;
      if (type === 'delete') this.candidates.delete(key);
      else
        this.candidates.set(key, { key, replica: kv.value.toString('utf8'), created: revision(kv.create_revision) });
      this.emit('candidates');
    } else if (key.startsWith(this.keys.replicas)) {
      const replica = key.slice(this.keys.replicas.length);
      if (!REPLICA_ID_PATTERN.test(replica)) return;
      if (type === 'delete') return this.publications.remove(replica);
      const publication = decodePublication(jsonObjectOf(kv));
      if (publication === null || publication.replica !== replica)
        return logError(
          `fleet ${this.keys.prefix}: figures of ${replica} at revision ${modRevision} are not a fleet's; skipped`,
        );
      this.publications.put(publication);
    } else if (type === 'delete') {
      // The fleet never deletes its other keys; one deleted by hand changes nothing here.
    } else if (key === this.keys.weights) {
      this.weightsPut(kv, modRevision);
    } else if (key === this.keys.rollout) {
      this.recordPut(kv, modRevision);
    } else if (key === this.keys.snapshot) {
      this.snapshot = modRevision;
      this.emit('snapshot', modRevision);
    }
  }

  connected(up: boolean): void {
    this.emit('connected', up);
  }

  rewound(): void {
    this.weightsKeyRevision = 0n;
    this.recordKeyRevision = 0n;
    this.snapshot = 0n;
  }

  private weightsPut(kv: IKeyValue, modRevision: bigint): void {
    // A read after a resynchronisation may bring a revision already applied: once each.
    if (modRevision <= this.weightsKeyRevision) return;
    this.weightsKeyRevision = modRevision;
    const value = decodeWeights(jsonObjectOf(kv));
    if (typeof value === 'string')
      return logError(`fleet ${this.keys.prefix}: weights at revision ${modRevision} skipped: ${value}`);
    this.weights = { value, modRevision };
    this.emit('weights', this.weights);
  }

  private recordPut(kv: IKeyValue, modRevision: bigint): void {
    if (modRevision <= this.recordKeyRevision) return;
    this.recordKeyRevision = modRevision;
    const value = decodeRecord(jsonObjectOf(kv));
    if (typeof value === 'string')
      return logError(`fleet ${this.keys.prefix}: rollout record at revision ${modRevision} skipped: ${value}`);
    this.record = { value, modRevision };
    this.emit('record', this.record);
  }
}
