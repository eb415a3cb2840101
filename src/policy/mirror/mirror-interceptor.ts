/**
 * Where copies are made: the mirror's stage of the split's call pipeline, for the calls its call
 * guard chose to copy (mirror-capture.ts). It watches the primary (its request message, the
 * subset its attempt started on, its answer) and starts an independent copy on the copy channel
 * of the primary's channel (mirror-channels.ts; never the primary's own: a copy shares no retry
 * throttle, retry buffer, hedging policy or call queue with a primary). The copy carries the
 * request bytes the primary's serializer produced and the metadata entries as they were at the
 * primary's start; it has its own deadline, no parent, the call's own credentials, and is never
 * awaited by the primary: its outcome is only counted. With `noise`, a baseline copy goes out in
 * the same turn, the same way, to the noise subset (mirror-noise-copy.ts), and the comparison is
 * three ways (mirror-noise-settle.ts). Every byte a copy holds is first reserved in the split's
 * byte bound; a copy whose bytes, or its baseline's, would pass `maxBufferedBytes` is dropped.
 * The primary's own events pass through unchanged, and nothing the mirror does can throw into it.
 * @module
 */
import {
  status as Status,
  type InterceptorOptions,
  type Metadata,
  type NextCall,
  type StatusObject,
} from '@grpc/grpc-js';
import { InterceptingCall } from '@grpc/grpc-js';
import type { CopyStage } from '../call/call-pipeline.js';
import type { MirrorCallCapture } from './mirror-capture.js';
import type { CopyLease } from './mirror-channels.js';
import { settleCopy, type EndedSide, type Settlement } from './mirror-compare.js';
import { copyMetadataOf, copyTimeoutMs, endedLocally, startCopyCall, type CopyCall } from './mirror-copy-call.js';
import type { MirrorDropReason } from './mirror-figures.js';
import { BaselineCopy } from './noise/mirror-noise-copy.js';
import { settleThreeWay } from './noise/mirror-noise-settle.js';
import type { LiveCopy, MirrorController, MirrorSession } from './mirror.js';

type Decision = 'undecided' | 'skipped' | 'chosen' | 'launched';
type CallInterface = ReturnType<NextCall>;

/** The pipeline's copy stage for `controller`'s mirror (see `CopyStage`). */
export function mirrorStage(controller: MirrorController): CopyStage {
  return (context, options, inner) => {
    const capture = context.capture as MirrorCallCapture;
    const call = new MirroredCall(controller, capture.session, options, capture);
    context.observe(call.onStarted);
    return call.wrap(inner);
  };
}

/** Runs mirror work on the primary's path: a bug there must never reach the primary. */
function guarded(work: () => void): void {
  try {
    work();
  } catch {
    // Deliberately swallowed: the copy is optional, the primary is not.
  }
}

/** What a settlement that failed in a way it never should counts as: not compared. */
const NOT_SETTLED: Settlement = { verdict: 'notCompared', sample: null, compareError: false };

class MirroredCall implements LiveCopy {
  private decision: Decision = 'undecided';
  private metadata: Metadata | null = null;
  private message: unknown = undefined;
  private hasMessage = false;
  private launchQueued = false;
  private primaryStartedAt = 0;
  private primaryHeaders: Metadata | null = null;
  private primaryBytes: Buffer | null = null;
  private primaryDurationMs = 0;
  private primary: EndedSide | null = null;
  private lease: CopyLease | null = null;
  private copyCall: CopyCall | null = null;
  private copyStartedAt = 0;
  private copyHeaders: Metadata | null = null;
  private copyBytes: Buffer | null = null;
  private copy: EndedSide | null = null;
  private copyDone = false;
  private settled = false;
  /** Sent, then given up (an answer the byte bound could not hold): only its end is counted. */
  private abandoned = false;
  /** Bytes reserved in the byte bound for the request the copy sends (until the copy ends). */
  private requestBytesHeld = 0;
  /** Bytes reserved for the answers kept for comparison (until the comparison ends). */
  private answerBytesHeld = 0;
  /** With `noise`: whether its baseline copy runs, how it ended, and the bytes reserved for its
   * request (until it ends). */
  private baselineRunning = false;
  private baseline: EndedSide | null = null;
  private baselineRequestBytesHeld = 0;
  private slotReleased = false;

