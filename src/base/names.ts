/**
 * Names of gRPC's connectivity states and status codes, as the figures and options spell them.
 * Plain string unions: every layer may use them.
 * @module
 */

/**
 * A grpc-js connectivity state by name. Spelt out rather than derived from grpc-js's enum, so
 * that it stays an exact union in every consumer's compilation, whatever its `lib` setting.
 */
export type ConnectivityStateName = 'IDLE' | 'CONNECTING' | 'READY' | 'TRANSIENT_FAILURE' | 'SHUTDOWN';
/** A gRPC status code by name (`'OK'`, `'UNAVAILABLE'`, ...), as in `stats()` and rollout options. */
export type StatusName =
  | 'OK'
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';
