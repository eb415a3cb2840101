/**
 * The value of `<prefix>/weights`: the weights and who wrote them. Every replica parses what it
 * reads defensively: a value that is not one of these (a hand-edited key, a newer format) is
 * reported and skipped, never applied half.
 * @module
 */
import type { SetWeightsOptions } from '../../split/fleet-port.js';

/** Who put a revision of the weights. */
export type WeightsWriter =
  /** The first replica that joined, with its split's weights. */
  | 'seed'
  /** `setWeights()` on a replica's fleet handle (the admin endpoint, a weights file, the application). */
  | 'operator'
  /** The rollout's leader (its steps, promotion, rollback), or an `abort()` of the rollout. */
  | 'rollout';

/** One revision of the fleet's weights. */
export interface WeightsValue {
  readonly weights: Record<string, number>;
  /** The replica that wrote it. */
  readonly replica: string;
  readonly by: WeightsWriter;
  /** The rollout it belongs to (`by: 'rollout'`). */
  readonly rollout?: string;
  /** The leader's term (the create revision of its election key) when a leader wrote it. */
  readonly term?: string;
  /** Every replica applies the weights with these options. */
  readonly rebalanceStreams?: SetWeightsOptions['rebalanceStreams'];
  /** When it was written, on the writer's clock (ms since the epoch). */
  readonly at: number;
}

const WRITERS: readonly string[] = ['seed', 'operator', 'rollout'];

/** The value as written to etcd. */
export function encodeWeights(value: WeightsValue): string {
  return JSON.stringify(value);
}

/** A parsed value, or a sentence saying why it is not one. */
export function decodeWeights(raw: Record<string, unknown> | null): WeightsValue | string {
  if (raw === null) return 'not a JSON object';
  const weights = raw['weights'];
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) return '"weights" is not an object';
  if (typeof raw['replica'] !== 'string') return '"replica" is not a string';
  if (typeof raw['by'] !== 'string' || !WRITERS.includes(raw['by'])) return `"by" is not one of ${WRITERS.join(', ')}`;
  if (typeof raw['at'] !== 'number') return '"at" is not a number';
  for (const field of ['rollout', 'term'])
    if (raw[field] !== undefined && typeof raw[field] !== 'string') return `"${field}" is not a string`;
  return raw as unknown as WeightsValue;
}
