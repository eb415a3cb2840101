/**
 * Options of the admin endpoint: validation and defaults.
 * @module
 */
import { isIPv4 } from 'node:net';
import {
  booleanValue,
  integerIn,
  nonEmptyString,
  rejectUnknownKeys,
  requireObject,
  stringMatching,
  timerMs,
} from '../../base/validate.js';
import { typeErrorAt, TrafficSplitTypeError } from '../../base/errors.js';
import { DEFAULT_RUNTIME_PREFIX } from './runtime-modify.js';

export interface ParsedAdminOptions {
  port: number;
  host: string;
  token: string | null;
  protectReads: boolean;
  prefix: string;
  maxBodyBytes: number;
  maxConnections: number;
  requestTimeoutMs: number;
  allowedHosts: ReadonlySet<string>;
}

/** Default `maxBodyBytes`: weights and rollout options are a few hundred bytes. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const TOKEN_PATTERN = /^[\x21-\x7e]{16,4096}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Default `maxConnections`: a few operators and scrapers, with room to spare. */
export const DEFAULT_MAX_CONNECTIONS = 64;
/** Default `requestTimeoutMs`: bounds a slow client's hold on a connection. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export function parseAdminOptions(raw: unknown): ParsedAdminOptions {
  const obj = requireObject(raw, 'options', 'an object with at least "port"');
  rejectUnknownKeys(
    obj,
    [
      'port',
      'host',
      'token',
      'protectReads',
      'prefix',
      'maxBodyBytes',
      'maxConnections',
      'requestTimeoutMs',
      'allowedHosts',
    ],
    '',
  );
  const port = integerIn('port', obj['port'], 0, 65535);
  const host = nonEmptyString('host', obj['host'] ?? '127.0.0.1', 'a host name or IP address');
  const token = obj['token'] ?? null;
  if (token !== null && (typeof token !== 'string' || !TOKEN_PATTERN.test(token))) {
    // The value is a secret: describe its type and length, never show it.
    const shown =
      typeof token === 'string' ? `a string of ${token.length} characters` : `a value of type ${typeof token}`;
    throw new TrafficSplitTypeError(
      `token: expected 16 to 4096 visible ASCII characters (no spaces or line breaks), got ${shown}`,
    );
  }
  const protectReads = booleanValue('protectReads', obj['protectReads'] ?? false);
  if (token === null && !isLoopback(host)) {
    throw typeErrorAt(
      'token',
      `a token when host "${host}" is not a loopback address (the endpoint changes traffic)`,
      undefined,
    );
  }
  if (token === null && protectReads) throw typeErrorAt('token', 'a token when protectReads is true', undefined);
  const prefix = stringMatching(
    'prefix',
    obj['prefix'] ?? DEFAULT_RUNTIME_PREFIX,
    PREFIX_PATTERN,
    'dot-separated words such as "routing.traffic_split"',
  );
  const maxBodyBytes = integerIn('maxBodyBytes', obj['maxBodyBytes'] ?? DEFAULT_MAX_BODY_BYTES, 1, 16 * 1024 * 1024, {
    unit: 'bytes',
  });
  // Unlike the options above, these two refuse null.
  const maxConnections =
    obj['maxConnections'] === undefined
      ? DEFAULT_MAX_CONNECTIONS
      : integerIn('maxConnections', obj['maxConnections'], 1, 65535, { unit: 'connections' });
  const requestTimeoutMs =
    obj['requestTimeoutMs'] === undefined
      ? DEFAULT_REQUEST_TIMEOUT_MS
      : timerMs('requestTimeoutMs', obj['requestTimeoutMs'], 1);
  const allowedHosts = obj['allowedHosts'] ?? [];
  if (!Array.isArray(allowedHosts) || !allowedHosts.every((name) => typeof name === 'string' && name !== '')) {
    throw typeErrorAt('allowedHosts', 'a list of host names such as ["admin.internal"]', allowedHosts);
  }
  return {
    port,
    host,
    token,
    protectReads,
    prefix,
    maxBodyBytes,
    maxConnections,
    requestTimeoutMs,
    allowedHosts: new Set(allowedHosts.map((name: string) => name.toLowerCase())),
  };
}

/** 127.0.0.0/8, ::1 and localhost. Anything else may be reachable from other hosts. */
function isLoopback(host: string): boolean {
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return host === 'localhost' || host === '::1' || (isIPv4(v4) && v4.startsWith('127.'));
}
