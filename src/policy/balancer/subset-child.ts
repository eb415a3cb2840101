/**
 * One subset inside one channel: its own grpc-js resolver for the subset's target, and a child
 * policy (round_robin by default) over the endpoints that resolver finds. The child reports its
 * state and picker up through `onUpdate`; the parent policy aggregates.
 * @module
 */
import {
  BackoffTimeout,
  ChildPolicy,
  ConnectivityState,
  createChildChannelControlHelper,
  createTargetResolver,
  QueuePicker,
  type ChannelControlHelper,
  type ChannelOptions,
  type Endpoint,
  type LoadBalancer,
  type Picker,
  type Resolver,
  type StatusOr,
  type TypedLoadBalancingConfig,
} from '../grpc/grpc.js';
import { unrefTimer, type Clock, type ClockTimer } from '../../base/clock.js';
import { trace } from '../grpc/logging.js';
import { subsetSubchannelFactory } from '../grpc/connection-sharing.js';

/** Retry of a failed resolution: grpc-js's channel does this for its own resolver, and our
 * subsets' resolvers sit below the channel, so we do it for them. */
const RESOLUTION_BACKOFF = { initialDelay: 1_000, maxDelay: 120_000 };

/**
 * Least time between two resolutions that child policies ask for. round_robin asks whenever a
 * child leaves READY while it is READY, which includes every new endpoint still connecting, and
 * grpc-js counts on resolvers to rate-limit that; resolvers that answer at once (ipv4:, custom
 * schemes) do not, so without this a scale-up turns into a resolution loop.
 */
const MIN_REQUESTED_RESOLUTION_INTERVAL_MS = 1_000;

export class SubsetChild {
  state: ConnectivityState = ConnectivityState.CONNECTING;
  picker: Picker;
  lastError: string | null = null;
  endpointCount = 0;
  /**
   * Whether the subset, not READY, is still within its connect grace: the first connect, or a
   * connect again after READY (a GOAWAY, an idle connection). A subset in grace keeps its share
   * of the calls (they wait for it); one that failed (TRANSIENT_FAILURE) gets no grace until it
   * has been READY again, so a subset that keeps failing never holds calls back.
   */
  inGrace = false;
  /** How long a grace lasts; 0 turns it off. Follows the config (`connectGraceMs`). */
  connectGraceMs = 0;
  private graceTimer: ClockTimer | null = null;
  private readonly handler: ChildPolicy;
  private readonly resolver: Resolver;
  private readonly resolutionBackoff: InstanceType<typeof BackoffTimeout>;
  private lastResolutionAt = -Infinity;
  private holdoffTimer: ClockTimer | null = null;
  private destroyed = false;

  constructor(
    readonly name: string,
    readonly target: string,
    private childConfig: TypedLoadBalancingConfig,
    private options: ChannelOptions,
    parentHelper: ChannelControlHelper,
    owner: LoadBalancer,
    private readonly onUpdate: (child: SubsetChild) => void,
    /** The split's clock, for the hold-off between requested resolutions. */
    private readonly clock: Clock,
  ) {
    this.picker = new QueuePicker(owner);
    this.handler = new ChildPolicy(
      createChildChannelControlHelper(parentHelper, {
        updateState: (state, picker, errorMessage) => this.onChildState(state, picker, errorMessage),
        // The channel's own re-resolution triggers (a connection lost, a subchannel in
        // TRANSIENT_FAILURE) reach this subset's resolver, not the channel's.
        requestReresolution: () => this.requestReresolution(),
        createSubchannel: subsetSubchannelFactory(parentHelper, () => this.options),
      }),
      owner,
    );
    this.resolutionBackoff = new BackoffTimeout(() => this.reresolve(), RESOLUTION_BACKOFF);
    this.resolutionBackoff.unref();
    this.resolver = createTargetResolver(target, this.onResolution, options);
  }

  /** Starts the first resolution and the first connect's grace; results arrive asynchronously. */
  start(): void {
    this.beginGrace();
    this.resolver.updateResolution();
  }

