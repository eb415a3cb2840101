/**
 * The `traffic_split` load-balancing policy: one child per subset, each resolving its own target,
 * all kept connected; every call is routed by the split's shared schedule.
 * @module
 */
import { configToJson, parsePolicyConfig, type PolicyConfig } from './config.js';
import { POLICY_NAME } from '../../base/constants.js';
import {
  ConnectivityState,
  Metadata,
  Status,
  UnavailablePicker,
  type ChannelControlHelper,
  type ChannelOptions,
  type Endpoint,
  type LoadBalancer,
  type StatusOr,
  type TypedLoadBalancingConfig,
} from '../grpc/grpc.js';
import { realClock, unrefTimer, type Clock, type ClockTimer } from '../../base/clock.js';
import { logError, trace } from '../grpc/logging.js';
import { aggregateState } from './aggregate-state.js';
import type { RoutingTable } from './picker.js';
import { subsetSeeds } from '../../algorithms/routing/sticky-hash.js';
import type { ChannelView } from './channel-registry.js';
import { SplitState, STATE_ATTRIBUTE } from './split-state.js';
import { SubsetChild } from './subset-child.js';
import { noteSubsetState } from './subset-warnings.js';
import { MissingInterceptorWarning } from '../call/misuse.js';

/** The parsed policy config, as grpc-js's service-config machinery holds it. */
export class TrafficSplitLoadBalancingConfig implements TypedLoadBalancingConfig {
  constructor(readonly config: PolicyConfig) {}

  getLoadBalancerName(): string {
    return POLICY_NAME;
  }

  toJsonObject(): object {
    return { [POLICY_NAME]: configToJson(this.config) };
  }

  /** Called by grpc-js for every `{"traffic_split": ...}` entry of a service config. */
  static createFromJson(obj: unknown): TrafficSplitLoadBalancingConfig {
    try {
      return new TrafficSplitLoadBalancingConfig(parsePolicyConfig(obj));
    } catch (error) {
      // grpc-js logs a rejected entry only at DEBUG and moves on to the next entry (or to
      // pick_first), which would hide a broken split; say it where an operator will see it.
      logError(`service config rejected: ${(error as Error).message}`);
      throw error;
    }
  }
}

export class TrafficSplitLoadBalancer implements LoadBalancer, ChannelView {
  private children: SubsetChild[] = [];
  private config: PolicyConfig | null = null;
  private state: SplitState | null = null;
  private unsubscribe: (() => void) | null = null;
  private reresolveTimer: ClockTimer | null = null;
  /** The clock the re-resolution timer was set on (the state's may change with the state). */
  private reresolveClock: Clock = realClock;
  private reresolveIntervalMs = 0;
  /** Set while several children change at once, so the channel sees one state update. */
  private updatesPaused = false;
  private destroyed = false;
  private childPolicyJson = '';
  /** The routing inputs of the pickers, cached for the config and state they came from. */
  private routing: RoutingTable | null = null;
  private routingFor: PolicyConfig | null = null;
  private routingState: SplitState | null = null;
  /** Said once per channel of a split (not of a JSON-configured channel, which has no
   * interceptor to miss); a new state (another split) gets its own. */
  private missingInterceptor: MissingInterceptorWarning | null = null;

  constructor(private readonly helper: ChannelControlHelper) {}

  updateAddressList(
    _channelEndpoints: StatusOr<Endpoint[]>,
    lbConfig: TypedLoadBalancingConfig,
    options: ChannelOptions,
    _resolutionNote: string,
  ): boolean {
    // The channel's own endpoints are not used: every subset resolves its own target.
    if (this.destroyed || !(lbConfig instanceof TrafficSplitLoadBalancingConfig)) return false;
    const config = lbConfig.config;
    const attribute = options[STATE_ATTRIBUTE];
    const shared = attribute instanceof SplitState ? attribute : null;
    if (shared === null && config.weights === null) {
      this.refuseForeignSplitConfig(config.weightsFrom!);
      return true;
    }
    this.updatesPaused = true;
    try {
      this.adoptState(config, shared);
      this.config = config;
      // A closed split fails every call (calculateAndUpdateState); it never connects again, not
      // even when grpc-js builds a new policy for it after an idle period.
      if (!this.state!.closed) {
        this.syncChildren(config, options);
        this.scheduleReresolution(config.reresolveIntervalMs);
      }
    } finally {
      this.updatesPaused = false;
    }
    this.calculateAndUpdateState();
    return true;
  }

  exitIdle(): void {
    for (const child of this.children) child.exitIdle();
  }

  resetBackoff(): void {
    for (const child of this.children) child.resetBackoff();
  }

  destroy(): void {
    this.destroyed = true;
    this.detachState();
    this.releaseChildren();
  }

  getTypeName(): string {
    return POLICY_NAME;
  }

  subsetState(subset: number): ConnectivityState {
    return this.children[subset]?.state ?? ConnectivityState.IDLE;
  }

  subsetEndpointCount(subset: number): number {
    return this.children[subset]?.endpointCount ?? 0;
  }

  /**
   * A split's channels share its state (live weights, schedule, counters); a channel configured
   * by JSON alone owns a private one, whose weights follow each new service config.
   */
  private adoptState(config: PolicyConfig, shared: SplitState | null): void {
    if (shared !== null) {
      if (shared !== this.state) {
        this.attachState(shared);
        this.missingInterceptor = new MissingInterceptorWarning(shared.name);
      }
      return;
    }
    this.missingInterceptor = null;
    // A config without a split state always has weights: see updateAddressList.
    const weights = config.weights!;
    const own = this.state;
    if (own !== null && own.subsetNames.join('\0') === config.subsetNames.join('\0')) {
      own.applyWeights(weights);
      return;
    }
    this.attachState(new SplitState('service-config', config.subsetNames, weights));
  }

