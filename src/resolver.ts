/**
 * The `traffic-split:` scheme. `split.target` names a split of this process; its resolver hands
 * the channel a service config selecting the `traffic_split` policy, plus the split's live state
 * as a resolver attribute. It resolves no addresses itself: each subset's resolver does that.
 * @internal
 * @module
 */
import { POLICY_NAME } from './constants.js';
import {
  Metadata,
  reportResolution,
  Status,
  type ChannelOptions,
  type GrpcUri,
  type Resolver,
  type ResolverListener,
  type ServiceConfig,
} from './grpc.js';
import { STATE_ATTRIBUTE, type SplitState } from './split-state.js';

/** What the resolver needs of a live split. */
export interface SplitRegistration {
  readonly state: SplitState;
  readonly authority: string;
  /** The policy config, with the weights in force now. */
  policyConfig(): object;
}

const splits = new Map<string, SplitRegistration>();

export function registerSplit(id: string, registration: SplitRegistration): void {
  splits.set(id, registration);
}

export function unregisterSplit(id: string): void {
  splits.delete(id);
}

export class TrafficSplitResolver implements Resolver {
  private destroyed = false;
  private pending = false;
  /** The application's own `grpc.service_config` minus its load-balancing part: its method
   * configs (timeouts, retry policies) keep working on a split's channel. */
  private readonly baseServiceConfig: Omit<ServiceConfig, 'loadBalancingConfig'>;

  constructor(
    private readonly target: GrpcUri,
    private readonly listener: ResolverListener,
    options: ChannelOptions,
  ) {
    this.baseServiceConfig = baseServiceConfigFrom(options['grpc.service_config']);
  }

  updateResolution(): void {
    // Results must never be delivered synchronously (the Resolver contract); coalesce requests.
    if (this.pending) return;
    this.pending = true;
    process.nextTick(() => {
      this.pending = false;
      if (!this.destroyed) this.report();
    });
  }

  destroy(): void {
    this.destroyed = true;
  }

  private report(): void {
    const split = splits.get(this.target.path);
    if (split === undefined) {
      const details = `${POLICY_NAME}: no open split "${this.target.path}" in this process (closed?)`;
      const error = { code: Status.UNAVAILABLE, details, metadata: new Metadata() };
      reportResolution(this.listener, { ok: false, error }, {}, null, details);
      return;
    }
    const serviceConfig = {
      ...this.baseServiceConfig,
      loadBalancingConfig: [split.policyConfig()],
    } as ServiceConfig;
    reportResolution(this.listener, { ok: true, value: [] }, { [STATE_ATTRIBUTE]: split.state }, { ok: true, value: serviceConfig }, '');
  }

  static getDefaultAuthority(target: GrpcUri): string {
    const split = splits.get(target.path);
    if (split === undefined) throw new Error(`${POLICY_NAME}: no open split "${target.path}" in this process (closed?)`);
    return split.authority;
  }
}

function baseServiceConfigFrom(json: unknown): Omit<ServiceConfig, 'loadBalancingConfig'> {
  // grpc-js has already parsed and validated this option when it built the channel.
  let parsed: Partial<ServiceConfig> = {};
  if (typeof json === 'string') {
    try {
      parsed = JSON.parse(json) as Partial<ServiceConfig>;
    } catch {
      parsed = {};
    }
  }
  const { loadBalancingConfig: _ignored, loadBalancingPolicy: _alsoIgnored, ...rest } = parsed;
  return { ...rest, methodConfig: rest.methodConfig ?? [] };
}
