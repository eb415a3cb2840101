/**
 * A replica's session with etcd: one lease, kept alive by the etcd3 client, that carries the
 * replica's figures and its candidacy for leading. When the lease ends (the replica died, was
 * paused or cut off longer than its TTL), etcd deletes both keys: the replica drops out of the
 * fleet's figures and out of the election at once.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Lease } from 'etcd3';
import type { EtcdClient } from './etcd.js';
import { messageOf } from '../errors.js';
import type { FleetKeys } from './keys.js';

export interface SessionEvents {
  /** A keepalive was answered: the lease runs for another TTL. */
  renewed: [];
  /** The lease is gone, or may be: its keys are (or will be) deleted by etcd. */
  lost: [reason: string];
}

export class FleetSession extends EventEmitter<SessionEvents> {
  /** The revision that created the candidate key: the term this session leads in, if it does. */
  readonly term: string;
  private ended = false;

  private constructor(
    readonly lease: Lease,
    readonly leaseId: string,
    readonly candidateKey: string,
    term: string,
  ) {
    super();
    this.term = term;
    lease.on('keepaliveSucceeded', () => this.emit('renewed'));
    lease.on('lost', (error) => this.end(`lease ${leaseId} lost: ${messageOf(error)}`));
  }

  /**
   * Grants the replica's lease and puts its candidate key under it. etcd looks for ended leases
   * only every 500 ms, so a lease granted for the whole `ttlSeconds` could end up to half a
   * second past it: the lease is granted one second shorter, and a replica that stops renewing
   * is out of the figures and the election within `ttlSeconds` of its last renewal.
   */
  static async open(
    client: EtcdClient,
    keys: FleetKeys,
    replicaId: string,
    ttlSeconds: number,
  ): Promise<FleetSession> {
    const lease = client.lease(grantedTtlSeconds(ttlSeconds));
    // A grant that fails also emits 'lost'; with a listener it is not an unhandled event.
    lease.on('lost', () => undefined);
    try {
      const leaseId = await lease.grant();
      const candidateKey = `${keys.election}${BigInt(leaseId).toString(16)}`;
      const put = await lease.put(candidateKey).value(replicaId).exec();
      return new FleetSession(lease, leaseId, candidateKey, put.header.revision);
    } catch (error) {
      lease.release();
      throw error;
    }
  }

  get lost(): boolean {
    return this.ended;
  }

  /** Stops renewing; with `revoke`, deletes the lease and its keys now (best effort). */
  async close(revoke: boolean): Promise<void> {
    this.ended = true;
    if (!revoke) return this.lease.release();
    try {
      await this.lease.revoke();
    } catch {
      // Unreachable: the lease expires by itself within its TTL.
    }
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('lost', reason);
  }
}

/** The TTL granted in etcd for a replica's `leaseTtlSeconds` (2 or more): one second less, for
 * etcd's 500 ms expiry check (see FleetSession.open). */
export function grantedTtlSeconds(leaseTtlSeconds: number): number {
  return Math.max(1, leaseTtlSeconds - 1);
}
