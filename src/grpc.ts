/**
 * The only module that touches `@grpc/grpc-js`'s `experimental` namespace.
 *
 * grpc-js changed this surface in 1.10, 1.12, 1.13 and 1.14; keeping every use behind one file
 * means a grpc-js upgrade is reviewed here and nowhere else. Everything is imported from the
 * application's own grpc-js (a peer dependency), so the policy and resolver we register are the
 * ones its channels look up.
 * @internal
 * @module
 */
import { experimental, connectivityState, status, logVerbosity, Metadata } from '@grpc/grpc-js';
import type { ChannelOptions } from '@grpc/grpc-js';

export { connectivityState as ConnectivityState, status as Status, logVerbosity as LogVerbosity, Metadata };
export type { ChannelOptions };

export type LoadBalancer = experimental.LoadBalancer;
export type TypedLoadBalancingConfig = experimental.TypedLoadBalancingConfig;
export type ChannelControlHelper = experimental.ChannelControlHelper;
export type Picker = experimental.Picker;
export type PickArgs = experimental.PickArgs;
export type PickResult = experimental.PickResult;
export type Endpoint = experimental.Endpoint;
export type SubchannelAddress = experimental.SubchannelAddress;
export type SubchannelInterface = experimental.SubchannelInterface;
export type Resolver = experimental.Resolver;
export type ResolverListener = experimental.ResolverListener;
export type GrpcUri = experimental.GrpcUri;
export type StatusOr<T> = experimental.StatusOr<T>;
/** The raw `{ "<policy>": {...} }` objects of a service config's `loadBalancingConfig` list. */
export type LoadBalancingConfigJson = Parameters<typeof experimental.parseLoadBalancingConfig>[0];
/** The service config shape a resolver hands to the channel. */
export type ServiceConfig = Extract<Parameters<ResolverListener>[2], { ok: true }>['value'];

export const {
  registerLoadBalancerType,
  registerResolver,
  createResolver,
  createChildChannelControlHelper,
  parseLoadBalancingConfig,
  selectLbConfigFromList,
  isLoadBalancerNameRegistered,
  ChildLoadBalancerHandler,
  UnavailablePicker,
  QueuePicker,
  PickResultType,
  BackoffTimeout,
  endpointToString,
  uriToString,
  trace,
  log,
  SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX,
} = experimental;

/**
 * Creates a grpc-js resolver for a target string exactly as a channel would: a target with a
 * registered scheme uses that scheme's resolver; a target with no scheme, or whose "scheme" no
 * resolver knows (`localhost:50051` parses as scheme `localhost`), goes to `dns:` whole. grpc-js
 * exports neither its URI parser nor that mapping through `experimental`, so the rule is restated
 * here; `createResolver` throwing is how an unregistered scheme shows itself.
 */
export function createTargetResolver(target: string, listener: ResolverListener, options: ChannelOptions): Resolver {
  const uri = parseTarget(target);
  if (uri !== null) {
    try {
      return createResolver(uri, listener, options);
    } catch {
      // Not a registered scheme: fall through to the default scheme, as grpc-js does.
    }
  }
  return createResolver({ scheme: 'dns', path: target }, listener, options);
}

/** Splits `scheme:[//authority/]path`; `null` when the string has no scheme. */
export function parseTarget(target: string): GrpcUri | null {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/]*)\/)?(.+)$/.exec(target);
  if (match === null) return null;
  const [, scheme, authority, path] = match as unknown as [string, string, string | undefined, string];
  return authority === undefined ? { scheme, path } : { scheme, authority, path };
}

/**
 * The authority a plain grpc-js channel to `target` would send, restated for the schemes grpc-js
 * ships (its `getDefaultAuthority` is not exported): `unix:` targets use `localhost`, `ipv4:` and
 * `ipv6:` the first address, and every other scheme its path.
 */
export function defaultAuthorityOf(target: string): string {
  const uri = parseTarget(target);
  if (uri === null) return target;
  switch (uri.scheme) {
    case 'unix':
    case 'unix-abstract':
      return 'localhost';
    case 'ipv4':
    case 'ipv6':
      return uri.path.split(',')[0]!;
    default:
      return uri.path;
  }
}

type MetadataValue = ReturnType<Metadata['get']>[number];

/**
 * The values of a lower-case metadata key, or undefined. grpc-js keeps metadata in a Map of
 * lower-case keys (`internalRepr`); reading it directly skips `get()`'s key normalisation and
 * the empty array `get()` allocates on a miss, on every routed pick. Falls back to `get()` if a
 * grpc-js version stores metadata differently.
 */
export function metadataValues(metadata: Metadata, lowerCaseKey: string): readonly MetadataValue[] | undefined {
  const repr = (metadata as unknown as { internalRepr?: unknown }).internalRepr;
  if (repr instanceof Map) return repr.get(lowerCaseKey) as MetadataValue[] | undefined;
  const values = metadata.get(lowerCaseKey);
  return values.length === 0 ? undefined : values;
}
