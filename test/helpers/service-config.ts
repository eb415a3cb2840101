/**
 * Service configs of the tests that run calls under grpc-js's retry and hedging policies.
 */

/** A retryPolicy retrying UNAVAILABLE every 10 ms, for up to `maxAttempts` attempts in all. */
export function quickRetryPolicy(maxAttempts: number) {
  return {
    maxAttempts,
    initialBackoff: '0.01s',
    maxBackoff: '0.01s',
    backoffMultiplier: 1,
    retryableStatusCodes: ['UNAVAILABLE'],
  };
}

/** A `grpc.service_config` giving the methods `name` names (a service, or one method of it) `policy`
 * (`{ retryPolicy }` or `{ hedgingPolicy }`), with `extra` at the top level (`retryThrottling`). */
export function methodServiceConfig(
  name: { service: string; method?: string },
  policy: object,
  extra: object = {},
): string {
  return JSON.stringify({ methodConfig: [{ name: [name], ...policy }], ...extra });
}
