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
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
// Five functions grpc-js's channel uses on every target, service config and subchannel, not
// exported through `experimental`. grpc-js has no "exports" map, so its modules resolve by path; a
// release that moves or changes them fails test/grpc-internals.test.ts (and these imports).
import { validateServiceConfig as grpcValidateServiceConfig } from '@grpc/grpc-js/build/src/service-config.js';
// `splitHostPort` is exported through `experimental` only from 1.11 on.
import { parseUri, splitHostPort } from '@grpc/grpc-js/build/src/uri-parser.js';
import { mapUriDefaultScheme } from '@grpc/grpc-js/build/src/resolver.js';
import { getSubchannelPool } from '@grpc/grpc-js/build/src/subchannel-pool.js';
import { grpcJsPackageOf, type GrpcJsPackage } from './grpc-version.js';

export {
  connectivityState as ConnectivityState,
  status as Status,
  logVerbosity as LogVerbosity,
  Metadata,
  splitHostPort,
};
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
} = experimental;

/**
 * The key prefix that keeps a channel option out of subchannel arguments. grpc-js exports it
 * from 1.13 on; earlier releases never pass resolver attributes to subchannels, so any prefix works
 * there, and the 1.13 value is used.
 */
export const SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX: string =
  (experimental as { SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX?: string }).SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX ??
  'grpc.internal.no_subchannel';

/** The `experimental` exports the policy cannot do without; grpc-js 1.9 and older lack some. */
const REQUIRED_EXPORTS = [
  'registerLoadBalancerType',
  'registerResolver',
  'createResolver',
  'createChildChannelControlHelper',
  'ChildLoadBalancerHandler',
  'parseLoadBalancingConfig',
  'selectLbConfigFromList',
  'endpointToString',
  'UnavailablePicker',
  'QueuePicker',
  'BackoffTimeout',
] as const;

/** Names of REQUIRED_EXPORTS this grpc-js does not have. */
export function missingGrpcExports(): string[] {
  const exported = experimental as unknown as Record<string, unknown>;
  return REQUIRED_EXPORTS.filter((name) => typeof exported[name] !== 'function');
}

/** The installed grpc-js package: the one this module imports. */
export function installedGrpcJs(): GrpcJsPackage | null {
  return grpcJsPackageOf(experimental);
}

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
export function createTargetResolver(
  target: string,
  resultListener: ResolverListener,
  options: ChannelOptions,
): Resolver {
  const listener = listenerForAnyVersion(resultListener);
  return createResolver(channelTargetUri(target) ?? { scheme: 'dns', path: target }, listener, options);
}

/**
 * The subchannel grpc-js's global pool holds for `address` under `channelTarget` with `options`
 * and `credentials`, created there if there is none: what a channel's helper does for its own
 * target, here for a target of our choosing. The pool keeps one reference of its own.
 */
