/**
 * The `traffic-split:` scheme. `split.target` names a split of this process; its resolver hands
 * the channel a service config selecting the `traffic_split` policy, plus the split's live state
 * as a resolver attribute. It resolves no addresses itself: each subset's resolver does that.
 * @module
 */
import { POLICY_NAME, TARGET_SCHEME } from '../../base/constants.js';
import {
  Metadata,
  reportResolution,
  Status,
  validateServiceConfig,
  type ChannelOptions,
  type GrpcUri,
  type Resolver,
  type ResolverListener,
  type ServiceConfig,
  type StatusOr,
} from '../grpc/grpc.js';
import { STATE_ATTRIBUTE, SplitState } from './split-state.js';
import { AUTHORITY_ATTRIBUTE, connectionAuthority } from '../grpc/connection-sharing.js';

/** What the resolver needs of a live split. */
export interface SplitRegistration {
  readonly state: SplitState;
  readonly authority: string;
  /** The policy config: the split's settings, its weights taken from `state` (`weightsFrom`). */
  readonly policyConfig: object;
}

/**
 * What is kept of a closed split, for the channels still built from it: grpc-js asks for their
 * authority on every connect, and resolves them again after an idle period. A few strings each.
 */
interface ClosedSplit {
  readonly name: string;
  readonly authority: string;
  /** One subset and its target: the smallest valid policy config (the policy of a closed split
   * creates no child; see policy.ts). */
  readonly subset: string;
  readonly target: string;
}

/** How many closed splits are remembered; the oldest is forgotten first. A channel of a
 * forgotten split fails its calls as a target that does not resolve. */
const MAX_CLOSED_SPLITS = 4_096;

const splits = new Map<string, SplitRegistration>();
const closedSplits = new Map<string, ClosedSplit>();

export function registerSplit(id: string, registration: SplitRegistration): void {
  splits.set(id, registration);
}

/** The target of an open split named `name`, or undefined. */
export function openSplitNamed(name: string): string | undefined {
  for (const [id, split] of splits) if (split.state.name === name) return `${TARGET_SCHEME}:///${id}`;
  return undefined;
}

/** Forgets a split that is closing; its channels keep their authority and fail their calls. */
export function unregisterSplit(id: string): void {
  const split = splits.get(id);
  if (split === undefined) return;
  splits.delete(id);
  const config = (split.policyConfig as Record<string, { subsets: Record<string, string> }>)[POLICY_NAME]!;
  const [subset, target] = Object.entries(config.subsets)[0]!;
  if (closedSplits.size >= MAX_CLOSED_SPLITS) closedSplits.delete(closedSplits.keys().next().value!);
  closedSplits.set(id, { name: split.state.name, authority: split.authority, subset, target });
}

/**
 * Follows grpc-js's resolver contract: results are delivered asynchronously, `destroy()` returns
 * the resolver to its initial state, and a later `updateResolution()` resolves again. grpc-js
 * relies on the last part: a channel that goes IDLE destroys its policy and this resolver, and
 * reuses the same resolver object when it leaves IDLE.
 */
export class TrafficSplitResolver implements Resolver {
  /** Bumped by destroy(), so that a result scheduled before it is dropped. */
  private generation = 0;
  private pending = false;
  /**
   * The application's own `grpc.service_config`, validated by grpc-js into the form its channel
   * reads (only that form's timeouts take effect), minus its load-balancing part: method configs,
   * retry throttling and everything else behave as on a plain channel.
   */
  private readonly baseServiceConfig: StatusOr<ServiceConfig>;

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
    const generation = this.generation;
    process.nextTick(() => {
      if (generation !== this.generation) return;
      this.pending = false;
      this.report();
    });
  }

  destroy(): void {
    this.generation += 1;
    this.pending = false;
  }

  private report(): void {
    const id = this.target.path;
    if (!this.baseServiceConfig.ok) {
      reportResolution(this.listener, { ok: true, value: [] }, {}, this.baseServiceConfig, '');
      return;
    }
    const split = splits.get(id);
    if (split !== undefined) {
      this.reportSplit(split.policyConfig, split.state, split.authority);
      return;
    }
    const closed = closedSplits.get(id);
    if (closed !== undefined) {
      // A closed state makes the policy fail every call at once with a DROP, which ends calls
      // under wait-for-ready too (a resolution error would leave those waiting).
      const state = new SplitState(closed.name, [closed.subset], [1]);
      state.close();
      const config = { [POLICY_NAME]: { subsets: { [closed.subset]: closed.target }, weightsFrom: id } };
      this.reportSplit(config, state, closed.authority);
      return;
    }
    const details = `${POLICY_NAME}: no split "${id}" in this process`;
    reportResolution(
      this.listener,
      { ok: false, error: { code: Status.UNAVAILABLE, details, metadata: new Metadata() } },
      {},
      null,
      details,
    );
  }

  private reportSplit(policyConfig: object, state: SplitState, authority: string): void {
    const base = this.baseServiceConfig as { ok: true; value: ServiceConfig };
    const serviceConfig: ServiceConfig = {
      ...base.value,
      loadBalancingConfig: [policyConfig as ServiceConfig['loadBalancingConfig'][number]],
    };
    const attributes = { [STATE_ATTRIBUTE]: state, [AUTHORITY_ATTRIBUTE]: authority };
    reportResolution(this.listener, { ok: true, value: [] }, attributes, { ok: true, value: serviceConfig }, '');
  }

  /**
   * The split's authority, also after it closed: grpc-js asks on every connect of the split's
   * channels, and a throw there loses the connection's socket for good (its connector drops the
   * rejection before destroying the socket). So this never throws. Connections shared between
   * splits have targets of their own, naming their authority (connection-sharing.ts).
   */
  static getDefaultAuthority(target: GrpcUri): string {
    const path = target.path;
    return connectionAuthority(target) ?? splits.get(path)?.authority ?? closedSplits.get(path)?.authority ?? path;
  }
}

function baseServiceConfigFrom(json: unknown): StatusOr<ServiceConfig> {
  if (typeof json !== 'string') return { ok: true, value: { loadBalancingConfig: [], methodConfig: [] } };
  try {
    // grpc-js has already validated this option when it built the channel, so this does not
    // fail there; it can only for a resolver created some other way.
    const { loadBalancingPolicy: _ignored, ...parsed } = validateServiceConfig(JSON.parse(json));
    return { ok: true, value: { ...parsed, loadBalancingConfig: [] } };
  } catch (error) {
    return {
      ok: false,
      error: {
        code: Status.UNAVAILABLE,
        details: `invalid grpc.service_config: ${(error as Error).message}`,
        metadata: new Metadata(),
      },
    };
  }
}
