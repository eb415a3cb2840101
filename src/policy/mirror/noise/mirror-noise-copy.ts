/**
 * The baseline's copy of a mirrored call (the third answer of the three-way comparison): the
 * request bytes and metadata entries the mirror's copy carries, to the noise subset, started in
 * the same turn as that copy, with the same deadline, the call's credentials and no parent. Like
 * that copy it is made on a copy channel of the client's channel (mirror-channels.ts), the one
 * to the noise subset: never wait-for-ready, never retried, sharing no retry throttle, retry
 * buffer, hedging policy or call queue with a primary. Its answer is kept for the comparison
 * only, and only if the split's byte bound has room for it (`keepAnswer`); its end is counted in
 * `stats().mirror.noise`, never in a subset's figures. `close()` of the split cancels it with
 * the other copies in flight.
 * @module
 */
import { status as Status, type InterceptorOptions, type Metadata, type StatusObject } from '@grpc/grpc-js';
import type { CopyLease, SplitChannel } from '../mirror-channels.js';
import type { EndedSide } from '../mirror-compare.js';
import { endedLocally, startCopyCall, type CopyCall } from '../mirror-copy-call.js';
import type { LiveCopy, MirrorController } from '../mirror.js';
import type { NoiseTally } from './mirror-noise.js';

/** Where and how the baseline copy is made; all of it is the mirror's copy's too. */
export interface BaselineLaunch {
  controller: MirrorController;
  tally: NoiseTally;
  /** The client's channel: the copy goes on its copy channel to `subsetIndex`. */
  channel: SplitChannel;
  /** Index of the noise subset in the split. */
  subsetIndex: number;
  options: InterceptorOptions;
  /** The copy's own metadata (a private clone, made a copy's by `copyMetadataOf`). */
  metadata: Metadata;
  request: Buffer;
  timeoutMs: number;
  /** The answer as it arrives: what to keep of it for the comparison (null: nothing, the byte
   * bound had no room). */
  keepAnswer: (bytes: Buffer) => Buffer | null;
  /** Called before `onEnded` when the copy channel refused an answer larger than the byte
   * bound (mirror-channels.ts): as `keepAnswer` finding no room. */
  onRefused: () => void;
  /** Called once, when the baseline copy ended, with how it ended. */
  onEnded: (side: EndedSide) => void;
}

/** One baseline copy in flight, then ended. */
export class BaselineCopy implements LiveCopy {
  private call: CopyCall | null = null;
  private headers: Metadata | null = null;
  private bytes: Buffer | null = null;
  private answered = false;
  private ended = false;
  private lease: CopyLease | null = null;

  private readonly controller: MirrorController;
  private readonly keepAnswer: (bytes: Buffer) => Buffer | null;
  private readonly onRefused: () => void;
  private readonly onEnded: (side: EndedSide) => void;

  /** Keeps of `launch` what it needs once started: not the request or its metadata. */
  private constructor(launch: BaselineLaunch) {
    this.controller = launch.controller;
    this.keepAnswer = launch.keepAnswer;
    this.onRefused = launch.onRefused;
    this.onEnded = launch.onEnded;
  }

  /** Starts the baseline copy of a launched copy; never throws (a failure to start is its end). */
  static start(launch: BaselineLaunch): BaselineCopy {
    const copy = new BaselineCopy(launch);
    copy.begin(launch);
    return copy;
  }

  private begin(launch: BaselineLaunch): void {
    const { controller, tally, channel, subsetIndex, options, metadata, request, timeoutMs } = launch;
    tally.baselineSent++;
    controller.track(this);
    const lease = controller.copies.lease(channel, subsetIndex);
    if (lease === null)
      return this.end(
        endedLocally(Status.UNAVAILABLE, "baseline copy could not start: the client's channel is closed"),
      );
    this.lease = lease;
    try {
      const call = startCopyCall(lease.channel, options, timeoutMs, metadata, request, {
        onReceiveMetadata: (headers) => (this.headers = headers),
        onReceiveMessage: (bytes) => this.onMessage(bytes),
        onReceiveStatus: (status) => this.end(status),
      });
      if (!this.ended) this.call = call;
    } catch (error) {
      // The copy channel may have been closed meanwhile: grpc-js throws from createCall then.
      this.end(endedLocally(Status.UNAVAILABLE, `baseline copy could not start: ${(error as Error)?.message}`));
    }
  }

  private onMessage(bytes: Buffer): void {
    // A unary answer has one message; grpc-js fails the call if a server sends more.
    if (this.answered) return;
    this.answered = true;
    try {
      this.bytes = this.keepAnswer(bytes);
    } catch {
      this.bytes = null;
    }
  }

  private end(status: StatusObject): void {
    if (this.ended) return;
    this.ended = true;
    const side: EndedSide = {
      code: status.code,
      details: status.details,
      headers: this.headers,
      trailers: status.metadata ?? null,
      bytes: this.bytes,
    };
    this.call = null;
    this.headers = this.bytes = null;
    this.controller.untrack(this);
    const refused = this.lease?.refusedByByteBound(status) === true;
    this.lease?.release();
    this.lease = null;
    try {
      if (refused) this.onRefused();
      this.onEnded(side);
    } catch {
      // The comparison's own errors are its business; the copy is over either way.
    }
  }

  cancel(details: string): void {
    this.call?.cancelWithStatus(Status.CANCELLED, details);
  }
}
