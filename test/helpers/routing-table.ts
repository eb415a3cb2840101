/** The routing table the policy builds for a split once its routes are armed (policy.ts
 * `routingTable`): for tests that build pickers with `aggregateState` directly. */
import type { RoutingTable } from '../../src/policy/balancer/picker.js';
import type { SplitState } from '../../src/policy/balancer/split-state.js';
import { subsetSeeds } from '../../src/algorithms/routing/sticky-hash.js';

export function routingOf(state: SplitState, stickyKey: string | null = null): RoutingTable {
  state.armRoutes();
  return {
    token: state.token,
    splitName: state.name,
    subsetNames: state.subsetNames,
    rules: [],
    stickyKey,
    seeds: subsetSeeds(state.subsetNames),
  };
}
