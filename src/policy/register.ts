/**
 * Registration into the application's grpc-js (the peer dependency). Idempotent.
 * @module
 */
import { POLICY_NAME, TARGET_SCHEME } from '../base/constants.js';
import { installedGrpcJs, missingGrpcExports, policyForAnyVersion, registerLoadBalancerType, registerResolver } from './grpc.js';
import { assertSupportedGrpcJs } from './grpc-version.js';
import { TrafficSplitLoadBalancer, TrafficSplitLoadBalancingConfig } from './policy.js';
import { TrafficSplitResolver } from './resolver.js';

let registered = false;

/**
 * Registers the `traffic_split` policy and the `traffic-split:` scheme with grpc-js. `new
 * TrafficSplit()` calls it; call it yourself before creating a channel whose service config
 * names `traffic_split` without a `TrafficSplit`.
 * @throws {TrafficSplitUnsupportedGrpcError} (`ERR_SPLIT_UNSUPPORTED_GRPC`) when the application's
 * `@grpc/grpc-js` is outside the supported versions (1.10 to 1.14); the message names both.
 * @example
 * import { register } from 'grpc-traffic-split';
 * register();
 */
export function register(): void {
  if (registered) return;
  // Checked here rather than at import, so that merely loading the package never throws.
  assertSupportedGrpcJs(installedGrpcJs(), missingGrpcExports());
  registerLoadBalancerType(POLICY_NAME, policyForAnyVersion(TrafficSplitLoadBalancer), TrafficSplitLoadBalancingConfig);
  registerResolver(TARGET_SCHEME, TrafficSplitResolver);
  registered = true;
}
