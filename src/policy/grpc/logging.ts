/** Tracing under grpc-js's own switch: `GRPC_TRACE=traffic_split GRPC_VERBOSITY=DEBUG`. @module */
import { LogVerbosity, trace as grpcTrace, log as grpcLog } from './grpc.js';

export const TRACER_NAME = 'traffic_split';

/** A debug line under the `traffic_split` tracer. Never called from `pick()`. */
export function trace(text: string): void {
  grpcTrace(LogVerbosity.DEBUG, TRACER_NAME, text);
}

/** An error line that is printed at grpc-js's default verbosity. */
export function logError(text: string): void {
  grpcLog(LogVerbosity.ERROR, `${TRACER_NAME}: ${text}`);
}

/**
 * A warning: something an operator should see that is not a failure of the library. grpc-js has
 * no WARNING severity (DEBUG, INFO, ERROR) and prints only ERROR by default, so a warning goes out
 * at ERROR, marked `warning:` in its text. Never called from `pick()`.
 */
export function logWarning(text: string): void {
  grpcLog(LogVerbosity.ERROR, `${TRACER_NAME}: warning: ${text}`);
}

/**
 * A warning through Node's own channel (`process.emitWarning`: printed to stderr
 * without a stack, and observable with `process.on('warning')`), for events caused by a client
 * rather than by the process: they deserve a line, not an ERROR with a stack.
 */
export function emitClientWarning(text: string, code: string): void {
  process.emitWarning(`${TRACER_NAME}: ${text}`, { type: 'TrafficSplitWarning', code });
}
