/**
 * The admin endpoint's errors and their answers. Whatever a request makes a handler throw,
 * even a value whose `instanceof` or description throws, becomes an answer here: nothing a
 * request does may reach the process as an exception.
 * @module
 */
import {
  describeValue,
  TrafficSplitClosedError,
  TrafficSplitRangeError,
  TrafficSplitRolloutError,
  TrafficSplitTypeError,
} from '../../base/errors.js';
import { logError } from '../../split/ops-port.js';
import type { ReplyRefusal } from './admin-reply.js';
import type { AdminReply } from './admin-routes.js';

/** Stable `code` of each error answer of the admin endpoint (400 and 409 carry the split's own codes, 503 a
 * fleet's `ERR_FLEET_WRITE` too). */
export type AdminErrorCode =
  | 'ERR_ADMIN_UNAUTHORIZED'
  | 'ERR_ADMIN_FORBIDDEN'
  | 'ERR_ADMIN_HOST_NOT_ALLOWED'
  | 'ERR_ADMIN_BAD_REQUEST'
  | 'ERR_ADMIN_NOT_FOUND'
  | 'ERR_ADMIN_METHOD_NOT_ALLOWED'
  | 'ERR_ADMIN_REQUEST_TIMEOUT'
  | 'ERR_ADMIN_BODY_TOO_LARGE'
  | 'ERR_ADMIN_INTERNAL'
  | 'ERR_ADMIN_REPLY_TOO_LARGE'
  | 'ERR_ADMIN_BUSY';

/** An HTTP status with a message, thrown inside request handling. @internal */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: AdminErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The client went away before its request arrived: its doing, worth a warning at most. @internal */
export class ClientAbortError extends Error {}

const INTERNAL_ERROR: AdminReply = { status: 500, json: { error: 'internal error', code: 'ERR_ADMIN_INTERNAL' } };

/** True for a ClientAbortError; false for anything else, a value that throws on `instanceof` too. @internal */
export function isClientAbort(error: unknown): boolean {
  try {
    return error instanceof ClientAbortError;
  } catch {
    return false;
  }
}

/** The answer to what a request's handling threw. Never throws. @internal */
export function errorReply(error: unknown): AdminReply {
  try {
    if (error instanceof HttpError)
      return { status: error.status, json: { error: error.message, code: error.code }, headers: error.headers };
    if (error instanceof TrafficSplitTypeError || error instanceof TrafficSplitRangeError) {
      return { status: 400, json: { error: error.message, code: error.code } };
    }
    if (error instanceof TrafficSplitRolloutError || error instanceof TrafficSplitClosedError) {
      return { status: 409, json: { error: error.message, code: error.code } };
    }
    if (isFleetError(error)) {
      // etcd could not take a fleet's change (down, or others kept writing first): nothing
      // changed, and trying again later may work. Known by name: /ops never loads the fleet.
      return { status: 503, json: { error: error.message, code: error.code }, headers: { 'retry-after': '1' } };
    }
    // Not the client's fault: log it, and do not echo internals to the client.
    logError(`admin endpoint: ${describeError(error)}`);
  } catch {
    // A thrown proxy can make even `instanceof` throw.
  }
  return INTERNAL_ERROR;
}

function isFleetError(error: unknown): error is Error & { code: string } {
  return (
    error instanceof Error &&
    error.name === 'TrafficSplitFleetError' &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}

/** The answer to a refused answer (too large, or too many bytes held). @internal */
export function refusalReply(refusal: ReplyRefusal): AdminReply {
  return {
    status: refusal.status,
    json: { error: refusal.message, code: refusal.code },
    headers: refusal.status === 503 ? { 'retry-after': '1' } : {},
  };
}

/** A thrown value in words, whatever it is (its getters may throw too). @internal */
export function describeError(error: unknown): string {
  try {
    return error instanceof Error ? (error.stack ?? error.message) : describeValue(error);
  } catch {
    return 'a thrown value that cannot be described';
  }
}
