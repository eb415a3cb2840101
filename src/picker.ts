/**
 * The per-call pick: the split's shared schedule chooses a subset, that subset's child picker
 * chooses the endpoint. Never throws; failures are pick results.
 * @internal
 * @module
 */
import { Metadata, PickResultType, Status, type PickArgs, type PickResult, type Picker } from './grpc.js';
import type { SubsetCounters } from './counters.js';
import type { WeightedSchedule } from './scheduler.js';

/** A pick result the picker returns as is for every call: queue, or fail with UNAVAILABLE. */
export type FixedPickResult = PickResult & { subchannel: null; onCallStarted: null; onCallEnded: null };

export const QUEUE_RESULT: FixedPickResult = Object.freeze({
  pickResultType: PickResultType.QUEUE,
  subchannel: null,
  status: null,
  onCallStarted: null,
  onCallEnded: null,
});

/** An UNAVAILABLE failure; under wait-for-ready grpc-js queues the call instead. */
export function unavailableResult(details: string): FixedPickResult {
  return Object.freeze({
    pickResultType: PickResultType.TRANSIENT_FAILURE,
    subchannel: null,
    status: { code: Status.UNAVAILABLE, details, metadata: new Metadata() },
    onCallStarted: null,
    onCallEnded: null,
  });
}

export class TrafficSplitPicker implements Picker {
  /**
   * @param childPickers the current picker of every subset, by subset index
   * @param schedule the shared schedule over the subsets this channel may use now, or null
   * @param fallback what every keyless call gets when `schedule` is null
   */
  constructor(
    private readonly childPickers: readonly Picker[],
    private readonly schedule: WeightedSchedule | null,
    private readonly fallback: FixedPickResult,
    private readonly counters: SubsetCounters,
  ) {}

  pick(args: PickArgs): PickResult {
    const schedule = this.schedule;
    if (schedule === null) return this.fallback;
    const subset = schedule.next();
    const result = this.childPickers[subset]!.pick(args);
    return result.pickResultType === PickResultType.COMPLETE ? this.counters.attach(subset, result) : result;
  }
}

/** Calls of a closed split fail at once, wait-for-ready or not: the split will not come back. */
export function closedResult(splitName: string): FixedPickResult {
  return Object.freeze({
    pickResultType: PickResultType.DROP,
    subchannel: null,
    status: { code: Status.UNAVAILABLE, details: `traffic_split: split "${splitName}" is closed`, metadata: new Metadata() },
    onCallStarted: null,
    onCallEnded: null,
  });
}
