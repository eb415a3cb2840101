/**
 * Settling one copy three ways, once the primary, the copy and the baseline copy ended: where
 * the copy and the baseline each differ from the primary (per field path with a decoder, per
 * answer otherwise), the three-way rule of mirror-noise.ts, and the mismatch sample with the
 * paths. Runs after the three calls ended, never on the primary's path, and never rejects. Each
 * heavy step (comparing large bodies, a decode, a field walk) runs in a turn of its own, and
 * each is bounded: bodies over `MAX_DECODE_BYTES` are compared whole, the walk has limits.
 * @module
 */
import { diffFields } from '../../../algorithms/field-diff.js';
import { outcomeOf, runComparator, sampleSide, type EndedSide, type Settlement } from '../mirror-compare.js';
import { isFailureCode, type MirrorSample } from '../mirror-figures.js';
import { BODY_PATH, COMPARE_PATH, REST_PATH, STATUS_PATH, type NoiseTally } from './mirror-noise.js';
import type { MirrorDecoder, MirrorNoiseSettings } from './mirror-noise-options.js';
import type { MirrorSettings } from '../mirror-options.js';
import { equalInSlices } from '../mirror-slices.js';

/** Largest body decoded for a per-field comparison; a larger one is compared whole (a decode
 * runs in one turn of the event loop, and this keeps it near a millisecond). */
export const MAX_DECODE_BYTES = 256 * 1024;
/** Paths listed in a sample, per kind. */
const MAX_SAMPLE_PATHS = 32;

/** The three ended sides of a copied call. */
export interface ThreeSides {
  primary: EndedSide;
  canary: EndedSide;
  /** Null when the baseline copy never started. */
  baseline: EndedSide | null;
}

/** What settling needs besides the answers. */
export interface NoiseContext {
  settings: MirrorSettings;
  noise: MirrorNoiseSettings;
  tally: NoiseTally;
  method: string;
  /** The method's own response deserializer (for comparators and kept bodies). */
  deserialize: (bytes: Buffer) => unknown;
}

const FAILED: Settlement = { verdict: 'failed', sample: null, compareError: false };
const NOT_COMPARED: Settlement = { verdict: 'notCompared', sample: null, compareError: false };

/** How the copy counts, three ways. Never rejects: anything unexpected counts as not compared. */
export async function settleThreeWay(context: NoiseContext, sides: ThreeSides): Promise<Settlement> {
  try {
    return await settle(context, sides);
  } catch {
    return NOT_COMPARED;
  }
}

async function settle(context: NoiseContext, { primary, canary, baseline }: ThreeSides): Promise<Settlement> {
  // As in a two-way comparison: a copy without a usable answer failed; a primary without one
  // leaves nothing to compare with.
  if (isFailureCode(canary.code)) return FAILED;
  if (isFailureCode(primary.code)) return NOT_COMPARED;
  const usableBaseline = baseline !== null && !isFailureCode(baseline.code) ? baseline : null;
  const differ = new Differ(context);
  const canaryPaths = await differ.paths(primary, canary);
  const baselinePaths = usableBaseline === null ? null : await differ.paths(primary, usableBaseline);
  const verdict = context.tally.judge(canaryPaths, baselinePaths);
  if (verdict.regressions.length === 0) return { verdict: 'matched', sample: null, compareError: differ.compareError };
  const { settings, method, deserialize } = context;
  const sample: MirrorSample = {
    at: new Date().toISOString(),
    method,
    reason: cut(
      `differs where the baseline agrees: ${listed(verdict.regressions)}${verdict.noise.length === 0 ? '' : `; noise: ${listed(verdict.noise)}`}${differ.reason === null ? '' : ` (${differ.reason})`}`,
    ),
    primary: await sampleSide(primary, settings.keepBodies, deserialize),
    mirror: await sampleSide(canary, settings.keepBodies, deserialize),
    // The baseline's body is never kept: the sample is about the copy.
    ...(baseline !== null && { baseline: await sampleSide(baseline, false, deserialize) }),
    fields: verdict.regressions.slice(0, MAX_SAMPLE_PATHS),
    noiseFields: verdict.noise.slice(0, MAX_SAMPLE_PATHS),
  };
  return { verdict: 'mismatched', sample, compareError: differ.compareError };
}

/** What a decode gave: the value, or why there is none. */
type Decoded = { value: unknown } | 'tooLarge' | 'failed';

/** Finds where two answers differ, decoding each answer at most once. */
class Differ {
  compareError = false;
  /** The comparator's reason for the canary, if it gave one. */
  reason: string | null = null;
  private readonly decoded = new Map<EndedSide, Decoded>();

  constructor(private readonly context: NoiseContext) {}

  async paths(primary: EndedSide, other: EndedSide): Promise<string[]> {
    const { compare } = this.context.settings;
    if (typeof compare === 'function') return this.compared(compare, primary, other);
    if (primary.code !== other.code) return [STATUS_PATH];
    const a = primary.bytes;
    const b = other.bytes;
    if (a === null && b === null) return [];
    if (a === null || b === null) return [BODY_PATH];
    if (await equalInSlices(a, b)) return [];
    const decode = this.context.noise.decode;
    if (decode === null) return [BODY_PATH];
    const left = await this.decode(primary, a, decode);
    const right = await this.decode(other, b, decode);
    if (typeof left === 'string' || typeof right === 'string') return [BODY_PATH];
    await nextTurn();
    const diff = diffFields(left.value, right.value);
    if (diff.paths.length > 0) return diff.paths;
    // Equal as far as walked: different bytes beyond the limits are still a difference; equal
    // values from different bytes (field order, a map's order) are not.
    return diff.truncated ? [REST_PATH] : [];
  }

  private compared(
    compare: Exclude<MirrorSettings['compare'], boolean>,
    primary: EndedSide,
    other: EndedSide,
  ): string[] {
    const { deserialize } = this.context;
    const { reason, error } = runComparator(compare, outcomeOf(primary, deserialize), outcomeOf(other, deserialize));
    if (error) this.compareError = true;
    if (reason !== null && this.reason === null) this.reason = reason;
    return reason === null ? [] : [COMPARE_PATH];
  }

  private async decode(side: EndedSide, bytes: Buffer, decode: MirrorDecoder): Promise<Decoded> {
    let decoded = this.decoded.get(side);
    if (decoded !== undefined) return decoded;
    if (bytes.length > MAX_DECODE_BYTES) {
      decoded = 'tooLarge';
    } else {
      await nextTurn();
      try {
        // From a copy: a decoder may keep views of its input, and the primary's bytes are the
        // ones its application's answer came from.
        decoded = { value: decode(Buffer.from(bytes), this.context.method) };
      } catch {
        this.context.tally.decodeErrors++;
        decoded = 'failed';
      }
    }
    this.decoded.set(side, decoded);
    return decoded;
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function listed(paths: readonly string[]): string {
  const shown = paths.slice(0, 8).join(', ');
  return paths.length > 8 ? `${shown} and ${paths.length - 8} more` : shown;
}

/** A reason as long as a two-way comparison's may be (mirror-compare.ts). */
function cut(reason: string): string {
  return reason.length <= 1024 ? reason : `${reason.slice(0, 1021)}...`;
}
