/**
 * The `noise` option of `split.setMirror()` (the three-way comparison): its types, defaults and
 * parser, with the one message template of src/base/errors.ts. Pure: no gRPC.
 * @module
 */
import { rangeErrorAt, typeErrorAt } from '../../../base/errors.js';
import { finiteNumberIn, rejectUnknownKeys, requireObject } from '../../../base/validate.js';

/**
 * Turns a serialized response into an object whose fields the three-way comparison walks: any
 * protobuf runtime's decoder (`(bytes) => Quote.toObject(Quote.decode(bytes))`), or `JSON.parse`
 * for JSON bodies. `method` is the full method name, for a decoder of several methods.
 */
export type MirrorDecoder = (bytes: Buffer, method: string) => unknown;

/**
 * A baseline for the mirror's comparison: each copied call is also copied to `subset`, which
 * runs the *same* version as the primaries, and a difference counts as a regression only where
 * the copy differs from the primary and the baseline does not.
 * @example
 * split.setMirror({
 *   subset: 'v2',
 *   percent: 10,
 *   noise: { subset: 'v1-baseline', decode: (bytes) => Quote.decode(bytes).toJSON() },
 * });
 */
export interface MirrorNoiseOptions {
  /** A subset at weight 0 running the primaries' version; neither the mirror subset nor one
   * with traffic. */
  subset: string;
  /** Decoder of response bodies: with it, differences are found and counted per field path;
   * without it, per answer (a field that differs in every answer then makes every answer
   * noise). Not with a `compare` function, which decides what is equal itself.
   * @default none */
  decode?: MirrorDecoder | null;
  /**
   * A field is noise when the baseline differs from the primary there at least `ratio` times as
   * often as the copy does, from 0 (any difference between equal versions makes it noise) to 1.
   * @default 2/3 (Diffy's relative threshold of 20%: a field is a regression when the copy
   * differs more than 1.5 times as often as the baseline)
   */
  ratio?: number;
}

/** Validated noise options, every default filled in. */
export interface MirrorNoiseSettings {
  readonly subset: string;
  readonly decode: MirrorDecoder | null;
  readonly ratio: number;
}

/** Default `noise.ratio`. */
export const DEFAULT_NOISE_RATIO = 2 / 3;

const KEYS = ['subset', 'decode', 'ratio'];

/**
 * Validates `raw`, the `noise` option of a mirror to `mirrorSubset` comparing with `compare`;
 * `prefix` is the mirror's field (`mirror`), so messages name `mirror.noise.subset`.
 * @internal
 */
export function parseNoiseOptions(
  raw: unknown,
  subsetNames: readonly string[],
  mirrorSubset: string,
  compare: unknown,
  prefix: string,
): MirrorNoiseSettings {
  const field = `${prefix}.noise`;
  const obj = requireObject(raw, field, 'an object with "subset"');
  // A baseline is only for comparing: off, it would double the copies for nothing.
  if (compare === false)
    throw typeErrorAt(
      `${prefix}.compare`,
      'true or a function when noise is set (a baseline is for comparing)',
      compare,
    );
  rejectUnknownKeys(obj, KEYS, `${field}.`);
  const subset = obj['subset'];
  if (typeof subset !== 'string' || !subsetNames.includes(subset)) {
    throw typeErrorAt(`${field}.subset`, `one of the subsets ${subsetNames.join(', ')}`, subset);
  }
  if (subset === mirrorSubset) {
    throw rangeErrorAt(
      `${field}.subset`,
      `a subset other than the mirror subset "${mirrorSubset}" (the baseline runs the primaries' version)`,
      subset,
    );
  }
  const decode = obj['decode'] ?? null;
  if (decode !== null && typeof decode !== 'function')
    throw typeErrorAt(`${field}.decode`, 'a function (bytes, method) => object', decode);
  if (decode !== null && typeof compare === 'function') {
    throw typeErrorAt(
      `${field}.decode`,
      'no decoder with a compare function (the function decides what is equal)',
      decode,
    );
  }
  return Object.freeze({
    subset,
    decode: decode as MirrorDecoder | null,
    ratio: obj['ratio'] === undefined ? DEFAULT_NOISE_RATIO : finiteNumberIn(`${field}.ratio`, obj['ratio'], 0, 1),
  });
}

/**
 * The weight check a baseline needs, against the weights in force when the mirror is set: a
 * baseline that serves calls itself would compare primaries with their own subset, and a call
 * that went to it is not copied.
 * @internal
 */
export function checkNoiseWeight(
  noise: MirrorNoiseSettings | undefined,
  weights: Record<string, number>,
  field = 'mirror.noise.subset',
): void {
  if (noise === undefined || weights[noise.subset] === 0) return;
  throw rangeErrorAt(
    field,
    `a subset at weight 0 (a baseline gets copies only; weights ${JSON.stringify(weights)})`,
    noise.subset,
  );
}

/** The settings as JSON: a decoder shows as `"function"`. */
export function noiseSettingsJson(noise: MirrorNoiseSettings): unknown {
  return { ...noise, decode: noise.decode === null ? null : 'function' };
}
