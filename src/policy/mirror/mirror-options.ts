/**
 * Options of `split.setMirror()` (shadow traffic): their types, defaults, and the parser that
 * validates them at the boundary with the one message template of src/errors.ts. Pure: no gRPC.
 * @module
 */
import { typeErrorAt } from '../../base/errors.js';
import {
  booleanValue,
  finiteNumberIn,
  integerIn,
  rejectUnknownKeys,
  requireObject,
  timerMs,
} from '../../base/validate.js';
import type { StatusName } from '../../base/names.js';
import {
  noiseSettingsJson,
  parseNoiseOptions,
  type MirrorNoiseOptions,
  type MirrorNoiseSettings,
} from './noise/mirror-noise-options.js';

/** One side of a mirrored call, as a custom comparator sees it. */
export interface MirrorOutcome {
  /** The call's status code by name. */
  status: StatusName;
  /** The same code as a number. */
  code: number;
  details: string;
  /** Response headers and trailers, as plain objects (`Metadata.getMap()`). */
  metadata: { headers: Record<string, string | Buffer>; trailers: Record<string, string | Buffer> };
  /** The deserialized response, or null when the call ended without one. A private copy: the
   * comparator may read or change it without touching what the application received. */
  response: unknown;
}

/**
 * A custom equality: `true` when the two answers are equivalent, `false` or a string (the reason
 * shown in the mismatch sample, cut to 1,024 characters) when they are not. Anything else, or a throw, counts as a
 * mismatch and in `compareErrors`. Runs after both calls ended, outside the primary's path.
 * @example (primary, mirror) => primary.status === mirror.status && primary.response.total === mirror.response.total
 */
export type MirrorComparator = (primary: MirrorOutcome, mirror: MirrorOutcome) => boolean | string;

/**
 * Options of `split.setMirror()` and of the `mirror` constructor option.
 * @example
 * split.setMirror({ subset: 'v2', percent: 10, compare: true });
 */
export interface MirrorOptions {
  /** The subset that receives the copies (often the new version, at weight 0). */
  subset: string;
  /**
   * Share of eligible calls that are copied, from 0 to 100. Exact over any run of calls, like the
   * main schedule: over N eligible calls, N * percent / 100 copies, within one.
   */
  percent: number;
  /**
   * `false`: fire and forget (copies are only counted). `true`: the copy matches when its status
   * code and its serialized response bytes equal the primary's. A function: your own equality.
   * @default false
   */
  compare?: boolean | MirrorComparator;
  /** Most copies in flight at once; a copy beyond it is dropped and counted, never queued.
   * @default 100 */
  maxInFlight?: number;
  /** The copy's own deadline, in milliseconds. @default the primary's remaining deadline, at most 1000 */
  timeoutMs?: number;
  /** Full method names to mirror (`/package.Service/Method`). @default every unary method */
  methods?: string[];
  /** Keep the deserialized responses in mismatch samples (they may hold personal data; bodies
   * over 64 KiB are left out). @default false */
  keepBodies?: boolean;
  /** How many of the latest mismatch samples to keep, 0 to 1000. @default 20 */
  maxSamples?: number;
  /**
   * Most bytes the mirror holds at once, over every copy and sample: the requests of the copies in flight (a
   * baseline copy's of `noise` too), the answers (the copy's, the primary's and the baseline's) kept for
   * comparison until every side ended, and the samples. A copy whose bytes would pass it is dropped and
   * counted (`droppedBy.maxBufferedBytes`); the oldest samples give way to a new one. From 0 to 2^40.
   * @default 16777216 (16 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * A baseline (Diffy's three-way comparison): each copied call is also copied to
   * `noise.subset`, a weight-0 subset running the primaries' version, and only differences the
   * baseline does not show too count as mismatches. `compare` defaults to `true` with it (and
   * cannot be `false`). See mirror-noise-options.ts. @default none
   */
  noise?: MirrorNoiseOptions | null;
}

/** Validated mirror options with every default filled in (what `getMirror()` returns). */
export interface MirrorSettings {
  readonly subset: string;
  readonly percent: number;
  readonly compare: boolean | MirrorComparator;
  readonly maxInFlight: number;
  /** null: the primary's remaining deadline, at most `DEFAULT_MIRROR_TIMEOUT_MS`. */
  readonly timeoutMs: number | null;
  /** null: every unary method. */
  readonly methods: readonly string[] | null;
  readonly keepBodies: boolean;
  readonly maxSamples: number;
  readonly maxBufferedBytes: number;
  /** Absent without a baseline. */
  readonly noise?: MirrorNoiseSettings;
}