  constructor(
    private readonly controller: MirrorController,
    /** The configuration that chose the call (it counts the call's copy). */
    private readonly session: MirrorSession,
    private readonly options: InterceptorOptions,
    private readonly capture: MirrorCallCapture,
  ) {}

  private get comparing(): boolean {
    return this.session.settings.compare !== false;
  }

  wrap(primaryCall: CallInterface): InterceptingCall {
    return new InterceptingCall(primaryCall, {
      start: (metadata, _listener, next) => {
        // A private copy now: the application may change or reuse its Metadata once the call
        // started, and the copy must carry what the primary carried.
        guarded(() => (this.metadata = metadata.clone()));
        next(metadata, {
          onReceiveMetadata: (headers, nextListener) => {
            this.primaryHeaders = headers;
            nextListener(headers);
          },
          onReceiveMessage: (message, nextListener) => {
            guarded(() => this.onPrimaryMessage(message));
            nextListener(message);
          },
          onReceiveStatus: (status, nextListener) => {
            guarded(() => this.onPrimaryStatus(status));
            nextListener(status);
          },
        });
      },
      sendMessage: (message, next) => {
        this.message = message;
        this.hasMessage = true;
        next(message);
        if (this.decision === 'chosen') guarded(() => this.queueLaunch());
      },
    });
  }

  /** Told by the call's context of each attempt's start; never throws. */
  readonly onStarted = (subset: number): void => guarded(() => this.onPrimaryStarted(subset));

  /** The primary's first attempt started on `subset` (later attempts change nothing). */
  private onPrimaryStarted(subset: number): void {
    if (this.decision !== 'undecided') return;
    this.primaryStartedAt = performance.now();
    const session = this.session;
    // Replaced or closed since the call was made: the copy is given up.
    if (!session.active || this.controller.closed) {
      session.figures.dropped('mirrorChanged');
      return this.skip();
    }
    // A call that itself went to the mirror subset is not eligible: its draw goes to the next
    // call, so the percentage is exact over the calls that are.
    if (!session.eligible(subset)) {
      session.giveBack(true);
      return this.skip();
    }
    // The slot is taken now, so concurrent decisions see it before the copy starts.
    if (!this.controller.takeSlot(session)) {
      session.figures.dropped('maxInFlight');
      return this.skip();
    }
    this.decision = 'chosen';
    if (this.hasMessage) this.queueLaunch();
  }

  /** Not copied: nothing of the call is kept. */
  private skip(): void {
    this.decision = 'skipped';
    this.forgetRequest();
    this.metadata = null;
  }

  /** The copy starts after the current turn of the event loop: the primary's own work (its
   * pick, its frames) goes first. */
  private queueLaunch(): void {
    if (this.launchQueued) return;
    this.launchQueued = true;
    setImmediate(() => guarded(() => this.launch()));
  }

