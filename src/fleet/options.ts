/**
 * Options of `joinFleet()`: their types, defaults and the parser that checks them before
 * anything is written to etcd.
 * @module
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { typeErrorAt } from '../base/errors.js';
import { integerIn, rejectUnknownKeys, requireObject, stringMatching, timerMs } from '../base/validate.js';
import type { EtcdClient } from './etcd/etcd.js';

/** Options of `joinFleet()`. */
export interface FleetOptions {
  /**
   * Your `etcd3` client (`new Etcd3({ hosts })`), or a namespace of one: the fleet never creates
   * one, so hosts, TLS, authentication and retry policies are yours. For fast recovery after an
   * outage give it short back-offs (see the README's fleet section).
   */
  client: EtcdClient;
  /** The fleet's keys live under this prefix (no trailing slash): one prefix per split, shared
   * by every replica of it. @example '/traffic-split/reporter' */
  prefix: string;
  /** This replica's name in the fleet (figures, election, who wrote what): letters, digits,
   * `.`, `_`, `:` and `-`, up to 128. @default `<hostname>-<pid>-<random>` */
  replicaId?: string;
  /** TTL of the replica's lease in seconds: a replica that stops renewing it (dead, paused,
   * cut off) leaves the figures and the election within this time of its last renewal, and
   * another replica takes over a rollout it led (the lease is granted in etcd one second
   * shorter, since etcd finds ended leases only every 500 ms). 2 to 3600. @default 10 */
  leaseTtlSeconds?: number;
  /** How often the replica publishes its figures, in milliseconds (it also publishes at once
   * when asked, at each rollout window's start and end). @default 1000 */
  publishIntervalMs?: number;
  /** How long a rollout's leader waits for every replica's figures at the end of a window
   * before it judges on the latest it has, in milliseconds. @default 2000 */
  figuresTimeoutMs?: number;
  /** etcd unreachable this long (watch stream down, or lease not renewed) logs one warning,
   * in milliseconds. @default 5000 */
  unreachableWarningMs?: number;
}

/** Validated options with every default filled in. @internal */
export interface ParsedFleetOptions {
  readonly client: EtcdClient;
  readonly prefix: string;
  readonly replicaId: string;
  readonly leaseTtlSeconds: number;
  readonly publishIntervalMs: number;
  readonly figuresTimeoutMs: number;
  readonly unreachableWarningMs: number;
}

export const DEFAULT_LEASE_TTL_SECONDS = 10;
export const DEFAULT_PUBLISH_INTERVAL_MS = 1_000;
export const DEFAULT_FIGURES_TIMEOUT_MS = 2_000;
export const DEFAULT_UNREACHABLE_WARNING_MS = 5_000;

/** What a replica id may be (it ends a key: no "/"). @internal */
export const REPLICA_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

const KEYS = [
  'client',
  'prefix',
  'replicaId',
  'leaseTtlSeconds',
  'publishIntervalMs',
  'figuresTimeoutMs',
  'unreachableWarningMs',
];
const CLIENT_METHODS = ['get', 'getAll', 'put', 'if', 'lease', 'watch'];

/** Checks every option; throws TrafficSplitTypeError / TrafficSplitRangeError naming the field. @internal */
export function parseFleetOptions(raw: unknown): ParsedFleetOptions {
  const obj = requireObject(raw, 'options', 'an object with "client" and "prefix"');
  rejectUnknownKeys(obj, KEYS, 'options.');
  const client = obj['client'];
  const methods = typeof client === 'object' && client !== null ? (client as Record<string, unknown>) : null;
  if (methods === null || !CLIENT_METHODS.every((name) => typeof methods[name] === 'function')) {
    throw typeErrorAt('client', `an etcd3 client (an object with ${CLIENT_METHODS.join(', ')} methods)`, client);
  }
  return Object.freeze({
    client: client as EtcdClient,
    prefix: stringMatching(
      'prefix',
      obj['prefix'],
      /^[\x21-\x7e]{1,256}(?<!\/)$/,
      'a key prefix of 1 to 256 printable characters without a trailing "/"',
    ),
    replicaId:
      obj['replicaId'] === undefined
        ? `${hostname()
            .replace(/[^A-Za-z0-9._:-]/g, '-')
            .slice(0, 100)}-${process.pid}-${randomBytes(3).toString('hex')}`
        : stringMatching(
            'replicaId',
            obj['replicaId'],
            REPLICA_ID_PATTERN,
            'letters, digits, ".", "_", ":" or "-" (1 to 128)',
          ),
    leaseTtlSeconds:
      obj['leaseTtlSeconds'] === undefined
        ? DEFAULT_LEASE_TTL_SECONDS
        : integerIn('leaseTtlSeconds', obj['leaseTtlSeconds'], 2, 3600, { unit: 'seconds' }),
    publishIntervalMs:
      obj['publishIntervalMs'] === undefined
        ? DEFAULT_PUBLISH_INTERVAL_MS
        : timerMs('publishIntervalMs', obj['publishIntervalMs'], 50),
    figuresTimeoutMs:
      obj['figuresTimeoutMs'] === undefined
        ? DEFAULT_FIGURES_TIMEOUT_MS
        : timerMs('figuresTimeoutMs', obj['figuresTimeoutMs'], 1),
    unreachableWarningMs:
      obj['unreachableWarningMs'] === undefined
        ? DEFAULT_UNREACHABLE_WARNING_MS
        : timerMs('unreachableWarningMs', obj['unreachableWarningMs'], 1),
  });
}