export function globalPoolSubchannel(
  channelTarget: GrpcUri,
  address: SubchannelAddress,
  options: ChannelOptions,
  credentials: ChannelCredentials,
): SubchannelInterface {
  return getSubchannelPool(true).getOrCreateSubchannel(channelTarget, address, options, credentials);
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

/** Whether this grpc-js keeps metadata in a Map of lower-case keys (`internalRepr`), as every
 * supported release does; checked once, so the call path reads the Map without a type test. */
const MAP_REPR = (new Metadata() as unknown as { internalRepr?: unknown }).internalRepr instanceof Map;

type WithRepr = { internalRepr?: Map<string, MetadataValue[]> };

/**
 * The values of a lower-case metadata key, or undefined. Reading grpc-js's Map directly skips
 * `get()`'s key normalisation and the empty array `get()` allocates on a miss, on every routed
 * pick; `get()` serves a grpc-js that stores metadata differently.
 */
export function metadataValues(metadata: Metadata, lowerCaseKey: string): readonly MetadataValue[] | undefined {
  const repr = MAP_REPR ? (metadata as unknown as WithRepr).internalRepr : undefined;
  if (repr !== undefined) return repr.get(lowerCaseKey);
  const values = metadata.get(lowerCaseKey);
  return values.length === 0 ? undefined : values;
}

// ---------------------------------------------------------------------------------------------
// Adapters for grpc-js before 1.14. Each detects the older shape by a feature, not a version.
// ---------------------------------------------------------------------------------------------

/**
 * Whether this grpc-js passes resolution results as `StatusOr` values: a function listener, and
 * `updateAddressList(StatusOr<Endpoint[]>, config, options, note)` on policies (1.14). Before,
 * the listener was an object with `onSuccessfulResolution`/`onError` and policies got a plain
 * endpoint list and never saw resolution errors. grpc-js exports `statusOrFromValue` from the
 * same release on.
 */
const STATUS_OR_RESULTS = typeof (experimental as { statusOrFromValue?: unknown }).statusOrFromValue === 'function';

/** The listener object grpc-js before 1.14 hands to a resolver. */
interface ObjectResolverListener {
  onSuccessfulResolution(
    endpoints: Endpoint[],
    serviceConfig: ServiceConfig | null,
    serviceConfigError: StatusObject | null,
    configSelector: null,
    attributes: { [key: string]: unknown },
  ): void;
  onError(error: StatusObject): void;
}

type StatusObject = Extract<StatusOr<unknown>, { ok: false }>['error'];

/**
 * Hands a result from one of our resolvers to the listener grpc-js gave it, whichever of the two
 * listener shapes that is. Resolvers call this instead of calling their listener.
 */
export function reportResolution(
  listener: ResolverListener,
  endpoints: StatusOr<Endpoint[]>,
  attributes: { [key: string]: unknown },
  serviceConfig: StatusOr<ServiceConfig> | null,
  resolutionNote: string,
): void {
  if (typeof listener === 'function') {
    listener(endpoints, attributes, serviceConfig, resolutionNote);
    return;
  }
  const legacy = listener as unknown as ObjectResolverListener;
  if (!endpoints.ok) {
    legacy.onError(endpoints.error);
    return;
  }
  const config = serviceConfig?.ok ? serviceConfig.value : null;
  const configError = serviceConfig !== null && !serviceConfig.ok ? serviceConfig.error : null;
  legacy.onSuccessfulResolution(endpoints.value, config, configError, null, attributes);
}

/**
 * A listener that both listener shapes can call: the function itself (1.14) and its
 * `onSuccessfulResolution`/`onError` methods (before 1.14) all feed `listener`.
 */
function listenerForAnyVersion(listener: ResolverListener): ResolverListener {
  const legacy: ObjectResolverListener = {
    onSuccessfulResolution: (endpoints, serviceConfig, serviceConfigError, _selector, attributes) => {
      const config =
        serviceConfigError !== null
          ? { ok: false as const, error: serviceConfigError }
          : serviceConfig === null
            ? null
            : { ok: true as const, value: serviceConfig };
      listener({ ok: true, value: endpoints }, attributes, config, '');
    },
    onError: (error) => {
      listener({ ok: false, error }, {}, null, '');
    },
  };
  const hybrid = (...args: Parameters<ResolverListener>) => listener(...args);
  return Object.assign(hybrid, legacy);
}

/** The arguments grpc-js passes a policy's constructor after the helper, kept per policy:
 * 1.10 and 1.11 pass `(options)`, 1.12 `(credentials, options)`, 1.13 and later nothing. A
 * child policy handler takes the same arguments, and releases before 1.13 give the channel options only
 * here (`updateAddressList` gets just the resolver's attributes). */
const EXTRA_CONSTRUCTOR_ARGS = new WeakMap<object, unknown[]>();

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mixin form TypeScript requires
type PolicyClass = new (...args: any[]) => LoadBalancer;

/**
 * Returns a subclass of `Policy` that any supported grpc-js can construct and feed. It keeps the
 * extra constructor arguments and calls `Policy`'s `updateAddressList` in the 1.14 form: a
 * `StatusOr` endpoint list, the channel options merged with the resolver attributes, a note.
 */
export function policyForAnyVersion<T extends PolicyClass>(Policy: T): T {
  const Adapted = class extends Policy {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mixin form TypeScript requires
    constructor(...args: any[]) {
      super(args[0] as ChannelControlHelper);
      if (args.length > 1) EXTRA_CONSTRUCTOR_ARGS.set(this, args.slice(1));
    }

    override updateAddressList(
      endpoints: StatusOr<Endpoint[]> | Endpoint[],
      lbConfig: TypedLoadBalancingConfig,
      options: ChannelOptions,
      resolutionNote?: string,
    ): boolean {
      const list: StatusOr<Endpoint[]> = Array.isArray(endpoints) ? { ok: true, value: endpoints } : endpoints;
      const extra = EXTRA_CONSTRUCTOR_ARGS.get(this);
      const merged = extra === undefined ? options : { ...channelOptionsIn(extra), ...options };
      return super.updateAddressList(list, lbConfig, merged, resolutionNote ?? '');
    }
  };
  Object.defineProperty(Adapted, 'name', { value: Policy.name });
  return Adapted;
}

/** The channel options among a policy's extra constructor arguments: the last one. */
function channelOptionsIn(extra: readonly unknown[]): ChannelOptions {
  const last = extra[extra.length - 1];
  return typeof last === 'object' && last !== null ? (last as ChannelOptions) : {};
}

/**
 * A child policy handler with the 1.14 interface on every supported grpc-js. `owner` is the
 * policy that holds it: its extra constructor arguments go to the handler. On a grpc-js that
 * keeps resolution errors from policies, an error leaves the child's endpoints as they are, as
 * 1.14's policies do; before any endpoints, it reports TRANSIENT_FAILURE with the error, which
 * is what 1.14's round_robin reports.
 */
export class ChildPolicy {
  private readonly handler: InstanceType<typeof ChildLoadBalancerHandler>;
  private hadEndpoints = false;

  constructor(
    private readonly helper: ChannelControlHelper,
    owner: LoadBalancer,
  ) {
    const extra = EXTRA_CONSTRUCTOR_ARGS.get(owner) ?? [];
    const Handler = ChildLoadBalancerHandler as unknown as new (
      ...args: unknown[]
    ) => InstanceType<typeof ChildLoadBalancerHandler>;
    this.handler = new Handler(helper, ...extra);
  }

  updateAddressList(
    endpoints: StatusOr<Endpoint[]>,
    lbConfig: TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): void {
    if (STATUS_OR_RESULTS) {
      this.handler.updateAddressList(endpoints, lbConfig, options, resolutionNote);
      return;
    }
    const legacy = this.handler as unknown as {
      updateAddressList(e: Endpoint[], c: TypedLoadBalancingConfig, o: ChannelOptions): void;
    };
    if (endpoints.ok) {
      this.hadEndpoints = true;
      legacy.updateAddressList(endpoints.value, lbConfig, options);
    } else if (!this.hadEndpoints) {
      const details = endpoints.error.details;
      this.helper.updateState(connectivityState.TRANSIENT_FAILURE, new UnavailablePicker(endpoints.error), details);
    }
  }

  exitIdle(): void {
    this.handler.exitIdle();
  }

  resetBackoff(): void {
    this.handler.resetBackoff();
  }

  destroy(): void {
    this.handler.destroy();
  }
}