  /** Starts the copy on its copy channel (mirror-copy-call.ts), or drops it. */
  private launch(): void {
    if (this.decision !== 'chosen') return;
    const session = this.session;
    // Chosen, then replaced or closed before it could start, or its primary cancelled by the
    // application before the copy left (a copy of a call the application took back would reach
    // the mirror subset alone): dropped, so that every copy the schedule chose is accounted for.
    if (!session.active || this.controller.closed) return this.drop('mirrorChanged');
    if (this.metadata === null || this.primary?.code === Status.CANCELLED) return this.drop('primaryEnded');
    const timeoutMs = copyTimeoutMs(session.settings, this.options.deadline);
    if (timeoutMs <= 0) return this.drop('noTimeLeft');
    let request: Buffer | null = null;
    let serializationError: unknown = null;
    try {
      // The primary's own bytes when its serializer already ran (it normally has, in the same
      // turn as sendMessage); serialized here only if an interceptor holds the message back.
      request = this.capture.requestBytes ?? this.options.method_definition.requestSerialize(this.message);
    } catch (error) {
      serializationError = error;
    }
    if (request !== null) {
      // The baseline's request is held as long as its own call runs: both are reserved at once.
      const baselineBytes = session.noise === null ? 0 : request.length;
      if (!session.budget.reserve(request.length + baselineBytes)) return this.drop('maxBufferedBytes');
      this.requestBytesHeld = request.length;
      this.baselineRequestBytesHeld = baselineBytes;
    }
    this.decision = 'launched';
    this.forgetRequest();
    session.figures.sent();
    this.copyStartedAt = performance.now();
    this.controller.track(this);
    if (request === null) {
      return this.onCopyStatus(
        endedLocally(
          Status.INTERNAL,
          `mirror copy: request serialization failed: ${(serializationError as Error)?.message}`,
        ),
      );
    }
    // With `noise`, the same request goes to the baseline too, in the same turn.
    if (session.noise !== null) this.launchBaseline(session, request, timeoutMs);
    this.lease = this.controller.copies.lease(this.capture.channel, session.subsetIndex);
    if (this.lease === null)
      return this.onCopyStatus(
        endedLocally(Status.UNAVAILABLE, "mirror copy could not start: the client's channel is closed"),
      );
    const metadata = copyMetadataOf(this.metadata);
    this.metadata = null;
    try {
      const call = startCopyCall(this.lease.channel, this.options, timeoutMs, metadata, request, {
        onReceiveMetadata: (headers) => (this.copyHeaders = headers),
        onReceiveMessage: (bytes) => guarded(() => this.onCopyMessage(bytes)),
        onReceiveStatus: (status) => this.onCopyStatus(status),
      });
      if (!this.copyDone) this.copyCall = call;
    } catch (error) {
      this.onCopyStatus(endedLocally(Status.UNAVAILABLE, `mirror copy could not start: ${(error as Error)?.message}`));
    }
  }

  /** Starts the baseline copy (mirror-noise-copy.ts) with metadata of its own. */
  private launchBaseline(session: MirrorSession, request: Buffer, timeoutMs: number): void {
    const { controller, options, capture } = this;
    this.baselineRunning = true;
    try {
      BaselineCopy.start({
        controller,
        tally: session.noise!,
        channel: capture.channel,
        subsetIndex: session.noiseIndex,
        options,
        metadata: copyMetadataOf(this.metadata!.clone()),
        request,
        timeoutMs,
        keepAnswer: (bytes) => (this.abandoned ? null : this.keepAnswer(bytes)),
        onRefused: () => this.abandoned || this.drop('maxBufferedBytes'),
        onEnded: (side) => this.onBaselineStatus(side),
      });
    } catch {
      // Never expected (start() does not throw): without a baseline the copy is compared with
      // the fields already known as noise.
      this.onBaselineStatus(null);
    }
  }

  private onBaselineStatus(side: EndedSide | null): void {
    if (!this.baselineRunning) return;
    this.baselineRunning = false;
    this.session.budget.release(this.baselineRequestBytesHeld);
    this.baselineRequestBytesHeld = 0;
    this.releaseSlotOnce();
    if (this.abandoned) return;
    this.baseline = side;
    guarded(() => this.settle());
  }

  /** Gives the launched call's slot back once its copy and its baseline copy (if any) ended:
   * `maxInFlight` bounds both. */
  private releaseSlotOnce(): void {
    if (this.slotReleased || !this.copyDone || this.baselineRunning) return;
    this.slotReleased = true;
    this.controller.releaseSlot(this.session);
  }

  /** The request is sent (or will never be): the mirror keeps no reference to it. */
  private forgetRequest(): void {
    this.message = undefined;
    this.capture.requestBytes = null;
  }

  /**
   * Gives the copy up. Before it is sent it gives back its slot; once sent it is abandoned: its
   * call runs to its end (which gives the slot back) and is counted as ended, never compared.
   */
  private drop(reason: MirrorDropReason): void {
    this.session.figures.dropped(reason);
    this.releaseAnswers();
    // Nothing of any side is compared any more: no reference to their answers is kept.
    this.primary = this.copy = this.baseline = null;
    if (this.decision === 'launched') {
      this.abandoned = true;
      return;
    }
    this.controller.releaseSlot(this.session);
    this.skip();
  }

  /** Keeps an answer for comparison if the byte bound has room for it, else drops the copy. */
  private keepAnswer(bytes: Buffer): Buffer | null {
    if (!this.session.budget.reserve(bytes.length)) {
      this.drop('maxBufferedBytes');
      return null;
    }
    this.answerBytesHeld += bytes.length;
    return bytes;
  }

