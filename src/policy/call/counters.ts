/**
 * Per-subset call figures, shared by every channel of a split. What each figure counts is what
 * a rollout must judge a subset on, so attempts the application never saw as outcomes are kept
 * apart from the subset's answers:
 * - `started`: attempts whose stream started on the subset (grpc-js picks once per attempt);
 * - `finished` / `codes` / latency: attempts the subset answered (any status: OK, an error of the
 *   server, a lost connection, the deadline), timed from the stream's start to the status. A
 *   call made through the split's pipeline has its answered attempts counted by the
 *   pipeline, once the status the application gets is known (call-tracking.ts): grpc-js
 *   makes some answers another status above the transport (a unary call answered OK with no
 *   message is UNIMPLEMENTED for the application), and the committed attempt counts that one;
 * - `abandoned`: attempts grpc-js cancelled because another attempt of the same call won (a
 *   hedging policy's losers): not failures, not in the latency;
 * - `refused`: attempts the server refused before its application saw them (HTTP/2
 *   REFUSED_STREAM, such as a stream caught by a GOAWAY): grpc-js retries them transparently;
 * - `notStarted`: calls that ended without any attempt starting (queued until their deadline or
 *   a cancel, or failed at the pick), by status code; split-wide, and per subset when the call
 *   was bound to a subset that was not READY (explicit route or rule);
 * - `rebalanced`: streams the split itself ended (to follow new weights, or at their age limit):
 *   not failures of the subset, not in the latency.
 *
 * Counting happens in hooks of the pick results, which are wrapped, never mutated (a child
 * policy may return frozen results, or share one between picks): the picker returns a pooled
 * `Attempt` in the child's place, a pick result of its own whose hooks count and then call the
 * child's. Pooling it keeps the call path free of allocation. It is safe because grpc-js reads a
 * pick result only until it starts the call, then calls `onCallEnded` once, after which the
 * attempt returns to the pool; a result grpc-js drops without starting it is never reused.
 *
 * With `methods` (the split's `methodFigures`), every count also goes to the row of the call's
 * method on the subset (method-counters.ts), at the same moment, so the methods add up.
 *
 * Streams (calls the split's pipeline saw as streaming) are counted besides: their answered
 * attempts apart from the unary ones (the latency of a stream is its lifetime), what they ended
 * with after a first message, and, as each message arrives (call-tracking.ts), the time to the
 * first one and the gaps between them.
 * @module
 */
import type { AnsweredCall, CallContext } from './call-context.js';
import { noteAttemptRefused, noteAttemptStarted } from './call-attempts.js';
import type { MethodCounters } from './method-counters.js';
import { type Metadata, type PickResult, type SubchannelInterface } from '../grpc/grpc.js';
import { latencyBucket } from '../../algorithms/latency.js';
import {
  AnswerKind,
  CODE_COUNT,
  codeCounts,
  codeSlot,
  FigureTable,
  rowFigures,
  rowInFlight,
  type FigureRows,
  type RowFigures,
} from '../../algorithms/figure-rows.js';

export { CODE_COUNT };
// Plain constants: grpc-js's `Status` is read through getters in its CommonJS build.
const CANCELLED = 1;
const UNAVAILABLE = 14;

/**
 * The details grpc-js 1.14 gives the attempts it cancels when it commits to another attempt of
 * the same call (retrying-call.ts `commitCall`), and the status it makes of an HTTP/2
 * REFUSED_STREAM (subchannel-call.ts). Matching the exact strings is the only way the hooks can
 * tell them from a cancel by the application or an UNAVAILABLE answer.
 */
const HEDGE_DISCARDED_DETAILS = 'Discarded in favor of other hedged attempt';
const STREAM_REFUSED_DETAILS = 'Stream refused by server';

type EndedHook = (code: number, details: string, metadata: Metadata) => void;

/** One attempt between its pick and its status, and the pick result grpc-js gets for it.
 * Pooled: made once, reused. From its start to its end it holds a slot of a Float64Array for
 * its start time (storing a fresh double there allocates nothing); slots are taken at the start,
 * not at the pick, because only a started attempt is sure to end and give its slot back. */
class Attempt implements PickResult {
  pickResultType: PickResult['pickResultType'] = 0;
  subchannel: SubchannelInterface | null = null;
  status = null;
  readonly onCallStarted: () => void;
  readonly onCallEnded: EndedHook;
  subset = 0;
  /** The slot of the call's method in the per-method figures, from its start; -1 without them. */
  method = -1;
  record: CallContext | undefined = undefined;
  childStarted: (() => void) | null = null;
  childEnded: EndedHook | null = null;
  slot = 0;
  /** The split ended this attempt's stream itself (see stream-pick.ts). */
  endedBySplit = false;

