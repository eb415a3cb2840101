/**
 * A one-time warning when a service config naming `traffic_split` is prepared while the policy is
 * not registered: nothing else can see that mistake, since grpc-js skips an unknown policy in
 * `loadBalancingConfig` and uses `pick_first`, logging it only at DEBUG, and this package runs
 * no code at import (`sideEffects: false`: registering on import would not survive bundlers).
 * Through `process.emitWarning` (type `TrafficSplitWarning`, code `WARN_SPLIT_NOT_REGISTERED`).
 * @module
 */
import { POLICY_NAME } from '../../base/constants.js';
import { installedGrpcJs, isLoadBalancerNameRegistered } from './grpc.js';
import { emitClientWarning } from './logging.js';

let warnedUnregistered = false;

/**
 * Warns when the policy is not registered in the application's grpc-js while the application
 * prepares a service config that names it (`where`): grpc-js skips an unknown policy in
 * `loadBalancingConfig` and uses `pick_first`, logging that only at DEBUG.
 */
export function warnIfNotRegistered(where: string): void {
  if (warnedUnregistered || isLoadBalancerNameRegistered(POLICY_NAME)) return;
  warnedUnregistered = true;
  const grpcJs = installedGrpcJs();
  const which = grpcJs === null ? '@grpc/grpc-js' : `@grpc/grpc-js ${grpcJs.version} (${grpcJs.directory})`;
  emitClientWarning(
    `${where}: the ${POLICY_NAME} policy is not registered in ${which}, so a channel whose service config names it ` +
      `silently uses pick_first instead; call register() from grpc-traffic-split before creating such channels ` +
      '(new TrafficSplit() registers it too)',
    'WARN_SPLIT_NOT_REGISTERED',
  );
}
