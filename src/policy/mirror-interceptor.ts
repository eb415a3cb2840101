/**
 * Where copies are made: the outermost layer of the split's interceptor. For an eligible unary
 * call it watches the primary (its request message, the subset its attempt started on, its
 * answer) and, when the mirror's schedule picks the call, starts an independent copy on the
 * primary's channel with `channel.createCall()`, the call grpc-js's own bottom interceptor makes
 * (client-interceptors.js `getCall`). Calling `nextCall` a second time would make one too, but
 * through the primary's method definition, which deserializes the answer: the copy's raw bytes,
 * what `compare: true` compares, would be lost (see mirror-capture.ts for the primary's). The copy:
 * - carries the same method, the request bytes the primary's serializer produced and the
 *   metadata entries as they were at the primary's start, with fresh metadata options (so
 *   never wait-for-ready) and a mirror hint that routes it to the mirror subset only;
 * - has its own deadline, no parent (a server handler's end must not cancel it), the call's own
 *   credentials, and is never awaited by the primary; its outcome is only counted.
 * The primary's own events pass through unchanged; every piece of mirror work on its path is
 * guarded so that nothing the mirror does can throw into the primary.
 * @module
 */
import { status as Status, type Interceptor, type InterceptorOptions, type Metadata, type NextCall, type StatusObject } from '@grpc/grpc-js';
import { InterceptingCall } from '@grpc/grpc-js';
import { withStartObserver } from './call-tracking.js';
import { captureOf, type CallChannel, type MirrorCapture } from './mirror-capture.js';
import { withHint } from './hints.js';
import { settleCopy, type EndedSide } from './mirror-compare.js';
import { BaselineCopy } from './mirror-noise-copy.js';
import { settleThreeWay } from './mirror-noise-settle.js';
import { DEFAULT_MIRROR_TIMEOUT_MS } from './mirror-options.js';
import type { LiveCopy, MirrorController, MirrorSession } from './mirror.js';

type Decision = 'undecided' | 'skipped' | 'chosen' | 'launched';
type CallInterface = ReturnType<NextCall>;
type ChannelCall = ReturnType<CallChannel['createCall']>;

/** `inner` (the split's interceptor), preceded by the mirror of `controller`. A call the mirror
 * does not concern (no mirror, a streaming or unlisted method) gets no extra layer at all. */
