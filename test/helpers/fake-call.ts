/**
 * A fake `nextCall` for driving an interceptor without a channel: every attempt it makes is
 * recorded, and the test plays the server's side (headers, message, status) and the picker's
 * (which subset the call's context records).
 */
import * as grpc from '@grpc/grpc-js';
import type { CallContext } from '../../src/policy/call/call-context.js';
import { contextIn } from './call-context.js';

/**
 * How the attempt calls the interceptor's listener: `direct` as grpc-js does with a listener
 * whose methods take one argument, `wrapped` as it does with any other listener (each method gets
 * a `next` as well; `nextCalls` counts its uses).
 */
export type ListenerMode = 'direct' | 'wrapped';

export class FakeAttempt {
  metadata: grpc.Metadata | null = null;
  listener: Partial<grpc.InterceptingListener> | null = null;
  readonly sent: unknown[] = [];
  halfClosed = false;
  cancelled: string | null = null;
  nextCalls = 0;
  constructor(private readonly mode: ListenerMode) {}

  /** The call context the attempt carries. */
  get context(): CallContext {
    return contextIn(this.metadata);
  }

  /** What the picker does for this attempt: records the subset it chose. */
  pickedSubset(subset: number, strict = false): this {
    this.context.pickedSubset = subset;
    this.context.pickedStrict = strict;
    return this;
  }

  headers(): void {
    this.deliver('onReceiveMetadata', new grpc.Metadata());
  }
  message(message: unknown): void {
    this.deliver('onReceiveMessage', message);
  }
  status(code: grpc.status, details: string): void {
    this.deliver('onReceiveStatus', { code, details, metadata: new grpc.Metadata() });
  }

  private deliver(method: keyof grpc.InterceptingListener, value: unknown): void {
    const handler = this.listener?.[method] as ((value: unknown, next?: () => void) => void) | undefined;
    if (handler === undefined) throw new Error(`the listener has no ${method}`);
    if (this.mode === 'direct') handler.call(this.listener, value);
    else handler.call(this.listener, value, () => this.nextCalls++);
  }
}

/** A NextCall whose attempts are kept in `attempts`, in order. */
export function fakeNextCall(mode: ListenerMode): { nextCall: grpc.NextCall; attempts: FakeAttempt[] } {
  const attempts: FakeAttempt[] = [];
  const nextCall: grpc.NextCall = () => {
    const attempt = new FakeAttempt(mode);
    attempts.push(attempt);
    return {
      start(metadata, listener) {
        attempt.metadata = metadata;
        attempt.listener = listener ?? null;
      },
      sendMessage: (message) => void attempt.sent.push(message),
      sendMessageWithContext: (_context, message) => void attempt.sent.push(message),
      halfClose: () => void (attempt.halfClosed = true),
      startRead() {},
      cancelWithStatus: (_code, details) => void (attempt.cancelled = details),
      getPeer: () => 'fake',
      getAuthContext: () => null,
    };
  };
  return { nextCall, attempts };
}

/** A caller's listener that writes each event as a word: `headers`, `message:<m>`, `status:<CODE> <details>`. */
export function recordingListener(): { listener: grpc.InterceptingListener; events: string[] } {
  const events: string[] = [];
  return {
    events,
    listener: {
      onReceiveMetadata: () => void events.push('headers'),
      onReceiveMessage: (message: unknown) => void events.push(`message:${String(message)}`),
      onReceiveStatus: (s: grpc.StatusObject) => void events.push(`status:${grpc.status[s.code]} ${s.details}`),
    },
  };
}
