/**
 * Registration into the application's grpc-js (the peer dependency). Idempotent.
 * @module
 */
import { POLICY_NAME, TARGET_SCHEME } from './constants.js';
import { registerLoadBalancerType, registerResolver } from './grpc.js';
import { TrafficSplitLoadBalancer, TrafficSplitLoadBalancingConfig } from './policy.js';
import { TrafficSplitResolver } from './resolver.js';

let registered = false;

/**
 * Registers the `traffic_split` policy and the `traffic-split:` scheme with grpc-js. `new
 * TrafficSplit()` calls it; call it yourself before creating a channel whose service config
 * names `traffic_split` without a `TrafficSplit`.
 * @example
 * import { register } from 'grpc-traffic-split';
 * register();
 */
export function register(): void {
  if (registered) return;
  registerLoadBalancerType(POLICY_NAME, TrafficSplitLoadBalancer, TrafficSplitLoadBalancingConfig);
  registerResolver(TARGET_SCHEME, TrafficSplitResolver);
  registered = true;
}
