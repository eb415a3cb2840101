/**
 * The channels mirror copies are made on: never a primary's. grpc-js keeps a retry throttle
 * (per target), a retry buffer, a hedging policy and a call queue per channel; a copy made on
 * its primary's channel shared all four. Each channel of the split's clients gets, at its first
 * copy, a copy channel of its own for the mirror subset (and one for the baseline subset of
 * `noise`, whose copies are made the same way): the same credentials and options, minus
 * the application's service config, with retries off (`grpc.enable_retries: 0`), aimed at the
 * split's `traffic-split-mirror:` target (mirror-resolver.ts: the subset's endpoints, a service
 * config without retry or hedging). Copy channels of one split with equal options and
 * credentials share their connections through grpc-js's subchannel pool.
 *
 * When copies are compared, a copy channel refuses answers larger than `maxBufferedBytes`
 * (`grpc.max_receive_message_length`): grpc-js fails such a call from the message's 5-byte
 * header, before it buffers the body, where the mirror could only drop it once grpc-js had
 * received and joined all of it on the event loop the primaries share.
 *
 * The split's clients build their channels through `channelFactoryOverride` (a client option the
 * split adds), which is how the copy channel learns the credentials (grpc-js exposes them
 * nowhere else) and when the client's channel closes. A copy channel closes when its client's
 * channel closes, or when the mirror stops copying to its subset (setMirror(null), another
 * subset), each time once its copies in flight ended. `close()` of the split closes them all at once.
 * @module
 */
import { Channel, ChannelCredentials, status as Status, type ChannelOptions, type StatusObject } from '@grpc/grpc-js';
import { channelClassOfOtherCopy } from '../grpc/grpc-copies.js';
import { mirrorTarget } from './mirror-resolver.js';
import { withCredentialsOption } from '../grpc/connection-sharing.js';

/** A channel of the split's clients: built by the split's channel factory, it keeps what it was
 * built with, for its copy channels. */
export class SplitChannel extends Channel {
  private closedFlag = false;

  constructor(
    target: string,
    readonly credentials: ChannelCredentials,
    readonly options: ChannelOptions,
    readonly copies: CopyChannels,
  ) {
    // The credentials also go to the policy, for connections shared between splits.
    super(target, credentials, withCredentialsOption(options, credentials));
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  override close(): void {
    super.close();
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.copies.primaryClosed(this);
  }
}

/** The client option that makes a client's channel a `SplitChannel` of `copies`. */
export function channelFactory(
  copies: CopyChannels,
): (target: string, credentials: ChannelCredentials, options: ChannelOptions) => Channel {
  return (target, credentials, options) => {
    if (!(credentials instanceof ChannelCredentials)) {
      // Credentials of another grpc-js copy (see grpc-copies.ts): a channel of that copy, never
      // mirrored, whose calls fail with the explanation of the two copies.
      const OtherChannel = channelClassOfOtherCopy(credentials);
      if (OtherChannel !== null) return new OtherChannel(target, credentials, options) as unknown as Channel;
    }
    return new SplitChannel(target, credentials, options, copies);
  };
}

/** grpc-js's `grpc.max_receive_message_length` when a channel does not set it. */
export const GRPC_DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

/** The largest answer a copy channel built from `options` receives: the client channel's own
 * limit, lowered to `answerLimit` (null: none; -1 in grpc-js: no limit). */
export function copyAnswerLimit(options: ChannelOptions, answerLimit: number | null): number {
  const set = options['grpc.max_receive_message_length'];
  const own = typeof set === 'number' ? set : GRPC_DEFAULT_MAX_RECEIVE_BYTES;
  if (answerLimit === null) return own;
  return own === -1 ? answerLimit : Math.min(own, answerLimit);
}

/** The options of a copy channel built from a client channel's `options`, receiving answers of
 * at most `answerLimit` bytes (null: the client channel's limit). */
export function copyChannelOptions(options: ChannelOptions, answerLimit: number | null = null): ChannelOptions {
  // The application's service config (retry, hedging, wait-for-ready, timeouts) is its
  // primaries'; the copy channel's comes from its resolver. Retries off on top: a copy is never
  // retried, hedged, or buffered for a retry, whatever a resolver says.
  const { 'grpc.service_config': _serviceConfig, ...rest } = options;
  return {
    ...rest,
    'grpc.enable_retries': 0,
    'grpc.service_config_disable_resolution': 1,
    'grpc.max_receive_message_length': copyAnswerLimit(options, answerLimit),
  };
}

/** True when grpc-js ended a call because its answer passed the channel's receive limit
 * (subchannel-call.js: RESOURCE_EXHAUSTED, "Received message larger than max (N vs M)"). */
export function refusedAsTooLarge(status: StatusObject): boolean {
  return status.code === Status.RESOURCE_EXHAUSTED && status.details.startsWith('Received message larger than max');
}

/** A copy's use of a copy channel: `release()` once the copy ended. */
export interface CopyLease {
  readonly channel: Channel;
  release(): void;
  /** True when `status` is the channel refusing an answer larger than the byte bound (the copy
   * counts as dropped, `maxBufferedBytes`, not as failed). False for a refusal at the client
   * channel's own limit, which its primary would meet too. */
  refusedByByteBound(status: StatusObject): boolean;
}

interface CopyChannel {
  readonly channel: Channel;
  /** Copies in flight on it. */
  live: number;
  /** No new copy on it; it closes once `live` is 0. */
  retired: boolean;
  closed: boolean;
  /** Its `grpc.max_receive_message_length`. */
  readonly maxReceiveBytes: number;
  /** Whether the byte bound, not the client channel's own limit, sets it. */
  readonly limitedByBound: boolean;
}

/** The copy channels of one split. */
export class CopyChannels {
  /** Open copy channels by client channel and subset index. Entries leave when retired, so a
   * client channel is only referenced while it has a copy channel in use. */
  private readonly open = new Map<SplitChannel, Map<number, CopyChannel>>();
  private closed = false;
  /** Largest answer the copy channels receive (the byte bound when copies are compared), or
   * null: the client channel's limit. */
  private answerLimit: number | null = null;

