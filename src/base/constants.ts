/** Names and defaults shared across modules. @module */

/** The load-balancing policy name, as used in a service config's `loadBalancingConfig`. */
export const POLICY_NAME = 'traffic_split';

/** The URI scheme of `TrafficSplit.target`. */
export const TARGET_SCHEME = 'traffic-split';

/** Default for `reresolveIntervalMs`: how often every subset's resolver is asked again. */
export const DEFAULT_RERESOLVE_INTERVAL_MS = 30_000;

/**
 * Default for `connectGraceMs`: how long a weighted subset that is connecting keeps its share
 * (its calls wait for it). A loopback connect takes about a millisecond and an in-cluster TCP
 * plus TLS connect tens of milliseconds; one second covers a cold DNS lookup and a slow
 * handshake with room to spare, and bounds the wait of that subset's calls when a connect
 * hangs (grpc-js itself would wait up to its 20 s connect timeout before TRANSIENT_FAILURE).
 */
export const DEFAULT_CONNECT_GRACE_MS = 1_000;

/** Largest accepted weight: keeps sums and deadlines far from float overflow. */
export const MAX_WEIGHT = 1e9;

/**
 * Smallest positive weight. The schedule divides pick counts by weights: a denormal weight
 * such as 1e-320 overflows those quotients to Infinity and the split goes wrong, and weights
 * within [MIN_WEIGHT, MAX_WEIGHT] keep every quotient and product far from overflow and
 * their ratio (at most 1e15) below 2^53, where doubles still count calls exactly.
 */
export const MIN_WEIGHT = 1e-6;

/** Most subsets in one split. */
export const MAX_SUBSETS = 1024;

/** Subset names: they appear in metadata, metric labels and logs. A leading letter also keeps
 * JavaScript from reordering integer-like keys, so declaration order is preserved. */
export const SUBSET_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** Child policy of every subset unless configured. */
export const DEFAULT_CHILD_POLICY = Object.freeze([Object.freeze({ round_robin: Object.freeze({}) })]);
