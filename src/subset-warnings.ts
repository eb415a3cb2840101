/**
 * One warning when a weighted subset leaves READY across a whole split, and one when it comes
 * back: a subset that cannot be reached gets no calls (its share goes to the others, by design),
 * and without these lines an operator would not know. A subset counts as READY while at least
 * one channel of the split has it READY, so a new channel still connecting, or one endpoint
 * flapping, logs nothing.
 * @internal
 * @module
 */
import { ConnectivityState } from './grpc.js';
import { logWarning } from './logging.js';
import type { SplitState } from './split-state.js';

interface SubsetLogState {
  /** A "left READY" warning was logged and its "READY again" line is owed. */
  warned: boolean;
  /** READY at least once (for the wording only). */
  seenReady: boolean;
}

/** What the log needs of one subset in one channel. */
export interface SubsetChildView {
  readonly state: ConnectivityState;
  readonly lastError: string | null;
}

const bySplit = new WeakMap<SplitState, SubsetLogState[]>();
/** Whether each channel's child was READY at its previous update. */
const readyBefore = new WeakMap<SubsetChildView, boolean>();

/** Called by a channel's policy after one of its subsets (`child`) changed state. */
export function noteSubsetState(split: SplitState, subset: number, child: SubsetChildView): void {
  const wasReady = readyBefore.get(child) ?? false;
  readyBefore.set(child, child.state === ConnectivityState.READY);
  if (split.closed) return;
  let entries = bySplit.get(split);
  if (entries === undefined) {
    entries = split.subsetNames.map(() => ({ warned: false, seenReady: false }));
    bySplit.set(split, entries);
  }
  const entry = entries[subset];
  if (entry === undefined) return;
  const counts = split.subsetStateCounts(subset);
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
  // Lost: the last channel that had it READY lost it, or every channel has given up on it. A
  // channel that is only starting (a new client, a channel back from IDLE) is neither.
  const channels = Object.values(counts).reduce((sum, n) => sum + n, 0);
  if (!wasReady && (channels === 0 || counts.TRANSIENT_FAILURE !== channels)) return;
  entry.warned = true;
  const states = Object.entries(counts).map(([state, n]) => `${state} in ${n} channel(s)`).join(', ');
  const error = child.lastError === null ? 'no error reported yet' : `last error: ${child.lastError}`;
  const what = entry.seenReady ? 'left READY' : 'has not become READY';
  logWarning(`${where} ${what} (${states}); it gets no calls until it is back; ${error}`);
}
