/**
 * The mirror's part of the split's call guard (a grpc-js `callInvocationTransformer`). The mirror
 * decides here, as the call is made, whether to copy it, so a call it does not copy goes on
 * untouched. For a call it copies, the guard is the one place that sees both the call's channel
 * (whose copy channel the copy is made on) and its method definition, which grpc-js builds afresh
 * for each call: the request serializer and response deserializer are wrapped to capture the
 * bytes the primary sends and receives (references to buffers grpc-js holds, no copy), handed to
 * the mirror's stage through the call's context.
 * @module
 */
import type { MirrorCapture } from '../call/call-context.js';
import type { PrepareCopy } from '../call/call-guard.js';
import type { SplitChannel } from './mirror-channels.js';
import type { MirrorController, MirrorSession } from './mirror.js';

/** The capture of a call the mirror chose, with the configuration that chose it. */
export interface MirrorCallCapture extends MirrorCapture {
  readonly channel: SplitChannel;
  readonly session: MirrorSession;
}

/** The call guard's preparation of the calls `controller`'s mirror copies (see `PrepareCopy`). */
export function mirrorPreparation(controller: MirrorController): PrepareCopy {
  return (properties) => {
    const session = controller.session;
    const original = properties.methodDefinition;
    if (session === null || !session.mayCopy(original)) return null;
    // Only on the split's own channels: a client built with its options but aimed elsewhere has
    // no mirror subset to send a copy to, and one given a channel of the application's own
    // (`channelOverride`, `channelFactoryOverride`) has no copy channel.
    const channel = properties.channel;
    if (!controller.copies.owns(channel) || channel.getTarget() !== controller.target) return null;
    if (!session.draw()) return session.declinedStart;
    const capture: MirrorCallCapture = {
      channel,
      session,
      deserialize: (bytes) => original.responseDeserialize(bytes),
      bytes: null,
      requestBytes: null,
    };
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
    };
    return { methodDefinition, capture };
  };
}
