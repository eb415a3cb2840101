/**
 * Routing hints: how `split.route()` and the retry on another subset tell the picker about one
 * call. They travel in ONE metadata entry, so that a call without hints costs the picker a single
 * lookup, and the picker removes it before the call is sent.
 *
 * Format: `<token>` followed by `;<field>=<percent-encoded value>` pairs, fields `s` (subset),
 * `k` (sticky key), `a` (attempt id), `x` (subset to avoid). The token is the split's random
 * token: a header forwarded from outside, or another split's hint, is never taken for one.
 * @internal
 * @module
 */
import { metadataValues, type Metadata } from './grpc.js';

export const HINT_KEY = 'x-traffic-split';

export interface RoutingHint {
  /** Route to this subset, strictly. */
  subset?: string;
  /** Sticky key for this call. */
  key?: string;
  /** Attempt id whose subset the picker records. */
  attempt?: string;
  /** Subset this (retry) attempt must not use. */
  avoid?: string;
}

const FIELDS = { subset: 's', key: 'k', attempt: 'a', avoid: 'x' } as const;
const BY_CODE: Record<string, keyof RoutingHint> = { s: 'subset', k: 'key', a: 'attempt', x: 'avoid' };

/** The metadata value of a hint (ASCII: metadata values must be). */
export function encodeHint(token: string, hint: RoutingHint): string {
  let value = token;
  for (const field of Object.keys(FIELDS) as (keyof RoutingHint)[]) {
    const text = hint[field];
    if (text !== undefined) value += `;${FIELDS[field]}=${encodeText(text)}`;
  }
  return value;
}

/** Unpaired UTF-16 surrogates, which `encodeURIComponent` rejects with a URIError. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Percent-encodes `text`, never throwing: this runs inside a call's start, where a throw would
 * surface as an exception from the client's method. A sticky key with a lone surrogate is sent
 * with U+FFFD in its place, which maps to the same subset (the sticky hash reads lone
 * surrogates as U+FFFD).
 */
function encodeText(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return encodeURIComponent(text.replace(LONE_SURROGATE, '\uFFFD'));
  }
}

/** Parses a hint value; null when it does not carry `token` or is malformed. */
export function decodeHint(value: string, token: string): RoutingHint | null {
  // The token is compared before anything is split: a forged value, whatever its length, costs
  // one comparison of the token's length. A value with the token comes from this process (the
  // token never leaves it) and may be as long as the sticky key it carries: no length cap.
  if (!value.startsWith(token) || (value.length > token.length && value[token.length] !== ';')) return null;
  const parts = value.split(';');
  const hint: RoutingHint = {};
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    const field = BY_CODE[part.slice(0, 1)];
    if (field === undefined || part[1] !== '=') return null;
    try {
      hint[field] = decodeURIComponent(part.slice(2));
    } catch {
      return null;
    }
  }
  return hint;
}

/** Reads and removes the hint of a call: it never reaches the server. */
export function takeHint(metadata: Metadata, token: string): RoutingHint | null {
  const values = metadataValues(metadata, HINT_KEY);
  if (values === undefined) return null;
  metadata.remove(HINT_KEY);
  const value = values[0];
  return typeof value === 'string' ? decodeHint(value, token) : null;
}
