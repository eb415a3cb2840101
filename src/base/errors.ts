/**
 * Error types. Synchronous misuse of the API throws one of these; nothing on the call path throws
 * (call-path failures are pick results with a gRPC status).
 * @module
 */

/** Stable, documented error codes, safe to branch on. */
export type TrafficSplitErrorCode =
  /** A constructor option, a service-config field or a weight is invalid. */
  | 'ERR_SPLIT_INVALID_CONFIG'
  /** The split was used after `close()`. */
  | 'ERR_SPLIT_CLOSED'
  /** A rollout was started on a split that already has one running. */
  | 'ERR_SPLIT_ROLLOUT_RUNNING'
  /** The application's `@grpc/grpc-js` is a version the policy does not support. */
  | 'ERR_SPLIT_UNSUPPORTED_GRPC'
  /** `instrumentTrafficSplit()` without `@opentelemetry/api` installed or passed. */
  | 'ERR_SPLIT_OTEL_API_MISSING';

/** A wrong type: a non-object, a string where a number belongs, an unknown key. */
export class TrafficSplitTypeError extends TypeError {
  readonly code: TrafficSplitErrorCode;
  constructor(message: string, code: TrafficSplitErrorCode = 'ERR_SPLIT_INVALID_CONFIG') {
    super(message);
    this.name = 'TrafficSplitTypeError';
    this.code = code;
  }
}

/** A value of the right type but out of range: a negative weight, all weights zero. */
export class TrafficSplitRangeError extends RangeError {
  readonly code: TrafficSplitErrorCode;
  constructor(message: string, code: TrafficSplitErrorCode = 'ERR_SPLIT_INVALID_CONFIG') {
    super(message);
    this.name = 'TrafficSplitRangeError';
    this.code = code;
  }
}

/** A call on a split after its `close()`. */
export class TrafficSplitClosedError extends Error {
  readonly code: TrafficSplitErrorCode = 'ERR_SPLIT_CLOSED';
  constructor(splitName: string, operation: string) {
    super(`traffic split "${splitName}" is closed; ${operation} is not possible`);
    this.name = 'TrafficSplitClosedError';
  }
}

/** `startRollout()` on a split that already has a rollout running: one at a time per split. */
export class TrafficSplitRolloutError extends Error {
  readonly code: TrafficSplitErrorCode = 'ERR_SPLIT_ROLLOUT_RUNNING';
  constructor(message: string) {
    super(message);
    this.name = 'TrafficSplitRolloutError';
  }
}

/** Registration into a `@grpc/grpc-js` whose version or extension points are not supported. */
export class TrafficSplitUnsupportedGrpcError extends Error {
  readonly code: TrafficSplitErrorCode = 'ERR_SPLIT_UNSUPPORTED_GRPC';
  constructor(
    message: string,
    /** The installed grpc-js version, when it could be read. */
    readonly installedVersion: string | null,
  ) {
    super(message);
    this.name = 'TrafficSplitUnsupportedGrpcError';
  }
}

/** `instrumentTrafficSplit()` could not start: no `@opentelemetry/api`, or a closed split. */
export class TrafficSplitTelemetryError extends Error {
  readonly code: TrafficSplitErrorCode;
  constructor(message: string, code: TrafficSplitErrorCode) {
    super(message);
    this.name = 'TrafficSplitTelemetryError';
    this.code = code;
  }
}

/**
 * Renders a rejected value for an error message: short, unambiguous about its type, never
 * throwing (values may be proxies, cyclic, or huge).
 */
export function describeValue(value: unknown): string {
  let shown: string;
  try {
    if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
      shown = String(value);
    } else if (typeof value === 'symbol' || typeof value === 'function') {
      shown = typeof value === 'symbol' ? value.toString() : `function ${value.name || '(anonymous)'}`;
    } else if (value === undefined) {
      return 'undefined';
    } else {
      shown = JSON.stringify(value) ?? String(value);
    }
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${kind})`;
}

/** A key as it appears in a field path: at most 64 characters, so a huge key cannot make a
 * huge message. */
export function keyForPath(key: string): string {
  return key.length <= 64 ? key : `${key.slice(0, 61)}...`;
}

/** `<field>: expected <expectation>, got <value>` as a TypeError. */
export function typeErrorAt(field: string, expectation: string, value: unknown): TrafficSplitTypeError {
  return new TrafficSplitTypeError(`${field}: expected ${expectation}, got ${describeValue(value)}`);
}

/** `<field>: expected <expectation>, got <value>` as a RangeError. */
export function rangeErrorAt(field: string, expectation: string, value: unknown): TrafficSplitRangeError {
  return new TrafficSplitRangeError(`${field}: expected ${expectation}, got ${describeValue(value)}`);
}