  constructor(counters: SubsetCounters) {
    this.onCallStarted = () => counters.start(this);
    this.onCallEnded = (code, details, metadata) => counters.end(this, code, details, metadata);
  }
}

/** Marks a COMPLETE pick result of `attach()` whose stream the split is ending itself: its end
 * is counted in `rebalanced`, not as an answer of the subset. */
export function markEndedBySplit(result: PickResult): void {
  if (result instanceof Attempt) result.endedBySplit = true;
}

/** A copy of the cumulative figures at one moment; `stats({ since })` subtracts it. */
export interface CountersMark extends FigureRows {
  readonly at: number;
  /** The per-method figures then; null without them. */
  readonly methods: FigureRows | null;
}

/** Told of each answered attempt, as `countAnswer` counts it (the split's feed, call-feed.ts). */
export interface AnswerFeed {
  answered(subset: number, code: number, durationMs: number, call: AnsweredCall | null, messages: number): void;
}

/** One subset's figures (or, for `notStarted`, the split's), cumulative or since a mark. */
export type SubsetFigures = RowFigures;

/** Row `subset` of the table per subset; `rebalanced` counts the streams the split ended itself,
 * and `notStarted` has one more row, `subsetCount`, for every call. It never grows. */
export class SubsetCounters extends FigureTable {
  /** Idle attempts; as many exist as attempts were ever picked and not yet ended at once. An
   * attempt whose pick grpc-js drops without starting it is left to the garbage collector. */
  private readonly pool: Attempt[] = [];
  /** Start times of started attempts, by slot, and the free slots. */
  private startTimes = new Float64Array(64);
  private readonly freeSlots: number[] = [];
  private slotCount = 0;
  /** Told of every answered attempt (what `finished` counts) while telemetry is on; null otherwise.
   * `method` is the slot of the call's method in `methods`, -1 without them. */
  finishObserver:
    ((subset: number, code: number, durationMs: number, method: number, streaming: boolean) => void) | null = null;
  /** Told of each stream's first message (`gap` false) and of each gap before a later one, while
   * telemetry is on; null otherwise. */
  streamObserver: ((subset: number, gap: boolean, ms: number, method: number) => void) | null = null;
  /** The split's feed of answered attempts (call-feed.ts), while it has a listener; else null. */
  feed: AnswerFeed | null = null;
  /** The per-method figures (the split's `methodFigures`); null when off, and then nothing on the
   * call path looks at the method. */
  methods: MethodCounters | null = null;

  constructor(readonly subsetCount: number) {
    super(subsetCount);
    this.notStarted = new Float64Array((subsetCount + 1) * CODE_COUNT);
  }

  /**
   * A COMPLETE pick result of `subset`'s child, wrapped so that the attempt is counted: the same
   * subchannel, with hooks that count and then call the child's own hooks (as grpc-js's
   * weighted_round_robin wraps its children's results). `record` is the call's context, when it
   * has one.
   */
  attach(subset: number, result: PickResult, record: CallContext | undefined): PickResult {
    const attempt = this.pool.pop() ?? new Attempt(this);
    attempt.pickResultType = result.pickResultType;
    attempt.subchannel = result.subchannel;
    attempt.subset = subset;
    attempt.record = record;
    attempt.childStarted = result.onCallStarted;
    attempt.childEnded = result.onCallEnded;
    return attempt;
  }

  /** Only when every slot made so far is in use. */
  private newSlot(): number {
    const slot = this.slotCount++;
    if (slot >= this.startTimes.length) {
      const grown = new Float64Array(this.startTimes.length * 2);
      grown.set(this.startTimes);
      this.startTimes = grown;
    }
    return slot;
  }

  /** @internal The attempt's stream started. */
  start(attempt: Attempt): void {
    this.started[attempt.subset]!++;
    const methods = this.methods;
    if (methods !== null) {
      attempt.method = methods.slotOf(attempt.record);
      methods.table.started[methods.row(attempt.method, attempt.subset)]!++;
    }
    attempt.slot = this.freeSlots.pop() ?? this.newSlot();
    const startedAt = performance.now();
    this.startTimes[attempt.slot] = startedAt;
    if (attempt.record !== undefined) {
      const first = !attempt.record.started;
      attempt.record.started = true;
      // Placed: a later attempt is placed by what the call tried (call-attempts.ts).
      attempt.record.waitingFor = -1;
      noteAttemptStarted(attempt.record, attempt.subset, attempt.subchannel);
      attempt.record.attemptStarted(attempt.subset, first);
      attempt.record.answers?.attemptStarted(attempt.subset, startedAt);
    }
    attempt.childStarted?.();
  }

