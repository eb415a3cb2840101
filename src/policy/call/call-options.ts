/**
 * Per-call objects carried in a call's `Metadata` *options* under symbol keys: routing hints,
 * call records and stream records. grpc-js shares the options object with every copy of the
 * metadata down to each attempt's pick and never sends it, so these reach the picker and never
 * the wire (docs/grpc-js-reliances.md lists the reliance).
 * @module
 */
import type { Metadata } from '../grpc/grpc.js';

type Options = ReturnType<Metadata['getOptions']>;

/** The object stored under `key` in `metadata`'s options, if any. */
export function callOption<T>(metadata: Metadata, key: symbol): T | undefined {
  return (metadata.getOptions() as Options & Record<symbol, T | undefined>)[key];
}

/**
 * A copy of `metadata` whose options also hold `value` under `key`. The caller's Metadata and its
 * options object (which an application may pass to many calls) are left untouched, so reusing
 * them for another call carries nothing over.
 */
export function withCallOption(metadata: Metadata, key: symbol, value: unknown): Metadata {
  const copy = metadata.clone();
  copy.setOptions({ ...metadata.getOptions(), [key]: value } as Options);
  return copy;
}
