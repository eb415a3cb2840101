/**
 * The few etcd operations the fleet makes, over the caller's `etcd3` client. Only types come
 * from `etcd3`: the library never loads it, so an application that does not use the fleet does
 * not need it installed, and one that does passes its own client (hosts, TLS, auth, retries).
 * @module
 */
import type { IKeyValue, Namespace } from 'etcd3';

/** The etcd3 client (an `Etcd3`, or a `Namespace` of one) the fleet works through. */
export type EtcdClient = Namespace;

/** One equality condition of a transaction: the key's mod or create revision (0: no key). */
export interface Condition {
  readonly key: string;
  readonly target: 'Mod' | 'Create';
  readonly revision: string;
}

/** One put of a transaction. */
export interface Put {
  readonly key: string;
  readonly value: string;
  /** Attach the key to this lease (it goes when the lease does). */
  readonly lease?: string;
}

/** What a transaction did: applied or not, the store's revision, and the keys read on failure. */
export interface TxnOutcome {
  readonly succeeded: boolean;
  /** The revision of the puts when it succeeded; the store's revision otherwise. */
  readonly revision: string;
  /** On failure: each key of `readOnFailure`, as it is now (null: absent). */
  readonly read: ReadonlyMap<string, IKeyValue | null>;
}

/**
 * If every condition holds, puts all of `puts` in one revision; otherwise reads `readOnFailure`
 * so the caller learns what changed without another round trip. At least one condition.
 */
export async function transact(
  client: EtcdClient,
  conditions: readonly Condition[],
  puts: readonly Put[],
  readOnFailure: readonly string[] = [],
): Promise<TxnOutcome> {
  const [first, ...rest] = conditions;
  if (first === undefined) throw new Error('transact: at least one condition');
  let builder = client.if(first.key, first.target, '==', first.revision);
  for (const condition of rest) builder = builder.and(condition.key, condition.target, '==', condition.revision);
  const ops = puts.map((put) => {
    const op = client.put(put.key).value(put.value);
    return put.lease === undefined ? op : op.lease(put.lease);
  });
  const response = await builder
    .then(...ops)
    .else(...readOnFailure.map((key) => client.get(key)))
    .commit();
  const read = new Map<string, IKeyValue | null>();
  if (!response.succeeded) {
    readOnFailure.forEach((key, i) => read.set(key, response.responses[i]?.response_range?.kvs[0] ?? null));
  }
  return { succeeded: response.succeeded, revision: response.header.revision, read };
}

/** The key of a watched or read key-value pair, as text. */
export function keyOf(kv: IKeyValue): string {
  return kv.key.toString('utf8');
}

/** Parses a value written by a fleet: JSON of an object, or null for anything else. */
export function jsonObjectOf(kv: IKeyValue): Record<string, unknown> | null {
  try {
    const value = JSON.parse(kv.value.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