/** Default `maxInFlight`. */
export const DEFAULT_MIRROR_MAX_IN_FLIGHT = 100;
/** The longest a copy waits by default, in milliseconds (less when the primary has less left). */
export const DEFAULT_MIRROR_TIMEOUT_MS = 1000;
/** Default `maxSamples`. */
export const DEFAULT_MIRROR_SAMPLES = 20;
/** Largest response body kept in a sample with `keepBodies`. */
export const MAX_SAMPLE_BODY_BYTES = 64 * 1024;
/** Default `maxBufferedBytes`: 16 MiB, as grpc-js's own retry buffer per channel. */
export const DEFAULT_MIRROR_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Largest `maxBufferedBytes` accepted: 1 TiB (a bound, not a wish). */
const MAX_BUFFERED_BYTES_LIMIT = 2 ** 40;

const KEYS = [
  'subset',
  'percent',
  'compare',
  'maxInFlight',
  'timeoutMs',
  'methods',
  'keepBodies',
  'maxSamples',
  'maxBufferedBytes',
  'noise',
];
/** A gRPC full method name: `/` service `/` method, no spaces. */
const METHOD_PATTERN = /^\/[^/\s]+\/[^/\s]+$/;
const MAX_METHODS = 1000;

/**
 * Validates every option before anything changes; `field` prefixes each message (`mirror`).
 * @internal
 */
export function parseMirrorOptions(raw: unknown, subsetNames: readonly string[], field = 'mirror'): MirrorSettings {
  const obj = requireObject(raw, field, 'an object with "subset" and "percent", or null');
  rejectUnknownKeys(obj, KEYS, `${field}.`);
  const subset = obj['subset'];
  if (typeof subset !== 'string' || !subsetNames.includes(subset)) {
    throw typeErrorAt(`${field}.subset`, `one of the subsets ${subsetNames.join(', ')}`, subset);
  }
  // A baseline is for comparing: with one, comparing is on unless said otherwise.
  const noiseRaw = obj['noise'] ?? null;
  const compare = obj['compare'] ?? noiseRaw !== null;
  if (typeof compare !== 'boolean' && typeof compare !== 'function') {
    throw typeErrorAt(`${field}.compare`, 'a boolean or a function (primary, mirror) => boolean | string', compare);
  }
  const noise = noiseRaw === null ? null : parseNoiseOptions(noiseRaw, subsetNames, subset, compare, field);
  return Object.freeze({
    subset,
    percent: finiteNumberIn(`${field}.percent`, obj['percent'], 0, 100),
    compare: compare as boolean | MirrorComparator,
    maxInFlight:
      obj['maxInFlight'] === undefined
        ? DEFAULT_MIRROR_MAX_IN_FLIGHT
        : integerIn(`${field}.maxInFlight`, obj['maxInFlight'], 1, 1_000_000),
    timeoutMs: obj['timeoutMs'] === undefined ? null : timerMs(`${field}.timeoutMs`, obj['timeoutMs'], 1),
    methods: parseMethods(obj['methods'], `${field}.methods`),
    keepBodies: booleanValue(`${field}.keepBodies`, obj['keepBodies'] ?? false),
    maxSamples:
      obj['maxSamples'] === undefined
        ? DEFAULT_MIRROR_SAMPLES
        : integerIn(`${field}.maxSamples`, obj['maxSamples'], 0, 1000),
    maxBufferedBytes:
      obj['maxBufferedBytes'] === undefined
        ? DEFAULT_MIRROR_MAX_BUFFERED_BYTES
        : integerIn(`${field}.maxBufferedBytes`, obj['maxBufferedBytes'], 0, MAX_BUFFERED_BYTES_LIMIT, {
            range: 'an integer number of bytes from 0 to 2^40',
          }),
    ...(noise !== null && { noise }),
  });
}

function parseMethods(raw: unknown, field: string): readonly string[] | null {
  if (raw === undefined) return null;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_METHODS) {
    throw typeErrorAt(field, `a list of 1 to ${MAX_METHODS} full method names such as "/pkg.Service/Method"`, raw);
  }
  raw.forEach((method: unknown, i) => {
    if (typeof method !== 'string' || !METHOD_PATTERN.test(method)) {
      throw typeErrorAt(`${field}[${i}]`, 'a full method name such as "/pkg.Service/Method"', method);
    }
  });
  return Object.freeze([...(raw as string[])]);
}

/** The settings as JSON (a comparator function shows as `"function"`), for the admin endpoint. */
export function mirrorSettingsJson(settings: MirrorSettings | null): unknown {
  if (settings === null) return null;
  return {
    ...settings,
    compare: typeof settings.compare === 'function' ? 'function' : settings.compare,
    ...(settings.noise !== undefined && { noise: noiseSettingsJson(settings.noise) }),
  };
}

/** Options that `setMirror()` accepts and that give back `settings` (defaults left out). */
export function settingsToOptions(settings: MirrorSettings): MirrorOptions {
  const { timeoutMs, methods, ...rest } = settings;
  return { ...rest, ...(timeoutMs !== null && { timeoutMs }), ...(methods !== null && { methods: [...methods] }) };
}