  private releaseAnswers(): void {
    this.session.budget.release(this.answerBytesHeld);
    this.answerBytesHeld = 0;
    this.primaryBytes = this.copyBytes = null;
  }

  private onPrimaryMessage(message: unknown): void {
    // The bytes grpc-js just deserialized this message from (captured by the call guard), taken
    // as they arrive: they cannot change, whatever the application does with the object. The
    // capture lets go of them at once: the mirror holds only what it accounts for.
    const bytes = this.capture.bytes;
    this.capture.bytes = null;
    if (message === null || bytes === null || !this.comparing || this.abandoned || this.primaryBytes !== null) return;
    if (this.decision === 'chosen' || this.decision === 'launched') this.primaryBytes = this.keepAnswer(bytes);
  }

  private onCopyMessage(bytes: Buffer): void {
    // A unary answer has one message; grpc-js fails the call if a server sends more.
    if (this.comparing && !this.abandoned && this.copyBytes === null) this.copyBytes = this.keepAnswer(bytes);
  }

  private onPrimaryStatus(status: StatusObject): void {
    this.capture.bytes = null;
    // A copy about to start still needs the request bytes; nothing else does.
    if (this.decision !== 'chosen') this.capture.requestBytes = null;
    if (this.decision === 'undecided') {
      // Never started: nothing to copy, and its draw goes to the next call.
      if (this.session.active) this.session.giveBack(true);
      this.skip();
    }
    // Chosen, but no request message ever came through (an interceptor before the split's
    // dropped it): there is nothing to copy.
    if (this.decision === 'chosen' && !this.launchQueued) this.drop('primaryEnded');
    if (this.decision === 'skipped' || this.abandoned) return;
    this.primaryDurationMs = performance.now() - this.primaryStartedAt;
    this.primary = {
      code: status.code,
      details: status.details,
      headers: this.primaryHeaders,
      trailers: status.metadata ?? null,
      bytes: this.primaryBytes,
    };
    // Comparing waits for the next turn: the primary's caller gets its answer first.
    if (this.copyDone) setImmediate(() => guarded(() => this.settle()));
  }

  private onCopyStatus(status: StatusObject): void {
    if (this.copyDone) return;
    this.copyDone = true;
    this.controller.untrack(this);
    this.copyCall = null;
    if (!this.abandoned && this.lease?.refusedByByteBound(status) === true) this.drop('maxBufferedBytes');
    this.lease?.release();
    this.lease = null;
    this.session.budget.release(this.requestBytesHeld);
    this.requestBytesHeld = 0;
    this.releaseSlotOnce();
    guarded(() => this.session.figures.copyEnded(status.code, performance.now() - this.copyStartedAt));
    if (this.abandoned) return;
    this.copy = {
      code: status.code,
      details: status.details,
      headers: this.copyHeaders,
      trailers: status.metadata ?? null,
      bytes: this.copyBytes,
    };
    if (this.primary !== null) guarded(() => this.settle());
  }

  /** Every side ended (with `noise`, the baseline copy too: it has the copy's deadline):
   * compare (in slices, over later turns), then count the copy once and let go of its answers. */
  private settle(): void {
    const { primary, copy, baseline } = this;
    if (this.settled || this.abandoned || primary === null || copy === null || this.baselineRunning) return;
    this.settled = true;
    this.primary = this.copy = this.baseline = null;
    const { settings, figures, noise } = this.session;
    figures.primaryEnded(this.primaryDurationMs);
    const method = this.options.method_definition.path;
    const deserialize = this.capture.deserialize;
    const settlement =
      noise === null
        ? settleCopy(settings, method, primary, copy, deserialize)
        : settleThreeWay(
            { settings, noise: settings.noise!, tally: noise, method, deserialize },
            { primary, canary: copy, baseline },
          );
    settlement
      .catch(() => NOT_SETTLED)
      .then(({ verdict, sample, compareError }) => guarded(() => figures.settled(verdict, sample, compareError)))
      .finally(() => guarded(() => this.releaseAnswers()));
  }

  cancel(details: string): void {
    this.copyCall?.cancelWithStatus(Status.CANCELLED, details);
  }
}
