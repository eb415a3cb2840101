/**
 * One warning when a weighted subset leaves READY across a whole split, and one when it comes
 * back: a subset that cannot be reached gets no calls (its share goes to the others, by design),
 * and without these lines an operator would not know. A subset counts as READY while at least
 * one channel of the split has it READY, and as lost once it is READY in none and a channel
 * failed to connect to it, so a new channel still connecting, an endpoint flapping while others
 * serve, or a reconnection after a GOAWAY, logs nothing.
 * @module
 */
import { logWarning } from '../grpc/logging.js';
import type { SplitState } from './split-state.js';

interface SubsetLogState {
  /** A "left READY" warning was logged and its "READY again" line is owed. */
  warned: boolean;
  /** READY at least once (for the wording only). */
  seenReady: boolean;
}

/** What the log needs of one subset in one channel. */
export interface SubsetChildView {
  readonly lastError: string | null;
}

const bySplit = new WeakMap<SplitState, SubsetLogState[]>();

/** Called by a channel's policy after one of its subsets (`child`) changed state. */
export function noteSubsetState(split: SplitState, subset: number, child: SubsetChildView): void {
  if (split.closed) return;
  let entries = bySplit.get(split);
  if (entries === undefined) {
    entries = split.subsetNames.map(() => ({ warned: false, seenReady: false }));
    bySplit.set(split, entries);
  }
  const entry = entries[subset];
  if (entry === undefined) return;
  const counts = split.channels.subsetStateCounts(subset);
  const where = `split "${split.name}": subset "${split.subsetNames[subset]}" (weight ${split.weights[subset]})`;
  if ((counts.READY ?? 0) > 0) {
    entry.seenReady = true;
    if (entry.warned) {
      entry.warned = false;
      logWarning(`${where} is READY again and gets its share of calls`);
    }
    return;
  }
  if (entry.warned || !(split.weights[subset]! > 0)) return;
  // Lost only once a channel has failed to connect: a reconnection after a GOAWAY, or a channel
  // that is starting (a new client, a channel back from IDLE), goes through IDLE and CONNECTING
  // back to READY without failing, and is not an outage.
  if ((counts.TRANSIENT_FAILURE ?? 0) === 0) return;
  entry.warned = true;
  const states = Object.entries(counts)
    .map(([state, n]) => `${state} in ${n} channel(s)`)
    .join(', ');
  const error = child.lastError === null ? 'no error reported yet' : `last error: ${child.lastError}`;
  const what = entry.seenReady ? 'left READY' : 'has not become READY';
  logWarning(`${where} ${what} (${states}); it gets no calls until it is back; ${error}`);
}
