/**
 * The fleet's own error: what etcd refused or could not be asked. Invalid arguments throw the
 * library's TrafficSplitTypeError / TrafficSplitRangeError, as everywhere else.
 * @module
 */

/** Stable codes of `TrafficSplitFleetError`. */
export type TrafficSplitFleetErrorCode =
  /** `joinFleet()` could not read or write etcd. */
  | 'ERR_FLEET_JOIN'
  /** A weight change could not be written to etcd (unreachable, or others kept writing first). */
  | 'ERR_FLEET_WRITE'
  /** A weight change was written to etcd, but this replica's watch did not apply it in time. */
  | 'ERR_FLEET_NOT_APPLIED';

/** etcd refused or could not be asked; nothing changed in the fleet. */
export class TrafficSplitFleetError extends Error {
  readonly code: TrafficSplitFleetErrorCode;
  constructor(message: string, code: TrafficSplitFleetErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrafficSplitFleetError';
    this.code = code;
  }
}

/** An error's message, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