export function withMirror(inner: Interceptor, controller: MirrorController): Interceptor {
  return (options, nextCall) => {
    const session = controller.session;
    if (session === null || !session.accepts(options.method_definition)) return inner(options, nextCall);
    // Without the split's call guard (a client built without `channelOptions`) there is no
    // channel to copy on: the call is not mirrored.
    const capture = captureOf(options.method_definition);
    if (capture === undefined) return inner(options, nextCall);
    const call = new MirroredCall(controller, session, options, capture);
    return call.wrap(inner(withStartObserver(options, call.onStarted), nextCall));
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
  private copyCall: ChannelCall | null = null;
  private copyStartedAt = 0;
  private copyHeaders: Metadata | null = null;
  private copyBytes: Buffer | null = null;
  private copy: EndedSide | null = null;
  private copyDone = false;
  private settled = false;
  /** With `noise`: the baseline's copy of the call (mirror-noise-copy.ts). */
  private baseline: BaselineCopy | null = null;
  private slotReleased = false;

  constructor(
    private readonly controller: MirrorController,
    /** The mirror in force when the call was made; replaced by the one in force when its
     * attempt starts, which is the one that decides (and counts) it. */
    private session: MirrorSession,
    private readonly options: InterceptorOptions,
    private readonly capture: MirrorCapture,
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

  /** Told by the split's call record of each attempt's start; never throws. */
  readonly onStarted = (subset: number): void => guarded(() => this.onPrimaryStarted(subset));

  /** The primary's first attempt started on `subset` (later attempts change nothing). */
  private onPrimaryStarted(subset: number): void {
    if (this.decision !== 'undecided') return;
    this.primaryStartedAt = performance.now();
    // The mirror in force now decides: a mirror replaced (even by the same settings) between
    // the call's creation and its start must not leave the call undrawn by both.
    const session = this.controller.session;
    if (session === null || !session.accepts(this.options.method_definition)) {
      this.decision = 'skipped';
      return;
    }
    this.session = session;
    // A call that itself went to the mirror subset is not eligible: no draw, so the percentage
    // is exact over the calls that are.
    if (!session.eligible(subset) || this.controller.closed || !session.draw()) {
      this.decision = 'skipped';
      return;
    }
    // The slot is taken now, so concurrent decisions see it before the copy starts.
    if (!this.controller.takeSlot(session)) {
      session.figures.dropped();
      this.decision = 'skipped';
      return;
    }
    this.decision = 'chosen';
    if (this.hasMessage) this.queueLaunch();
  }

  /** The copy starts after the current turn of the event loop: the primary's own work (its
   * pick, its frames) goes first. */
  private queueLaunch(): void {
    if (this.launchQueued) return;
    this.launchQueued = true;
    setImmediate(() => guarded(() => this.launch()));
  }

  /** Starts the copy on the primary's channel, the way grpc-js's own bottom call starts a call
   * (deadline, credentials, start, message, half-close, read), in that order: one sequence. */
  private launch(): void {
    const session = this.session;
    const figures = session.figures;
    const cancelled = this.primary !== null && this.primary.code === Status.CANCELLED;
    if (!session.active || this.controller.closed || this.metadata === null || cancelled) {
      // Chosen, then replaced or closed before it could start, or its primary cancelled by the
      // application before the copy left (a copy of a call the application took back would
      // reach the mirror subset alone): dropped, so that every copy the schedule chose is
      // either sent or dropped.
      this.controller.releaseSlot(session);
      figures.dropped();
      this.decision = 'skipped';
      return;
    }
    const timeoutMs = this.copyTimeoutMs();
    if (timeoutMs <= 0) {
      this.controller.releaseSlot(session);
      figures.dropped();
      this.decision = 'skipped';
      return;
    }
    this.decision = 'launched';
    figures.sent();
    this.copyStartedAt = performance.now();
    this.controller.track(this);
    let request: Buffer;
    try {
      // The primary's own bytes when its serializer already ran (it normally has, in the same
      // turn as sendMessage); serialized here only if an interceptor holds the message back.
      request = this.capture.requestBytes ?? this.options.method_definition.requestSerialize(this.message);
    } catch (error) {
      return this.onCopyStatus(endedLocally(Status.INTERNAL, `mirror copy: request serialization failed: ${(error as Error)?.message}`));
    }
    // With `noise`, the same request goes to the baseline too, in the same turn.
    if (session.noise !== null) this.launchBaseline(session.noise, request, timeoutMs);
    try {
      const { options } = this;
      // No parent: the copy outlives a server handler that made the primary, by design.
      const call = this.capture.channel.createCall(options.method_definition.path, Date.now() + timeoutMs, options.host, null, undefined);
      this.copyCall = call;
      if (options.credentials !== undefined) call.setCredentials(options.credentials);
      call.start(this.copyMetadata(), {
        onReceiveMetadata: (headers: Metadata) => (this.copyHeaders = headers),
        onReceiveMessage: (bytes: Buffer) => {
          // A unary answer has one message; grpc-js fails the call if a server sends more.
          if (this.comparing && this.copyBytes === null) this.copyBytes = bytes;
        },
        onReceiveStatus: (status: StatusObject) => this.onCopyStatus(status),
      });
      call.sendMessageWithContext({}, request);
      call.halfClose();
      call.startRead();
    } catch (error) {
      // The channel may have been closed meanwhile: grpc-js throws from createCall then.
      this.onCopyStatus(endedLocally(Status.UNAVAILABLE, `mirror copy could not start: ${(error as Error)?.message}`));
    }
  }

  private launchBaseline(tally: NonNullable<MirrorSession['noise']>, request: Buffer, timeoutMs: number): void {
    const { controller, options, capture, metadata } = this;
    guarded(() => {
      const onEnded = () => {
        this.releaseSlotOnce();
        this.settle();
      };
      this.baseline = BaselineCopy.start({ controller, tally, channel: capture.channel, options, metadata: metadata!, request, deadline: Date.now() + timeoutMs, onEnded });
    });
  }

  /** Gives the launched call's slot back once its copy and its baseline copy (if any) ended:
   * `maxInFlight` bounds both. */
  private releaseSlotOnce(): void {
    if (this.slotReleased || !this.copyDone || (this.baseline !== null && this.baseline.ended === null)) return;
    this.slotReleased = true;
    this.controller.releaseSlot(this.session);
  }

  /** The copy's deadline: its own `timeoutMs`, else the primary's remaining time, capped. */
  private copyTimeoutMs(): number {
    const own = this.session.settings.timeoutMs;
    if (own !== null) return own;
    const deadline = this.options.deadline;
    const at = deadline instanceof Date ? deadline.getTime() : typeof deadline === 'number' ? deadline : Infinity;
    return Math.min(DEFAULT_MIRROR_TIMEOUT_MS, at - Date.now());
  }

  /** The primary's metadata entries with fresh options: no wait-for-ready, no call record of the
   * primary's, only the mirror hint that routes the copy. */
  private copyMetadata(): Metadata {
    // Already a private clone (taken at start); only this copy uses it from here on.
    const copy = this.metadata!;
    copy.setOptions({});
    const { token, splitName } = this.controller;
    return withHint(copy, { token, splitName, subset: this.session.settings.subset, retry: false, intercepted: true, mirror: { started: false } });
  }

  private onPrimaryMessage(message: unknown): void {
    // Taken as it arrives: the bytes cannot change, whatever the application does with the object.
    if (message === null || !this.comparing || (this.decision !== 'chosen' && this.decision !== 'launched')) return;
    // The bytes grpc-js just deserialized this message from (captured by the call guard).
    this.primaryBytes = this.capture.bytes;
  }

  private onPrimaryStatus(status: StatusObject): void {
    if (this.decision === 'undecided') this.decision = 'skipped'; // never started: nothing to copy
    if (this.decision === 'chosen' && !this.launchQueued) {
      // Chosen, but no request message ever came through (an interceptor before the split's
      // dropped it): give the slot back, there is nothing to copy.
      this.controller.releaseSlot(this.session);
      this.session.figures.dropped();
      this.decision = 'skipped';
    }
    if (this.decision === 'skipped') return;
    this.primaryDurationMs = performance.now() - this.primaryStartedAt;
    this.primary = { code: status.code, details: status.details, headers: this.primaryHeaders, trailers: status.metadata ?? null, bytes: this.primaryBytes };
    // Comparing waits for the next turn: the primary's caller gets its answer first.
    if (this.copyDone) setImmediate(() => guarded(() => this.settle()));
  }

  private onCopyStatus(status: StatusObject): void {
    if (this.copyDone) return;
    this.copyDone = true;
    this.controller.untrack(this);
    this.copyCall = null;
    this.copy = { code: status.code, details: status.details, headers: this.copyHeaders, trailers: status.metadata ?? null, bytes: this.copyBytes };
    this.releaseSlotOnce();
    guarded(() => this.session.figures.copyEnded(status.code, performance.now() - this.copyStartedAt));
    if (this.primary !== null) guarded(() => this.settle());
  }

  /** Both sides ended: count the copy once. */
  private settle(): void {
    if (this.settled || this.primary === null || this.copy === null) return;
    // With a baseline, the comparison waits for its answer too (it has the copy's deadline).
    if (this.baseline !== null && this.baseline.ended === null) return;
    this.settled = true;
    const figures = this.session.figures;
    figures.primaryEnded(this.primaryDurationMs);
    const noise = this.session.noise;
    if (noise !== null) return this.settleThreeWay(noise);
    const { verdict, sample, compareError } = settleCopy(this.session.settings, this.options.method_definition.path, this.primary, this.copy, this.capture.deserialize);
    figures.settled(verdict, sample, compareError);
    // Nothing of either call is held once counted.
    this.message = undefined;
    this.metadata = null;
    this.primaryBytes = this.copyBytes = null;
    this.primary = this.copy = null;
  }

  /** `settle()` with a baseline: three ways, over later turns (mirror-noise-settle.ts). */
  private settleThreeWay(tally: NonNullable<MirrorSession['noise']>): void {
    const { settings, figures } = this.session;
    const context = { settings, noise: settings.noise!, tally, method: this.options.method_definition.path, deserialize: this.capture.deserialize };
    const sides = { primary: this.primary!, canary: this.copy!, baseline: this.baseline?.ended ?? null };
    this.message = undefined;
    this.metadata = null;
    this.primaryBytes = this.copyBytes = null;
    this.primary = this.copy = this.baseline = null;
    void settleThreeWay(context, sides).then(({ verdict, sample, compareError }) => guarded(() => figures.settled(verdict, sample, compareError)));
  }

  cancel(details: string): void {
    this.copyCall?.cancelWithStatus(Status.CANCELLED, details);
  }
}

/** A status the copy ends with without reaching the channel. */
function endedLocally(code: Status, details: string): StatusObject {
  return { code, details, metadata: null as unknown as Metadata };
}
