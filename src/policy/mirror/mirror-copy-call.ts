/**
 * One mirror copy's call on its copy channel: started the way grpc-js's own bottom interceptor
 * starts a call (client-interceptors.js `getCall`: deadline, host, no parent, credentials,
 * start, message, half-close, read), with raw `Buffer` messages both ways.
 * @module
 */
import {
  status as Status,
  type Channel,
  type InterceptorOptions,
  type Metadata,
  type StatusObject,
} from '@grpc/grpc-js';
import { DEFAULT_MIRROR_TIMEOUT_MS, type MirrorSettings } from './mirror-options.js';

/** A copy's call, as the channel gives it. */
export type CopyCall = ReturnType<Channel['createCall']>;

/** What the copy's call tells of its answer. */
export interface CopyListener {
  onReceiveMetadata(headers: Metadata): void;
  onReceiveMessage(bytes: Buffer): void;
  onReceiveStatus(status: StatusObject): void;
}

/** Starts the copy of the call `options` describes; throws if the channel refuses it (closed). */
export function startCopyCall(
  channel: Channel,
  options: InterceptorOptions,
  timeoutMs: number,
  metadata: Metadata,
  request: Buffer,
  listener: CopyListener,
): CopyCall {
  // No parent: the copy outlives a server handler that made the primary, by design.
  const call = channel.createCall(
    options.method_definition.path,
    Date.now() + timeoutMs,
    options.host,
    null,
    undefined,
  );
  if (options.credentials !== undefined) call.setCredentials(options.credentials);
  call.start(metadata, listener);
  call.sendMessageWithContext({}, request);
  call.halfClose();
  call.startRead();
  return call;
}

/** The copy's deadline, from now: its own `timeoutMs`, else the primary's remaining time, at
 * most DEFAULT_MIRROR_TIMEOUT_MS. */
export function copyTimeoutMs(settings: MirrorSettings, primaryDeadline: InterceptorOptions['deadline']): number {
  if (settings.timeoutMs !== null) return settings.timeoutMs;
  const at =
    primaryDeadline instanceof Date
      ? primaryDeadline.getTime()
      : typeof primaryDeadline === 'number'
        ? primaryDeadline
        : Infinity;
  return Math.min(DEFAULT_MIRROR_TIMEOUT_MS, at - Date.now());
}

/** `metadata` (a private clone of the primary's, taken below the split's interceptor, which has
 * removed the reserved header) made the copy's: fresh options, so no wait-for-ready. */
export function copyMetadataOf(metadata: Metadata): Metadata {
  metadata.setOptions({});
  return metadata;
}

/** A status the copy ends with without reaching the channel. */
export function endedLocally(code: Status, details: string): StatusObject {
  return { code, details, metadata: null as unknown as Metadata };
}
