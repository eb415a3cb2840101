/**
 * The channels built from one split, and what the split reports of its subsets across them:
 * the least ready state, the states seen, the endpoints resolved.
 * @module
 */
import { ConnectivityState } from '../grpc/grpc.js';

/** What the split needs to know of one channel's policy. */
export interface ChannelView {
  subsetState(subset: number): ConnectivityState;
  subsetEndpointCount(subset: number): number;
}

/** Readiness order for "the least ready state across channels". */
const READINESS: Record<ConnectivityState, number> = {
  [ConnectivityState.READY]: 4,
  [ConnectivityState.CONNECTING]: 3,
  [ConnectivityState.IDLE]: 2,
  [ConnectivityState.TRANSIENT_FAILURE]: 1,
  [ConnectivityState.SHUTDOWN]: 0,
};

export class ChannelRegistry {
  private readonly channels = new Set<ChannelView>();

  add(channel: ChannelView): void {
    this.channels.add(channel);
  }

  remove(channel: ChannelView): void {
    this.channels.delete(channel);
  }

  get size(): number {
    return this.channels.size;
  }

  /** The least ready state of `subset` across channels (READY only when READY everywhere);
   * IDLE without channels. */
  subsetState(subset: number): ConnectivityState {
    let worst: ConnectivityState | null = null;
    for (const channel of this.channels) {
      const state = channel.subsetState(subset);
      if (worst === null || READINESS[state] < READINESS[worst]) worst = state;
    }
    return worst ?? ConnectivityState.IDLE;
  }

  /** How many channels see `subset` in each state. */
  subsetStateCounts(subset: number): Partial<Record<keyof typeof ConnectivityState, number>> {
    const counts: Partial<Record<keyof typeof ConnectivityState, number>> = {};
    for (const channel of this.channels) {
      const name = ConnectivityState[channel.subsetState(subset)] as keyof typeof ConnectivityState;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }

  /** Resolved endpoints of `subset` (the largest count any channel has). */
  subsetEndpointCount(subset: number): number {
    let most = 0;
    for (const channel of this.channels) most = Math.max(most, channel.subsetEndpointCount(subset));
    return most;
  }
}