  /** Resolves again now (the periodic timer, a config change, the failure backoff). */
  reresolve(): void {
    if (this.destroyed) return;
    this.lastResolutionAt = this.clock.now();
    this.resolver.updateResolution();
  }

  /** A child policy's request: honoured at most once per MIN_REQUESTED_RESOLUTION_INTERVAL_MS. */
  private requestReresolution(): void {
    if (this.destroyed || this.holdoffTimer !== null) return;
    const waitMs = this.lastResolutionAt + MIN_REQUESTED_RESOLUTION_INTERVAL_MS - this.clock.now();
    if (waitMs <= 0) {
      this.reresolve();
      return;
    }
    this.holdoffTimer = this.clock.setTimeout(() => {
      this.holdoffTimer = null;
      this.reresolve();
    }, waitMs);
    unrefTimer(this.holdoffTimer);
  }

  /** A new child policy or channel options; endpoints come with the next resolution. */
  updateConfig(childConfig: TypedLoadBalancingConfig, options: ChannelOptions): void {
    this.childConfig = childConfig;
    this.options = options;
    this.reresolve();
  }

  exitIdle(): void {
    this.handler.exitIdle();
  }

  resetBackoff(): void {
    this.handler.resetBackoff();
  }

  destroy(): void {
    this.destroyed = true;
    this.endGrace();
    this.resolutionBackoff.stop();
    if (this.holdoffTimer !== null) this.clock.clearTimeout(this.holdoffTimer);
    this.resolver.destroy();
    this.handler.destroy();
  }

  private readonly onResolution = (
    endpoints: StatusOr<Endpoint[]>,
    attributes: { [key: string]: unknown },
    _serviceConfig: unknown,
    resolutionNote: string,
  ): boolean => {
    if (this.destroyed) return true;
    if (endpoints.ok) {
      this.resolutionBackoff.stop();
      this.resolutionBackoff.reset();
      this.endpointCount = endpoints.value.length;
      trace(`subset ${this.name}: resolved ${endpoints.value.length} endpoint(s) for ${this.target}`);
    } else {
      trace(`subset ${this.name}: resolving ${this.target} failed: ${endpoints.error.details}`);
      if (!this.resolutionBackoff.isRunning()) this.resolutionBackoff.runOnce();
    }
    // The child keeps its previous endpoints on an error, as grpc-js's own policies do.
    this.handler.updateAddressList(endpoints, this.childConfig, { ...this.options, ...attributes }, resolutionNote);
    return true;
  };

  private beginGrace(): void {
    this.endGrace();
    if (this.connectGraceMs <= 0) return;
    this.inGrace = true;
    this.graceTimer = this.clock.setTimeout(() => {
      this.graceTimer = null;
      this.inGrace = false;
      // The parent recomputes its picker: this subset's share goes to the READY ones.
      if (!this.destroyed) this.onUpdate(this);
    }, this.connectGraceMs);
    unrefTimer(this.graceTimer);
  }

  private endGrace(): void {
    if (this.graceTimer !== null) this.clock.clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.inGrace = false;
  }

  private onChildState(state: ConnectivityState, picker: Picker, errorMessage: string | null | undefined): void {
    if (this.destroyed) return;
    const previous = this.state;
    this.state = state;
    this.picker = picker;
    if (
      state === ConnectivityState.READY ||
      state === ConnectivityState.TRANSIENT_FAILURE ||
      state === ConnectivityState.SHUTDOWN
    ) {
      this.endGrace();
    } else if (previous === ConnectivityState.READY) {
      this.beginGrace();
    }
    // grpc-js before 1.13 reports states without an error message (undefined).
    if (errorMessage != null) this.lastError = errorMessage;
    if (state === ConnectivityState.IDLE) {
      // Every subset stays connected, weight 0 included, so that raising a weight needs no
      // connect. Deferred: a policy must not be re-entered from its own state callback.
      queueMicrotask(() => {
        if (!this.destroyed && this.state === ConnectivityState.IDLE) this.handler.exitIdle();
      });
    }
    this.onUpdate(this);
  }
}