  /** @internal The attempt ended; grpc-js calls this once, and only after `start`. */
  end(attempt: Attempt, code: number, details: string, metadata: Metadata): void {
    const subset = attempt.subset;
    const method = attempt.method;
    // The method's row, where the subset's count goes (-1 without per-method figures).
    const row = method < 0 ? -1 : this.methods!.row(method, subset);
    if (attempt.endedBySplit) {
      this.rebalanced[subset]!++;
      if (row >= 0) this.methods!.table.rebalanced[row]!++;
    } else if (code === CANCELLED && details === HEDGE_DISCARDED_DETAILS) {
      this.abandoned[subset]!++;
      if (row >= 0) this.methods!.table.abandoned[row]!++;
    } else if (code === UNAVAILABLE && details === STREAM_REFUSED_DETAILS) {
      this.refused[subset]!++;
      if (row >= 0) this.methods!.table.refused[row]!++;
      if (attempt.record !== undefined) noteAttemptRefused(attempt.record, subset, attempt.subchannel);
    } else {
      const durationMs = performance.now() - this.startTimes[attempt.slot]!;
      const answers = attempt.record?.answers;
      if (answers != null) answers.attemptAnswered(subset, code, durationMs);
      else this.countAnswer(subset, code, durationMs, method);
    }
    attempt.method = -1;
    const childEnded = attempt.childEnded;
    this.freeSlots.push(attempt.slot);
    attempt.subchannel = null;
    attempt.record = undefined;
    attempt.childStarted = null;
    attempt.childEnded = null;
    attempt.endedBySplit = false;
    this.pool.push(attempt);
    childEnded?.(code, details, metadata);
  }

  /**
   * One attempt `subset` answered, counted with `code` in `finished`, `codes` and the latency;
   * `method` is its call's slot in `methods` (-1: none). `call` is what the pipeline knows of its
   * call (null: nothing, a unary call to the figures), `messages` the messages it delivered.
   */
  countAnswer(
    subset: number,
    code: number,
    durationMs: number,
    method = -1,
    call: AnsweredCall | null = null,
    messages = 0,
  ): void {
    const codeAt = codeSlot(code);
    const bucket = latencyBucket(durationMs);
    const kind =
      call === null || !call.streaming
        ? AnswerKind.Unary
        : messages > 0
          ? AnswerKind.StreamAfterMessage
          : AnswerKind.Stream;
    this.addAnswer(subset, codeAt, bucket, kind);
    const methods = this.methods;
    if (methods !== null && method >= 0) methods.table.addAnswer(methods.row(method, subset), codeAt, bucket, kind);
    this.finishObserver?.(subset, code, durationMs, method, kind !== AnswerKind.Unary);
    this.feed?.answered(subset, code, durationMs, call, messages);
  }

  /** A stream's first message (`gap` false, `ms` from its attempt's start) or the gap before a
   * later message, on `subset`; `method` is its call's slot in `methods` (-1: none). */
  countStreamMessage(subset: number, gap: boolean, ms: number, method: number): void {
    const bucket = latencyBucket(ms);
    this.addStreamMessage(subset, bucket, gap);
    const methods = this.methods;
    if (methods !== null && method >= 0) methods.table.addStreamMessage(methods.row(method, subset), bucket, gap);
    this.streamObserver?.(subset, gap, ms, method);
  }

  /** A call ended without any attempt starting; `subset` is the one it was bound to, or -1;
   * `method` is its slot in `methods` (-1: none). */
  notStartedCall(subset: number, code: number, method = -1): void {
    const codeAt = codeSlot(code);
    this.notStarted[this.subsetCount * CODE_COUNT + codeAt]!++;
    if (subset < 0 || subset >= this.subsetCount) return;
    this.notStarted[subset * CODE_COUNT + codeAt]!++;
    const methods = this.methods;
    if (methods === null || method < 0) return;
    methods.table.notStarted[methods.row(method, subset) * CODE_COUNT + codeAt]!++;
  }

  /** The slot of the call of `context` in `methods` (resolved once per call), or -1 without them. */
  methodSlotOf(context: CallContext): number {
    return this.methods === null ? -1 : this.methods.slotOf(context);
  }

  /** Attempts started on `subset` and not counted yet: not ended, or answered and waiting for
   * their call's status to reach the split's interceptor (a few ticks). */
  inFlight(subset: number): number {
    return rowInFlight(this, subset);
  }

  mark(): CountersMark {
    return Object.freeze({ at: Date.now(), ...this.copy(), methods: this.methods?.table.copy() ?? null });
  }

  /** Calls of the whole split that never started, by code, cumulative or since `mark`. */
  splitNotStarted(since: CountersMark | null): Map<number, number> {
    return codeCounts(this.notStarted, since?.notStarted, this.subsetCount);
  }

  /** Figures of one subset, cumulative or since `mark`. */
  figures(subset: number, since: CountersMark | null): SubsetFigures {
    return rowFigures(this, since, subset);
  }
}
