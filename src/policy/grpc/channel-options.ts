/**
 * Composing a split's client options with the application's own: its interceptors (or
 * interceptor providers) go first and the split's interceptor last, nearest the channel, so they
 * see one call even when the split retries it; an application's `callInvocationTransformer` runs
 * before the split's call guard.
 * @module
 */
import type { CallInvocationTransformer, ClientOptions, Interceptor } from '@grpc/grpc-js';
import { functionValue, requireObject } from '../../base/validate.js';
import { typeErrorAt } from '../../base/errors.js';

/** What a split adds to a client's options. */
export interface SplitClientParts {
  readonly interceptor: Interceptor;
  readonly callGuard: CallInvocationTransformer;
}

/** `options` with the split's interceptor and call guard added; `options` is not modified. */
export function composeClientOptions(split: SplitClientParts, options: unknown): ClientOptions {
  const own = requireObject(options, 'options', 'client options (an object)') as ClientOptions;
  const interceptors = own.interceptors;
  const providers = own.interceptor_providers;
  const transformer = own.callInvocationTransformer;
  if (interceptors !== undefined && !Array.isArray(interceptors))
    throw typeErrorAt('options.interceptors', 'an array', interceptors);
  if (providers !== undefined && !Array.isArray(providers))
    throw typeErrorAt('options.interceptor_providers', 'an array', providers);
  if (transformer !== undefined) functionValue('options.callInvocationTransformer', transformer);
  const callInvocationTransformer: CallInvocationTransformer =
    transformer === undefined ? split.callGuard : (properties) => split.callGuard(transformer(properties));
  // grpc-js refuses a client given both lists, so the split joins whichever the application uses.
  if (providers !== undefined && providers.length > 0) {
    return { ...own, interceptor_providers: [...providers, () => split.interceptor], callInvocationTransformer };
  }
  return { ...own, interceptors: [...(interceptors ?? []), split.interceptor], callInvocationTransformer };
}
