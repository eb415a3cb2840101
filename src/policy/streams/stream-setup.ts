/**
 * The stream options of a split (`rebalanceStreams`, `maxStreamAgeMs`, and `setWeights()`'s
 * per-change `rebalanceStreams`), validated with the one message template, and the split's
 * stream ender bound to its live state.
 * @module
 */
import { rendezvousPick } from '../../algorithms/routing/sticky-hash.js';
import type { SplitState } from '../balancer/split-state.js';
import { StreamEnder, type RebalanceStreamsOptions } from '../../algorithms/streams/stream-ender.js';
import { rejectUnknownKeys, requireObject, timerMs } from '../../base/validate.js';

/** `rebalanceStreams` at `field`: `{ withinMs }`, or `false` (off); undefined gives `fallback`. */
export function parseRebalanceStreams(
  field: string,
  raw: unknown,
  fallback: RebalanceStreamsOptions | null,
): RebalanceStreamsOptions | null {
  if (raw === undefined) return fallback;
  if (raw === false || raw === null) return null;
  const obj = requireObject(raw, field, 'an object { withinMs } or false');
  rejectUnknownKeys(obj, ['withinMs'], `${field}.`);
  return Object.freeze({ withinMs: timerMs(`${field}.withinMs`, obj['withinMs'], 0) });
}

/** `maxStreamAgeMs`: a positive number of milliseconds, or undefined (no limit). */
export function parseMaxStreamAgeMs(raw: unknown): number | null {
  return raw === undefined ? null : timerMs('maxStreamAgeMs', raw, 1);
}

/** The options object of `setWeights()`. */
export function parseSetWeightsOptions(
  raw: unknown,
  fallback: RebalanceStreamsOptions | null,
): RebalanceStreamsOptions | null {
  if (raw === undefined) return fallback;
  const obj = requireObject(raw, 'options', 'an object such as { rebalanceStreams: { withinMs: 1000 } }');
  rejectUnknownKeys(obj, ['rebalanceStreams', 'methods'], 'options.');
  return parseRebalanceStreams('options.rebalanceStreams', obj['rebalanceStreams'], fallback);
}

/** The ender of the streams of `state`'s channels. */
export function createStreamEnder(state: SplitState, seeds: Uint32Array, maxStreamAgeMs: number | null): StreamEnder {
  return new StreamEnder({
    book: state.streams,
    clock: state.clock,
    random: state.streamRandom,
    subsetNames: state.subsetNames,
    maxStreamAgeMs,
    planInputs: () => {
      const weights = state.weights;
      return {
        weights,
        ready: (subset) => (state.channels.subsetStateCounts(subset).READY ?? 0) > 0,
        mapKey: (key, eligible) => rendezvousPick(key, eligible, weights, seeds),
      };
    },
  });
}
