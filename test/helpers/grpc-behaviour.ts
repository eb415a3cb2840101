/**
 * Where the supported grpc-js versions behave differently in ways tests can observe (not in the
 * policy, which adapts; in grpc-js itself).
 */
import * as grpc from '@grpc/grpc-js';
import { createRequire } from 'node:module';

const { version } = createRequire(import.meta.url)('@grpc/grpc-js/package.json') as { version: string };
const minor = Number(version.split('.')[1]);

/** The status of a call cut off by a dropped connection: grpc-js before 1.12 says CANCELLED. */
export const DROPPED_CALL_STATUS: 'UNAVAILABLE' | 'CANCELLED' = minor >= 12 ? 'UNAVAILABLE' : 'CANCELLED';

/**
 * Whether a channel hands its resolver's errors to the policy (1.14 on). Before, a channel whose
 * own target does not resolve fails its calls before the policy runs, service config or not.
 */
export const RESOLUTION_ERRORS_REACH_POLICY =
  typeof (grpc.experimental as Record<string, unknown>)['statusOrFromValue'] === 'function';
