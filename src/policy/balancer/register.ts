/**
 * Registration into the application's grpc-js (the peer dependency). Idempotent.
 * @module
 */
import { POLICY_NAME, TARGET_SCHEME } from '../../base/constants.js';
import {
  installedGrpcJs,
  missingGrpcExports,
  policyForAnyVersion,
  registerLoadBalancerType,
  registerResolver,
} from '../grpc/grpc.js';
import { assertSupportedGrpcJs } from '../grpc/grpc-version.js';
import { TrafficSplitLoadBalancer, TrafficSplitLoadBalancingConfig } from './policy.js';
import { TrafficSplitResolver } from './resolver.js';
import { guardOtherGrpcJsCopies } from '../grpc/grpc-copies.js';

let registered = false;

/**
 * Registers the `traffic_split` policy and the `traffic-split:` scheme with grpc-js. `new
 * TrafficSplit()` calls it; call it yourself before creating a channel whose service config
 * names `traffic_split` without a `TrafficSplit` (grpc-js would silently use `pick_first`). Each
 * call also looks for other copies of grpc-js loaded in the process, so that a client built with
 * one of them fails with an error naming both copies (see grpc-copies.ts).
 * @throws {TrafficSplitUnsupportedGrpcError} (`ERR_SPLIT_UNSUPPORTED_GRPC`) when the application's
 * `@grpc/grpc-js` is outside `SUPPORTED_GRPC_JS_RANGE`; the message names both.
 * @example
 * import { register } from 'grpc-traffic-split';
 * register();
 */
export function register(): void {
  if (registered) {
    guardOtherGrpcJsCopies();
    return;
  }
  // Checked here rather than at import, so that merely loading the package never throws.
  assertSupportedGrpcJs(installedGrpcJs(), missingGrpcExports());
  registerLoadBalancerType(
    POLICY_NAME,
    policyForAnyVersion(TrafficSplitLoadBalancer),
    TrafficSplitLoadBalancingConfig,
  );
  registerResolver(TARGET_SCHEME, TrafficSplitResolver);
  registered = true;
  guardOtherGrpcJsCopies();
}
