/**
 * The `traffic-split-mirror:` scheme: the target of the channels mirror copies are made on
 * (mirror-channels.ts), one per split and mirror subset. Its resolver resolves the subset's own
 * target with that target's resolver (as the split's policy does for each subset), and hands the
 * channel a service config of its own: the split's child policy (round_robin by default), no
 * method config (so no retry, no hedging, no wait-for-ready, no timeout of the application's),
 * no retry throttling. Its authority is the split's, so a copy carries the `:authority` and
 * passes the TLS name check its primary does.
 *
 * Requested re-resolutions are rate-limited, as the split's subsets' are (subset-child.ts): a
 * copy channel whose endpoint is down asks again at each failed connect, and a resolver that
 * answers at once (`ipv4:`, custom schemes) would otherwise turn that into a busy loop.
 *
 * A target of its own, rather than the subset's target, keeps copies out of grpc-js's state
 * keyed by target string: the retry throttler (global per target) and the subchannel pool share
 * nothing with the application's own channels to that target, while the copy channels of one
 * split share their connections (same target, options and credentials: one subchannel).
 * @module
 */
import {
  Metadata,
  registerResolver,
  reportResolution,
  Status,
  createTargetResolver,
  type ChannelOptions,
  type Endpoint,
  type GrpcUri,
  type Resolver,
  type ResolverListener,
  type ServiceConfig,
  type StatusOr,
} from '../grpc/grpc.js';

/** The URI scheme of the copy channels' targets. */
export const MIRROR_SCHEME = 'traffic-split-mirror';

/** What a split registers for its copy channels. */
export interface MirrorTargets {
  /** Each subset's target, by subset index. */
  readonly targets: readonly string[];
  /** The split's authority (`:authority`, TLS name). */
  readonly authority: string;
  /** The split's child policy, as a `loadBalancingConfig` entry (`{ round_robin: {} }`). */
  readonly childPolicy: object;
}

/** Least time between two resolutions of one copy channel, as for the split's subsets. */
const MIN_RESOLUTION_INTERVAL_MS = 1_000;

const splits = new Map<string, MirrorTargets>();
let registered = false;

/** Makes `mirrorTarget(splitId, i)` resolvable until `unregisterMirrorTargets(splitId)`. */
export function registerMirrorTargets(splitId: string, targets: MirrorTargets): void {
  if (!registered) {
    registerResolver(MIRROR_SCHEME, MirrorResolver);
    registered = true;
  }
  splits.set(splitId, targets);
}

export function unregisterMirrorTargets(splitId: string): void {
  splits.delete(splitId);
}

/** The target of the copy channels of split `splitId` to its subset `subset` (an index). */
export function mirrorTarget(splitId: string, subset: number): string {
  return `${MIRROR_SCHEME}:///${splitId}/${subset}`;
}

/** The registration and subset a target path (`<splitId>/<subset>`) names, or null. */
function lookup(path: string): { split: MirrorTargets; target: string } | null {
  const slash = path.lastIndexOf('/');
  const split = splits.get(path.slice(0, slash));
  const target = split?.targets[Number(path.slice(slash + 1))];
  return split === undefined || target === undefined ? null : { split, target };
}

/** Follows grpc-js's resolver contract (asynchronous results, `destroy()` then reuse), as the
 * subset's own resolver does: every call is passed to it. */
class MirrorResolver implements Resolver {
  private readonly inner: Resolver | null;
  private readonly serviceConfig: ServiceConfig | null;
  private destroyed = false;
  private lastResolutionAt = -Infinity;
  private holdoff: NodeJS.Timeout | null = null;

  constructor(
    private readonly uri: GrpcUri,
    private readonly listener: ResolverListener,
    options: ChannelOptions,
  ) {
    const found = lookup(uri.path);
    this.serviceConfig =
      found === null
        ? null
        : ({ loadBalancingConfig: [found.split.childPolicy], methodConfig: [] } as unknown as ServiceConfig);
    this.inner = found === null ? null : createTargetResolver(found.target, this.onResult, options);
  }

  updateResolution(): void {
    this.destroyed = false;
    if (this.inner !== null) {
      this.resolveSoon();
      return;
    }
    // A split that closed (its copy channels close with it): the channel fails its calls.
    process.nextTick(() => {
      if (this.destroyed) return;
      const details = `traffic_split: no mirror target "${this.uri.path}" in this process`;
      reportResolution(
        this.listener,
        { ok: false, error: { code: Status.UNAVAILABLE, details, metadata: new Metadata() } },
        {},
        null,
        details,
      );
    });
  }

  destroy(): void {
    this.destroyed = true;
    if (this.holdoff !== null) clearTimeout(this.holdoff);
    this.holdoff = null;
    // A channel leaving IDLE resolves at once.
    this.lastResolutionAt = -Infinity;
    this.inner?.destroy();
  }

  /** Resolves now, or once MIN_RESOLUTION_INTERVAL_MS have passed since the last time. */
  private resolveSoon(): void {
    if (this.holdoff !== null) return;
    const waitMs = this.lastResolutionAt + MIN_RESOLUTION_INTERVAL_MS - performance.now();
    if (waitMs <= 0) {
      this.lastResolutionAt = performance.now();
      this.inner!.updateResolution();
      return;
    }
    this.holdoff = setTimeout(() => {
      this.holdoff = null;
      if (this.destroyed) return;
      this.lastResolutionAt = performance.now();
      this.inner!.updateResolution();
    }, waitMs);
    this.holdoff.unref();
  }

  private readonly onResult = (
    endpoints: StatusOr<Endpoint[]>,
    attributes: { [key: string]: unknown },
    _serviceConfig: unknown,
    note: string,
  ): boolean => {
    if (this.destroyed) return true;
    // The subset resolver's own service config (a DNS TXT record, a control plane's) is never
    // the copies': it could carry a retry or hedging policy.
    reportResolution(
      this.listener,
      endpoints,
      attributes,
      endpoints.ok ? { ok: true, value: this.serviceConfig! } : null,
      note,
    );
    return true;
  };

  static getDefaultAuthority(target: GrpcUri): string {
    return lookup(target.path)?.split.authority ?? target.path;
  }
}
