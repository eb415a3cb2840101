/**
 * The mirror's part of the split's call guard (a grpc-js `callInvocationTransformer`). The
 * interceptor that makes copies sees deserialized messages only, and no channel; the guard sees
 * both the call's channel and its method definition, which grpc-js builds afresh for each call.
 * For a call the mirror may copy, it hands the interceptor, through that definition, the
 * client's channel (whose copy channel the copy is made on) and the primary's response bytes as
 * they arrive (what `compare: true` compares), by wrapping the response deserializer: a
 * reference to a buffer grpc-js already holds, no copy, no extra serialization. The request
 * serializer is wrapped the same way: the copy sends the very bytes the primary sent.
 * @module
 */
import type { CallInvocationTransformer } from '@grpc/grpc-js';
import type { SplitChannel } from './mirror-channels.js';
import type { MirrorController } from './mirror.js';

/** What the guard hands the interceptor about one call. */
export interface MirrorCapture {
  /** The client's channel, built by the split's channel factory. */
  readonly channel: SplitChannel;
  /** The method's own response deserializer (not the capturing wrapper). */
  readonly deserialize: (bytes: Buffer) => unknown;
  /** The last response message received, serialized. */
  bytes: Buffer | null;
  /** The request message as the primary serialized it, once it did: what the copy sends, so
   * an application that reuses its request object after the call cannot change the copy. */
  requestBytes: Buffer | null;
}

const CAPTURE = Symbol('traffic_split.mirrorCapture');

/** The capture of a call's method definition, if the split's call guard prepared one. */
export function captureOf(methodDefinition: object): MirrorCapture | undefined {
  return (methodDefinition as { [CAPTURE]?: MirrorCapture })[CAPTURE];
}

/** `guard`, followed by the mirror's preparation of the calls it may copy. */
export function withMirrorCapture(guard: CallInvocationTransformer, controller: MirrorController): CallInvocationTransformer {
  return (properties) => {
    const transformed = guard(properties);
    const session = controller.session;
    const original = transformed.methodDefinition;
    if (session === null || !session.accepts(original)) return transformed;
    // Only on the split's own channels: a client built with its options but aimed elsewhere has
    // no mirror subset to send a copy to, and one given a channel of the application's own
    // (`channelOverride`, `channelFactoryOverride`) has no copy channel.
    const channel = transformed.channel;
    if (!controller.copies.owns(channel) || channel.getTarget() !== controller.target) return transformed;
    const deserialize = (bytes: Buffer): unknown => original.responseDeserialize(bytes);
    const capture: MirrorCapture = { channel, deserialize, bytes: null, requestBytes: null };
    const methodDefinition = {
      ...original,
      requestSerialize: (message: unknown) => {
        const bytes = original.requestSerialize(message);
        capture.requestBytes = bytes;
        return bytes;
      },
      responseDeserialize: (bytes: Buffer) => {
        capture.bytes = bytes;
        return original.responseDeserialize(bytes);
      },
      [CAPTURE]: capture,
    };
    return { ...transformed, methodDefinition };
  };
}
