/**
 * Connections shared between splits, as grpc-js shares them between plain channels. grpc-js's
 * subchannel pool reuses a connection for channels with equal targets, options and credentials;
 * every split's channels have a target of their own (`traffic-split:///<id>`), so through the
 * channel no subset would ever share a connection with another split's. A subset therefore takes
 * its subchannels from the global pool itself, under a target naming the one thing the target
 * gives a connection: its authority (HTTP/2 `:authority`, TLS server name), the split's. The pool
 * compares options and credentials as it does for any channel. Figures are unaffected: they are
 * counted by each split's picker, never by the subchannel.
 *
 * grpc-js gives a policy no credentials, so the split's channel factory passes them as an option:
 * only clients built with the split's `channelOptions` share. A channel with
 * `grpc.use_local_subchannel_pool` keeps its connections its own, as a plain channel does.
 * @module
 */
import { ChannelCredentials } from '@grpc/grpc-js';
import { TARGET_SCHEME } from '../../base/constants.js';
import {
  globalPoolSubchannel,
  SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX,
  type ChannelControlHelper,
  type ChannelOptions,
  type GrpcUri,
  type SubchannelAddress,
  type SubchannelInterface,
} from './grpc.js';

/** The channel option that hands a split channel's credentials to its policy. The prefix keeps
 * it (and the attribute below) out of subchannel arguments. */
export const CREDENTIALS_OPTION = `${SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.traffic_split.credentials`;

/** The resolver attribute that tells the policy the authority of its split's connections. */
export const AUTHORITY_ATTRIBUTE = `${SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.traffic_split.authority`;

/** Path of the pool targets, before the authority. Split ids never contain a '/'. */
const CONNECTION_PATH = 'connections/';

/** `options` for a split channel built with `credentials`. */
export function withCredentialsOption(options: ChannelOptions, credentials: ChannelCredentials): ChannelOptions {
  return { ...options, [CREDENTIALS_OPTION]: credentials };
}

/** The authority of a pool target of ours, or undefined for any other target (a split's). */
export function connectionAuthority(target: GrpcUri): string | undefined {
  return target.path.startsWith(CONNECTION_PATH) ? target.path.slice(CONNECTION_PATH.length) : undefined;
}

/**
 * The `createSubchannel` of a subset's helper. `options` gives the channel options and the
 * split's resolver attributes (grpc-js 1.10 to 1.12 pass a policy's leaves `{}` as `args`, and
 * add the channel's options in the channel). Falls back to the channel's own subchannel when the
 * channel asked for a local pool, or its credentials or authority are unknown.
 */
export function subsetSubchannelFactory(
  parent: ChannelControlHelper,
  options: () => ChannelOptions,
): ChannelControlHelper['createSubchannel'] {
  return (address: SubchannelAddress, args: ChannelOptions, ...rest: unknown[]): SubchannelInterface => {
    const merged = { ...options(), ...args };
    const credentials: unknown = merged[CREDENTIALS_OPTION];
    const authority: unknown = merged[AUTHORITY_ATTRIBUTE];
    const localPool = (merged['grpc.use_local_subchannel_pool'] ?? 0) !== 0;
    // A third argument (grpc-js 1.12's credentials override, never set by its own policies)
    // decides the credentials, so the channel handles it.
    const overridden = rest.length > 0 && rest[0] != null;
    if (localPool || overridden || !(credentials instanceof ChannelCredentials) || typeof authority !== 'string') {
      return (parent.createSubchannel as (...all: unknown[]) => SubchannelInterface)(address, args, ...rest);
    }
    const target: GrpcUri = { scheme: TARGET_SCHEME, path: `${CONNECTION_PATH}${authority}` };
    return globalPoolSubchannel(target, address, subchannelArguments(merged), credentials);
  };
}

/** The options a subchannel is built with: as a grpc-js channel filters them. */
function subchannelArguments(options: ChannelOptions): ChannelOptions {
  const kept: ChannelOptions = {};
  for (const [key, value] of Object.entries(options)) {
    if (!key.startsWith(SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX)) kept[key] = value;
  }
  return kept;
}