  /**
   * A split's own config (weights from the split) on a channel that is not built from the split's
   * target, e.g. copied into a service config by hand: there are no weights to split by.
   */
  private refuseForeignSplitConfig(splitId: string): void {
    const details =
      `${POLICY_NAME}: this config takes its weights from split "${splitId}", which ` +
      `only channels built from that split's target can use; write "weights" instead`;
    this.releaseChildren();
    this.helper.updateState(
      ConnectivityState.TRANSIENT_FAILURE,
      new UnavailablePicker({ code: Status.UNAVAILABLE, details, metadata: new Metadata() }),
      details,
    );
  }

  private attachState(state: SplitState): void {
    this.detachState();
    this.state = state;
    state.channels.add(this);
    this.unsubscribe = state.onChange(() => this.calculateAndUpdateState());
  }

  private detachState(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    const state = this.state;
    if (state === null) return;
    state.channels.remove(this);
    // The split's view of every subset may change with this channel gone (an IDLE channel drops
    // its policy): let it re-read them, or its subset events go stale until the next change.
    state.subsetNames.forEach((_, i) => state.subsetStateChanged(i));
  }

  /** Keeps children whose name and target are unchanged; creates and removes the others. */
  private syncChildren(config: PolicyConfig, options: ChannelOptions): void {
    const previous = new Map(this.children.map((child) => [child.name, child]));
    const childPolicyJson = JSON.stringify(config.childPolicy.toJsonObject());
    const changedPolicy = this.childPolicyJson !== childPolicyJson;
    this.childPolicyJson = childPolicyJson;
    const created: SubsetChild[] = [];
    this.children = config.subsetNames.map((name, i) => {
      const target = config.targets[i]!;
      const existing = previous.get(name);
      if (existing !== undefined && existing.target === target) {
        previous.delete(name);
        if (changedPolicy) existing.updateConfig(config.childPolicy, options);
        return existing;
      }
      const clock = this.state?.clock ?? realClock;
      const child = new SubsetChild(
        name,
        target,
        config.childPolicy,
        options,
        this.helper,
        this,
        (c) => this.onChildUpdate(c),
        clock,
      );
      created.push(child);
      return child;
    });
    for (const removed of previous.values()) removed.destroy();
    for (const child of this.children) child.connectGraceMs = config.connectGraceMs;
    for (const child of created) child.start();
  }

  private onChildUpdate(child: SubsetChild): void {
    const index = this.children.indexOf(child);
    if (index >= 0) this.state?.subsetStateChanged(index);
    if (index >= 0 && this.state !== null) noteSubsetState(this.state, index, child);
    this.calculateAndUpdateState();
  }

  private scheduleReresolution(intervalMs: number): void {
    const clock = this.state?.clock ?? realClock;
    if (this.reresolveTimer !== null && this.reresolveIntervalMs === intervalMs && this.reresolveClock === clock)
      return;
    this.stopReresolution();
    this.reresolveIntervalMs = intervalMs;
    this.reresolveClock = clock;
    if (intervalMs !== 0) this.armReresolution();
  }

  /** One period at a time on the split's clock (a Clock has one-shot timers only): catches
   * scale-up that no connection event would reveal (a new pod behind a DNS name). */
  private armReresolution(): void {
    this.reresolveTimer = this.reresolveClock.setTimeout(() => {
      this.reresolveTimer = null;
      for (const child of this.children) child.reresolve();
      if (!this.destroyed && this.reresolveIntervalMs !== 0) this.armReresolution();
    }, this.reresolveIntervalMs);
    unrefTimer(this.reresolveTimer);
  }

  private stopReresolution(): void {
    if (this.reresolveTimer !== null) this.reresolveClock.clearTimeout(this.reresolveTimer);
    this.reresolveTimer = null;
  }

  private releaseChildren(): void {
    this.stopReresolution();
    for (const child of this.children) child.destroy();
    this.children = [];
  }

  /** Recomputes the channel's state and picker from all children and the weights in force. */
  private calculateAndUpdateState(): void {
    const state = this.state;
    const config = this.config;
    if (this.updatesPaused || this.destroyed || state === null || config === null) return;
    if (state.closed) this.releaseChildren();
    const result = aggregateState(
      this.children,
      state,
      config.fallbackToZeroWeight,
      this.routingTable(state, config),
      this.missingInterceptor,
    );
    trace(`${state.name}: ${ConnectivityState[result.state]}`);
    this.helper.updateState(result.state, result.picker, result.errorMessage);
  }

  /** The routing inputs, rebuilt only when the config or the state changes. */
  private routingTable(state: SplitState, config: PolicyConfig): RoutingTable | null {
    if (config.rules.length === 0 && config.stickyKey === null && !state.routesInUse && state.methods.lookup === null)
      return null;
    if (this.routing === null || this.routingFor !== config || this.routingState !== state) {
      this.routing = Object.freeze({
        token: state.token,
        splitName: state.name,
        subsetNames: state.subsetNames,
        rules: config.rules,
        stickyKey: config.stickyKey,
        seeds: subsetSeeds(state.subsetNames),
      });
      this.routingFor = config;
      this.routingState = state;
    }
    return this.routing;
  }
}
