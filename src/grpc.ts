/**
 * The only module that touches `@grpc/grpc-js`'s `experimental` namespace.
 *
 * grpc-js changed this surface in 1.10, 1.12, 1.13 and 1.14; keeping every use behind one file
 * means a grpc-js upgrade is reviewed here and nowhere else. Everything is imported from the
 * application's own grpc-js (a peer dependency), so the policy and resolver we register are the
 * ones its channels look up.
 * @module
 */
import { experimental, connectivityState, status, logVerbosity, Metadata } from '@grpc/grpc-js';
import type { ChannelOptions } from '@grpc/grpc-js';
// Three functions grpc-js's channel uses on every target and service config, not exported
// through `experimental`. grpc-js has no "exports" map, so its modules resolve by path; a
// release that moves or changes them fails test/grpc-internals.test.ts (and these imports).
import { validateServiceConfig as grpcValidateServiceConfig } from '@grpc/grpc-js/build/src/service-config.js';
import { parseUri } from '@grpc/grpc-js/build/src/uri-parser.js';
import { mapUriDefaultScheme } from '@grpc/grpc-js/build/src/resolver.js';

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
  splitHostPort,
  trace,
  log,
  SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX,
} = experimental;

/**
 * The URI a grpc-js channel resolves for `target`, by grpc-js's own rules: its URI parser, then a
 * target with no scheme, or whose "scheme" no resolver knows (`localhost:50051` parses as scheme
 * `localhost`), goes to the default scheme (`dns:`) whole. `null` when grpc-js cannot parse it.
 */
export function channelTargetUri(target: string): GrpcUri | null {
  const uri = parseUri(target);
  return uri === null ? null : mapUriDefaultScheme(uri);
}

/** Creates a grpc-js resolver for a target string exactly as a channel would. */
export function createTargetResolver(target: string, listener: ResolverListener, options: ChannelOptions): Resolver {
  return createResolver(channelTargetUri(target) ?? { scheme: 'dns', path: target }, listener, options);
}

/**
 * grpc-js's validation of a `grpc.service_config` JSON object: the parsed form its own resolvers
 * hand the channel (a `"timeout": "1s"` becomes `{ seconds: 1, nanos: 0 }`, which is the only
 * form its calls read). Throws grpc-js's own error on an invalid config.
 */
export function validateServiceConfig(json: unknown): ServiceConfig {
  return grpcValidateServiceConfig(json);
}

/**
 * The authority a plain grpc-js channel to `target` would send, restated for the schemes grpc-js
 * ships (its `getDefaultAuthority` is not exported): `unix:` targets use `localhost`, `ipv4:` and
 * `ipv6:` the first address, and every other scheme its path.
 */
export function defaultAuthorityOf(target: string): string {
  const uri = channelTargetUri(target);
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
