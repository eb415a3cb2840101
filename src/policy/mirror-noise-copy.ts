/**
 * The baseline's copy of a mirrored call (the third answer of the three-way comparison): the
 * request bytes and metadata entries the mirror's copy carries, to the noise subset, started in
 * the same turn as that copy, with the same deadline, the call's credentials, no parent, never
 * wait-for-ready and never retried (a mirror hint, as the copy's). Its answer is kept for the
 * comparison only; its end is counted in `stats().mirror.noise`, never in a subset's figures.
 * `close()` of the split cancels it with the other copies in flight.
 * @module
 */
import { status as Status, type InterceptorOptions, type Metadata, type StatusObject } from '@grpc/grpc-js';
import { withHint } from './hints.js';
import type { CallChannel } from './mirror-capture.js';
import type { EndedSide } from './mirror-compare.js';
import type { LiveCopy, MirrorController } from './mirror.js';
import type { NoiseTally } from './mirror-noise.js';

type ChannelCall = ReturnType<CallChannel['createCall']>;

/** Where and how the baseline copy is made; all of it is the mirror's copy's too. */
export interface BaselineLaunch {
  controller: MirrorController;
  tally: NoiseTally;
  channel: CallChannel;
  options: InterceptorOptions;
  /** The primary's metadata entries as they were at its start (not changed here). */
  metadata: Metadata;
  request: Buffer;
  deadline: number;
  /** Called once, when the baseline copy ended. */
  onEnded: () => void;
}

/** One baseline copy in flight, then ended. */
export class BaselineCopy implements LiveCopy {
  /** How it ended; null while it runs. */
  ended: EndedSide | null = null;
  private call: ChannelCall | null = null;
  private headers: Metadata | null = null;
  private bytes: Buffer | null = null;

  private readonly controller: MirrorController;
  private readonly onEnded: () => void;

  /** Keeps of `launch` what it needs once started: not the request or its metadata. */
  private constructor(launch: BaselineLaunch) {
    this.controller = launch.controller;
    this.onEnded = launch.onEnded;
  }

  /** Starts the baseline copy of a launched copy; never throws (a failure to start is its end). */
  static start(launch: BaselineLaunch): BaselineCopy {
    const copy = new BaselineCopy(launch);
    copy.begin(launch);
    return copy;
  }

  private begin(launch: BaselineLaunch): void {
    const { controller, tally, channel, options, request, deadline } = launch;
    tally.baselineSent++;
    controller.track(this);
    try {
      const call = channel.createCall(options.method_definition.path, deadline, options.host, null, undefined);
      this.call = call;
      if (options.credentials !== undefined) call.setCredentials(options.credentials);
      call.start(baselineMetadata(launch), {
        onReceiveMetadata: (headers: Metadata) => (this.headers = headers),
        onReceiveMessage: (bytes: Buffer) => {
          if (this.bytes === null) this.bytes = bytes;
        },
        onReceiveStatus: (status: StatusObject) => this.end(status),
      });
      call.sendMessageWithContext({}, request);
      call.halfClose();
      call.startRead();
    } catch (error) {
      // The channel may have been closed meanwhile: grpc-js throws from createCall then.
      this.end({ code: Status.UNAVAILABLE, details: `baseline copy could not start: ${(error as Error)?.message}`, metadata: null as unknown as Metadata });
    }
  }

  private end(status: StatusObject): void {
    if (this.ended !== null) return;
    this.ended = { code: status.code, details: status.details, headers: this.headers, trailers: status.metadata ?? null, bytes: this.bytes };
    this.call = null;
    this.headers = this.bytes = null;
    this.controller.untrack(this);
    try {
      this.onEnded();
    } catch {
      // The comparison's own errors are its business; the copy is over either way.
    }
  }

  cancel(details: string): void {
    this.call?.cancelWithStatus(Status.CANCELLED, details);
  }
}

/** The primary's entries with fresh options and the hint that routes to the baseline only. */
function baselineMetadata({ controller, metadata, tally }: BaselineLaunch): Metadata {
  const copy = metadata.clone();
  copy.setOptions({});
  return withHint(copy, { token: controller.token, splitName: controller.splitName, subset: tally.subset, retry: false, intercepted: true, mirror: { started: false } });
}