  constructor(private readonly splitId: string) {}

  /** Whether `channel` is one of this split's client channels (only those are mirrored). */
  owns(channel: unknown): channel is SplitChannel {
    return channel instanceof SplitChannel && channel.copies === this;
  }

  /** The copy channel of `primary` to `subset` for one copy, built at first use; null when the
   * client's channel or the split is closed. */
  lease(primary: SplitChannel, subset: number): CopyLease | null {
    if (this.closed || primary.closed) return null;
    let bySubset = this.open.get(primary);
    if (bySubset === undefined) this.open.set(primary, (bySubset = new Map()));
    let entry = bySubset.get(subset);
    if (entry === undefined) {
      const options = copyChannelOptions(primary.options, this.answerLimit);
      const channel = new Channel(mirrorTarget(this.splitId, subset), primary.credentials, options);
      const maxReceiveBytes = copyAnswerLimit(primary.options, this.answerLimit);
      const limitedByBound = maxReceiveBytes !== copyAnswerLimit(primary.options, null);
      entry = { channel, live: 0, retired: false, closed: false, maxReceiveBytes, limitedByBound };
      bySubset.set(subset, entry);
    }
    const leased = entry;
    leased.live++;
    let released = false;
    return {
      channel: leased.channel,
      release: () => {
        if (released) return;
        released = true;
        leased.live--;
        if (leased.retired && leased.live === 0) closeEntry(leased);
      },
      refusedByByteBound: (status) => leased.limitedByBound && refusedAsTooLarge(status),
    };
  }

  /** The client's channel closed: so do its copy channels, once their copies ended. */
  primaryClosed(primary: SplitChannel): void {
    this.retire((_subset, owner) => owner === primary);
  }

  /** Copies go to `subsets` only from now on (the mirror subset, and the baseline's with
   * `noise`; none: nowhere), receiving answers of at most `answerLimit` bytes (null: the client
   * channel's limit): the other copy channels close, and those whose limit this changes. */
  keepOnly(subsets: readonly number[], answerLimit: number | null = null): void {
    this.answerLimit = answerLimit;
    this.retire(
      (s, owner, entry) =>
        !subsets.includes(s) || entry.maxReceiveBytes !== copyAnswerLimit(owner.options, answerLimit),
    );
  }

  /** Closes every copy channel now (the split closed; its copies were cancelled). */
  close(): void {
    this.closed = true;
    for (const bySubset of this.open.values()) {
      for (const entry of bySubset.values()) {
        entry.retired = true;
        closeEntry(entry);
      }
    }
    this.open.clear();
  }

  /** Copy channels open now (for tests and figures). */
  get size(): number {
    let size = 0;
    for (const bySubset of this.open.values()) size += bySubset.size;
    return size;
  }

  private retire(matches: (subset: number, owner: SplitChannel, entry: CopyChannel) => boolean): void {
    for (const [owner, bySubset] of this.open) {
      for (const [subset, entry] of bySubset) {
        if (!matches(subset, owner, entry)) continue;
        entry.retired = true;
        bySubset.delete(subset);
        if (entry.live === 0) closeEntry(entry);
      }
      if (bySubset.size === 0) this.open.delete(owner);
    }
  }
}

function closeEntry(entry: CopyChannel): void {
  if (entry.closed) return;
  entry.closed = true;
  entry.channel.close();
}
