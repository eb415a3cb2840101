/**
 * A ChannelControlHelper that records what a policy tells the channel, in order, and fails the
 * test on anything a policy must not do here (create subchannels: the fake children make none).
 */
import * as grpc from '@grpc/grpc-js';

type Helper = grpc.experimental.ChannelControlHelper;

/** One `updateState` call. */
export interface StateUpdate {
  readonly state: grpc.connectivityState;
  readonly picker: grpc.experimental.Picker;
  readonly errorMessage: string | null;
}

export interface RecordingHelper extends Helper {
  readonly updates: StateUpdate[];
  /** The names of the states reported so far, in order: `['CONNECTING', 'READY']`. */
  states(): string[];
  /** The last update; throws when there is none. */
  last(): StateUpdate;
  readonly reresolutionRequests: number;
}

export function recordingHelper(): RecordingHelper {
  const updates: StateUpdate[] = [];
  let reresolutionRequests = 0;
  return {
    updates,
    states: () => updates.map((u) => grpc.connectivityState[u.state]!),
    last() {
      const update = updates[updates.length - 1];
      if (update === undefined) throw new Error('no updateState call recorded');
      return update;
    },
    get reresolutionRequests() {
      return reresolutionRequests;
    },
    createSubchannel() {
      throw new Error('the fake child policies create no subchannels');
    },
    updateState(state, picker, errorMessage) {
      updates.push({ state, picker, errorMessage: errorMessage ?? null });
    },
    requestReresolution() {
      reresolutionRequests++;
    },
    addChannelzChild() {},
    removeChannelzChild() {},
  };
}
