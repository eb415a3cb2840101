/**
 * What a real call hands a picker, made without the call: the split's public call guard and
 * interceptors run on a fake bottom call, which keeps the metadata grpc-js would pick with, and
 * ends the call with OK afterwards as the server would. Everything the split attaches per call
 * (its records in the metadata options, headers) comes from the split's own code, whatever shape
 * it takes, so the pick bench needs no internal symbol of the split.
 *
 * `livePicker()` is the one grpc-js internal used: the picker of a READY channel, with real
 * subchannels under it. `capturePickMetadata()` checks the fake path against a real call.
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import type { TrafficSplit } from '../src/index.js';

/** A pick result, as far as a call uses it at the pick. */
export interface PickResultLike {
  pickResultType: number;
  onCallStarted: (() => void) | null;
  onCallEnded: ((code: number, details: string, metadata: grpc.Metadata) => void) | null;
}

/** The weights of the pick benches' splits of `n` subsets: 90/10 at two, uneven (1 to 7) beyond. */
export function pickBenchWeights(n: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 2 ? [90, 10][i]! : (i % 7) + 1));
}

/** The part of a grpc-js picker a call uses. */
export interface PickerLike {
  pick(args: { metadata: grpc.Metadata; extraPickInfo: Record<string, string> }): PickResultLike;
}

type InternalChannel = { internalChannel: { currentPicker: PickerLike } };

/** The current picker of a client's channel (a grpc-js internal: the only way to hold a picker
 * over real subchannels without a call around it). Take it once the channel is READY. */
export function livePicker(client: grpc.Client): PickerLike {
  return (client.getChannel() as unknown as InternalChannel).internalChannel.currentPicker;
}

/** One call stopped where grpc-js would pick. */
export interface PreparedCall {
  /** What the picker gets (grpc-js clones the call's metadata, options shared, per pick). */
  readonly metadata: grpc.Metadata;
  /** Ends the call with OK and one message, as a server's answer would, up through the
   * split's interceptors. */
  end(): void;
}

/** What an interceptor calls next, and the call it gets back (grpc-js exports neither type). */
type NextCall = Parameters<grpc.Interceptor>[1];
type BottomCall = ReturnType<NextCall>;

const TRAILERS = new grpc.Metadata();
const NO_LISTENER: Partial<grpc.InterceptingListener> = {};

/**
 * Prepares calls of `method` through the call guard and interceptors of `split.channelOptions`,
 * composed the way grpc-js composes a client's interceptors (the first one outermost).
 * @example const prepare = splitCallPipeline(split, echoService.echo); const call = prepare(new grpc.Metadata());
 */
export function splitCallPipeline(
  split: TrafficSplit,
  method: grpc.MethodDefinition<object, object>,
): (headers: grpc.Metadata) => PreparedCall {
  const { callInvocationTransformer: guard, interceptors = [] } = split.channelOptions;
  const channel = { getTarget: () => split.target } as unknown as grpc.Channel;
  return (headers) => {
    const properties = {
      metadata: headers,
      call: {} as never,
      channel,
      methodDefinition: method,
      callOptions: {},
      argument: {},
    };
    const guarded = guard === undefined ? properties : guard(properties);
    let metadata: grpc.Metadata | null = null;
    let listener: Partial<grpc.InterceptingListener> = {};
    const bottom: BottomCall = {
      cancelWithStatus: () => {},
      getPeer: () => 'bench',
      start: (m: grpc.Metadata, l?: Partial<grpc.InterceptingListener>) => {
        metadata = m;
        listener = l ?? {};
      },
      sendMessageWithContext: () => {},
      sendMessage: () => {},
      startRead: () => {},
      halfClose: () => {},
      getAuthContext: () => null,
    };
    const outermost = interceptors.reduceRight<NextCall>(
      (next, interceptor) => (options) => interceptor(options, next),
      () => bottom,
    );
    const call = outermost({ ...guarded.callOptions, method_definition: method } as grpc.InterceptorOptions);
    call.start(guarded.metadata, NO_LISTENER);
    call.sendMessage({});
    call.halfClose();
    if (metadata === null)
      throw new Error(`bench: the interceptors of ${split.target} did not start the call synchronously`);
    return {
      metadata,
      end() {
        listener.onReceiveMetadata?.(new grpc.Metadata());
        listener.onReceiveMessage?.({});
        listener.onReceiveStatus?.({ code: grpc.status.OK, details: 'OK', metadata: TRAILERS });
      },
    };
  };
}

/** The header names and option keys of a Metadata, sorted: what the comparison looks at. */
export function metadataShape(metadata: grpc.Metadata): string[] {
  const headers = Object.keys(metadata.getMap()).map((k) => `header ${k}`);
  const options = Object.getOwnPropertySymbols(metadata.getOptions()).map((s) => `option ${s.description ?? '?'}`);
  const named = Object.keys(metadata.getOptions()).map((k) => `option ${k}`);
  return [...headers, ...options, ...named].sort();
}

/**
 * The metadata the live picker of `client` got for one real call made by `call`: the picker is
 * wrapped for that call only (grpc-js reads `currentPicker` at each pick).
 */
export async function capturePickMetadata(client: grpc.Client, call: () => Promise<unknown>): Promise<grpc.Metadata> {
  const holder = (client.getChannel() as unknown as InternalChannel).internalChannel;
  const real = holder.currentPicker;
  let seen: grpc.Metadata | null = null;
  const wrapper: PickerLike = {
    pick(args) {
      seen ??= args.metadata;
      return real.pick(args);
    },
  };
  holder.currentPicker = wrapper;
  try {
    await call();
  } finally {
    // grpc-js may have installed a newer picker meanwhile: that one stays.
    if (holder.currentPicker === wrapper) holder.currentPicker = real;
  }
  if (seen === null) throw new Error('bench: the call made no pick');
  return seen;
}
