/**
 * Comparing a primary call's answer with its copy's: byte equality of the serialized responses
 * (`compare: true`) or the application's comparator, and the mismatch sample. Runs after both
 * calls ended, never on the primary's path, and never rejects. Byte equality and the samples'
 * hashes go a slice per turn of the event loop (mirror-slices.ts); a comparator is the
 * application's code and runs in one turn, with the deserialization it needs.
 * @module
 */
import type { Metadata } from '@grpc/grpc-js';
import { describeValue } from '../../base/errors.js';
import {
  isFailureCode,
  statusName,
  type CopyVerdict,
  type MirrorSample,
  type MirrorSampleSide,
} from './mirror-figures.js';
import { MAX_SAMPLE_BODY_BYTES, type MirrorOutcome, type MirrorSettings } from './mirror-options.js';
import { equalInSlices, sha256InSlices } from './mirror-slices.js';

/** Longest mismatch reason kept in a sample. */
const MAX_REASON_CHARS = 1024;

/** What one side of a mirrored call ended with. */
export interface EndedSide {
  code: number;
  details: string;
  headers: Metadata | null;
  trailers: Metadata | null;
  /** The serialized response, or null without one. */
  bytes: Buffer | null;
}

/** The result of settling a copy: how it counts, and a sample when it mismatched. */
export interface Settlement {
  verdict: CopyVerdict;
  sample: MirrorSample | null;
  compareError: boolean;
}

/**
 * How a copy counts once both sides ended. `deserialize` turns response bytes back into a message
 * (the method's own deserializer): the comparator and the samples get private copies.
 */
export async function settleCopy(
  settings: MirrorSettings,
  method: string,
  primary: EndedSide,
  copy: EndedSide,
  deserialize: (bytes: Buffer) => unknown,
): Promise<Settlement> {
  if (isFailureCode(copy.code)) return { verdict: 'failed', sample: null, compareError: false };
  // Without a usable answer on the primary's side there is nothing to hold the copy against.
  if (settings.compare === false || isFailureCode(primary.code))
    return { verdict: 'notCompared', sample: null, compareError: false };
  let reason: string | null;
  let compareError = false;
  if (settings.compare === true) {
    reason = await byteDifference(primary, copy);
  } else {
    const outcome = runComparator(settings.compare, outcomeOf(primary, deserialize), outcomeOf(copy, deserialize));
    reason = outcome.reason;
    compareError = outcome.error;
  }
  if (reason === null) return { verdict: 'matched', sample: null, compareError };
  const sample: MirrorSample = {
    at: new Date().toISOString(),
    method,
    // Bounded: a comparator may return any string, and up to maxSamples of them are kept.
    reason: reason.length <= MAX_REASON_CHARS ? reason : `${reason.slice(0, MAX_REASON_CHARS - 3)}...`,
    primary: await sampleSide(primary, settings.keepBodies, deserialize),
    mirror: await sampleSide(copy, settings.keepBodies, deserialize),
  };
  return { verdict: 'mismatched', sample, compareError };
}

/** Null when status code and response bytes are equal, else why not. */
async function byteDifference(primary: EndedSide, copy: EndedSide): Promise<string | null> {
  if (primary.code !== copy.code) return `status ${statusName(primary.code)} vs ${statusName(copy.code)}`;
  const a = primary.bytes;
  const b = copy.bytes;
  if (a === null && b === null) return null;
  if (a === null || b === null)
    return (
      `response ${a === null ? 'missing' : `${a.length} bytes`} ` +
      `vs ${b === null ? 'missing' : `${b.length} bytes`}`
    );
  return (await equalInSlices(a, b)) ? null : `response differs (${a.length} vs ${b.length} bytes)`;
}

/** The comparator's verdict as a reason (null: equal); a throw or an answer of another type is a
 * mismatch, flagged as a comparator error. */
export function runComparator(
  compare: (p: MirrorOutcome, m: MirrorOutcome) => unknown,
  primary: MirrorOutcome,
  copy: MirrorOutcome,
): { reason: string | null; error: boolean } {
  let answer: unknown;
  try {
    answer = compare(primary, copy);
  } catch (error) {
    return {
      reason: `comparator threw: ${error instanceof Error ? error.message : describeValue(error)}`,
      error: true,
    };
  }
  if (answer === true) return { reason: null, error: false };
  if (answer === false) return { reason: 'comparator returned false', error: false };
  if (typeof answer === 'string') return { reason: answer, error: false };
  // An async comparator's promise may reject later: handled here, or it would be an unhandled
  // rejection (which ends a Node process by default) for a copy already counted.
  if (typeof (answer as { then?: unknown } | null)?.then === 'function') {
    try {
      (answer as PromiseLike<unknown>).then(undefined, () => undefined);
    } catch {
      // A thenable whose then() throws: nothing more to handle.
    }
  }
  // A promise is a non-boolean too: the comparison is synchronous by design (it must not hold
  // the copies' state open for an unbounded time).
  return { reason: `comparator returned ${describeValue(answer)}; expected a boolean or a string`, error: true };
}

export function outcomeOf(side: EndedSide, deserialize: (bytes: Buffer) => unknown): MirrorOutcome {
  return {
    status: statusName(side.code),
    code: side.code,
    details: side.details,
    metadata: { headers: privateMap(side.headers), trailers: privateMap(side.trailers) },
    response: side.bytes === null ? null : safeDeserialize(side.bytes, deserialize),
  };
}

export async function sampleSide(
  side: EndedSide,
  keepBodies: boolean,
  deserialize: (bytes: Buffer) => unknown,
): Promise<MirrorSampleSide> {
  const bytes = side.bytes;
  const result: MirrorSampleSide = {
    status: statusName(side.code),
    bytes: bytes === null ? null : bytes.length,
    sha256: bytes === null ? null : await sha256InSlices(bytes),
  };
  if (keepBodies && bytes !== null && bytes.length <= MAX_SAMPLE_BODY_BYTES)
    result.response = safeDeserialize(bytes, deserialize);
  return result;
}

/** The metadata as a plain object whose binary values are copies: the primary's Metadata is
 * the one its application holds. */
function privateMap(metadata: Metadata | null): Record<string, string | Buffer> {
  const map = metadata?.getMap() ?? {};
  for (const [key, value] of Object.entries(map)) if (Buffer.isBuffer(value)) map[key] = Buffer.from(value);
  return map;
}

/** The bytes came from a message the same method serialized, so this should not fail; if the
 * application's deserializer does, the comparator sees null rather than the call path a throw. */
function safeDeserialize(bytes: Buffer, deserialize: (bytes: Buffer) => unknown): unknown {
  try {
    // From a copy of the bytes: a deserializer may return a view of its input (raw-byte clients
    // return the buffer itself), and the primary's buffer is its application's answer.
    return deserialize(Buffer.from(bytes));
  } catch {
    return null;
  }
}
