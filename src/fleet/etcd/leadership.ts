/**
 * Who leads the fleet's rollouts: etcd's election recipe. Every replica's session puts a
 * candidate key under its lease; the candidate with the oldest key (lowest create revision)
 * leads, and its term is that revision. A leader's writes are fenced: each transaction requires
 * its candidate key to still exist with that create revision, which stops being true the
 * moment its lease ends, even if the leader does not know it yet (paused, cut off).
 * @module
 */
import { EventEmitter } from 'node:events';
import type { FleetCore, FleetLeaderChange } from './core.js';
import type { Condition } from './etcd.js';

export class Leadership extends EventEmitter<{ change: [change: FleetLeaderChange] }> {
  private last: FleetLeaderChange = { leading: false, leader: null, term: null };

  constructor(private readonly core: FleetCore) {
    super();
  }

  get leading(): boolean {
    return this.last.leading;
  }

  get current(): FleetLeaderChange {
    return { ...this.last };
  }

  /** Reads the election again (after a candidate came or went, or the session changed). */
  update(): void {
    const leader = this.core.state.leader();
    const session = this.core.session();
    const leading = leader !== null && session !== null && !session.lost && leader.key === session.candidateKey;
    const next: FleetLeaderChange = {
      leading,
      leader: leader?.replica ?? null,
      term: leader === null ? null : leader.created.toString(),
    };
    if (next.leading === this.last.leading && next.leader === this.last.leader && next.term === this.last.term) return;
    this.last = next;
    this.emit('change', { ...next });
  }

  /** The condition every write of the leader carries; null when it does not lead. */
  fence(): Condition | null {
    const session = this.core.session();
    if (!this.last.leading || session === null) return null;
    return { key: session.candidateKey, target: 'Create', revision: session.term };
  }
}
