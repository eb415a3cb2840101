/**
 * Parsing and validation at the boundary: raw JSON or options in, frozen typed config out.
 * Every message starts with the field path and shows the rejected value.
 * @module
 */
import {
  DEFAULT_CHILD_POLICY,
  DEFAULT_CONNECT_GRACE_MS,
  DEFAULT_RERESOLVE_INTERVAL_MS,
  MAX_SUBSETS,
  MAX_WEIGHT,
  MIN_WEIGHT,
  POLICY_NAME,
  SUBSET_NAME_PATTERN,
} from '../../base/constants.js';
import {
  describeValue,
  keyForPath,
  rangeErrorAt,
  typeErrorAt,
  TrafficSplitRangeError,
  TrafficSplitTypeError,
} from '../../base/errors.js';
import {
  booleanValue,
  finiteNumberIn,
  MAX_TIMER_MS,
  rejectUnknownKeys,
  requireObject,
  stringMatching,
  timerMs,
} from '../../base/validate.js';
import { parseMetadataKey, parseRules, type RouteRule, type RouteRuleJson } from '../../algorithms/routing/rules.js';
import { selectLbConfigFromList, type LoadBalancingConfigJson, type TypedLoadBalancingConfig } from '../grpc/grpc.js';
import { isResolvableTarget } from './targets.js';
import { warnIfNotRegistered } from '../grpc/registration-warning.js';

/** What a subset target must be; grpc-js sends a target with an unknown scheme to `dns:`
 * whole, which is why `localhost:50051` passes and `http://host:80` does not. */
const TARGET_EXPECTATION = 'a grpc-js target URI with a registered scheme (dns, ipv4, ipv6, unix, ...)';

/**
 * The policy's JSON config: the value under `"traffic_split"` in a service config's
 * `loadBalancingConfig` list. Keys are camelCase, as in gRPC service-config JSON.
 * @example
 * { "subsets": { "v1": "dns:///reporter-v1:9090", "v2": "dns:///reporter-v2:9090" },
 *   "weights": { "v1": 90, "v2": 10 } }
 */
export interface TrafficSplitConfigJson {
  /** Subset name -> grpc-js target URI. Declaration order is the subsets' order. */
  subsets: Record<string, string>;
  /** Subset name -> weight; every subset needs one, at least one must be > 0. */
  weights: Record<string, number>;
  /** The policy each subset runs over its endpoints. @default [{ "round_robin": {} }] */
  childPolicy?: LoadBalancingConfigJson[];
  /** Ask every subset's resolver again this often; 0 turns it off. @default 30000 */
  reresolveIntervalMs?: number;
  /** When no weighted subset is READY, serve from READY weight-0 subsets. @default false */
  fallbackToZeroWeight?: boolean;
  /**
   * How long a weighted subset that is connecting (the first connect, or again after a GOAWAY
   * or an idle period) keeps its share: the calls the schedule gives it wait for it, as they
   * would on a plain channel, instead of going to the other subsets. Past this time, or as
   * soon as the subset is in TRANSIENT_FAILURE, its share goes to the READY subsets until it
   * is READY again. 0: only READY subsets get calls. @default 1000
   */
  connectGraceMs?: number;
  /** Metadata key whose value pins a call to a subset by weighted rendezvous hashing. */
  stickyKey?: string;
  /** Explicit routes by header, first match wins; they apply at any weight, 0 included. */
  rules?: RouteRuleJson[];
}

/** A validated, frozen config. `weights[i]` belongs to `subsetNames[i]`. */
export interface ParsedSplitConfig {
  readonly subsetNames: readonly string[];
  readonly targets: readonly string[];
  readonly weights: readonly number[];
  readonly childPolicy: TypedLoadBalancingConfig;
  readonly reresolveIntervalMs: number;
  readonly fallbackToZeroWeight: boolean;
  readonly connectGraceMs: number;
  readonly stickyKey: string | null;
  readonly rules: readonly RouteRule[];
}

/**
 * The config a split's resolver hands its channels: the split's own settings, with
 * `weightsFrom` (the split's id) in place of `weights`. A split's weights live in its state,
 * which reaches the policy as a resolver attribute; they never travel through this JSON, so a
 * weight change is not a new service config for grpc-js to parse.
 */
export interface PolicyConfig extends Omit<ParsedSplitConfig, 'weights'> {
  /** Null when the weights come from a split (`weightsFrom`). */
  readonly weights: readonly number[] | null;
  readonly weightsFrom: string | null;
}

/** The JSON of a `PolicyConfig`: `weights` or `weightsFrom`. */
export type PolicyConfigJson = Omit<TrafficSplitConfigJson, 'weights'> & {
  weights?: Record<string, number>;
  weightsFrom?: string;
};

const CONFIG_KEYS: readonly string[] = [
  'subsets',
  'weights',
  'childPolicy',
  'reresolveIntervalMs',
  'fallbackToZeroWeight',
  'connectGraceMs',
  'stickyKey',
  'rules',
];

/** Validates the `subsets` map: names and target strings, in declaration order. */
export function parseSubsets(raw: unknown): { names: string[]; targets: string[] } {
  const obj = requireObject(raw, 'subsets', 'an object mapping subset names to target URIs');
  const names = Object.keys(obj);
  if (names.length === 0) throw typeErrorAt('subsets', 'at least one subset', raw);
  if (names.length > MAX_SUBSETS) {
    throw new TrafficSplitRangeError(`subsets: expected at most ${MAX_SUBSETS} subsets, got ${names.length}`);
  }
  const targets = names.map((name) => {
    if (!SUBSET_NAME_PATTERN.test(name)) {
      throw typeErrorAt(`subsets`, `subset names matching ${SUBSET_NAME_PATTERN}`, name);
    }
    // At least one character that is not white space.
    const target = stringMatching(`subsets.${name}`, obj[name], /\S/, 'a non-empty target URI string');
    if (!isResolvableTarget(target)) throw typeErrorAt(`subsets.${name}`, TARGET_EXPECTATION, target);
    return target;
  });
  return { names, targets };
}

/**
 * Validates a complete weights object against the subset names and returns the weights in subset
 * order. Throws before anything is applied, so a rejected update leaves the weights in force.
 */
export function validateWeights(subsetNames: readonly string[], raw: unknown, field = 'weights'): number[] {
  const obj = requireObject(raw, field, 'an object mapping every subset to a weight');
  for (const key of Object.keys(obj)) {
    if (!subsetNames.includes(key)) {
      throw new TrafficSplitTypeError(
        `${field}.${keyForPath(key)}: unknown subset ` +
          `(subsets: ${subsetNames.join(', ')}), got ${describeValue(obj[key])}`,
      );
    }
  }
  let total = 0;
  const weights = subsetNames.map((name) => {
    if (!Object.hasOwn(obj, name)) {
      throw new TrafficSplitTypeError(`${field}.${name}: missing; every subset needs a weight (0 sends it no calls)`);
    }
    const weight = finiteNumberIn(`${field}.${name}`, obj[name], 0, MAX_WEIGHT);
    if (weight > 0 && weight < MIN_WEIGHT) {
      throw rangeErrorAt(
        `${field}.${name}`,
        `0 or a number from ${MIN_WEIGHT} (the smallest positive weight) to ${MAX_WEIGHT}`,
        weight,
      );
    }
    total += weight;
    // -0 passes every check above; it is stored as 0 so that stats and JSON never show "-0".
    return weight === 0 ? 0 : weight;
  });
  if (total <= 0) throw rangeErrorAt(field, 'at least one weight > 0', raw);
  return weights;
}

function parseChildPolicy(raw: unknown): TypedLoadBalancingConfig {
  const list = raw ?? DEFAULT_CHILD_POLICY;
  if (!Array.isArray(list) || list.length === 0) {
    throw typeErrorAt('childPolicy', 'a non-empty list of load-balancing configs such as [{"round_robin": {}}]', raw);
  }
  list.forEach((entry, i) => {
    // Checked before grpc-js parses the list, which would run (and log) our own parser on it.
    if (
      Object.hasOwn(requireObject(entry, `childPolicy[${i}]`, 'an object such as {"round_robin": {}}'), POLICY_NAME)
    ) {
      throw typeErrorAt(`childPolicy[${i}]`, `a policy other than ${POLICY_NAME}`, entry);
    }
  });
  const selected = selectLbConfigFromList(list as LoadBalancingConfigJson[], false);
  if (selected === null) throw typeErrorAt('childPolicy', 'at least one registered, valid policy', raw);
  return selected;
}

function parseInterval(raw: unknown): number {
  if (raw === undefined) return DEFAULT_RERESOLVE_INTERVAL_MS;
  // 0 means "no periodic re-resolution".
  return timerMs('reresolveIntervalMs', raw, 0, `an integer from 0 (off) to ${MAX_TIMER_MS}`);
}

function parseConnectGrace(raw: unknown): number {
  if (raw === undefined) return DEFAULT_CONNECT_GRACE_MS;
  return timerMs('connectGraceMs', raw, 0, `an integer from 0 (off) to ${MAX_TIMER_MS}`);
}

function parseBoolean(raw: unknown, field: string, fallback: boolean): boolean {
  return raw === undefined ? fallback : booleanValue(field, raw);
}

/**
 * Parses the policy JSON config a user writes (or a `TrafficSplit`'s options). `extraKeys` are
 * keys the caller handles itself (the constructor's own options) and are not rejected here.
 */
export function parseSplitConfig(raw: unknown, extraKeys: readonly string[] = []): ParsedSplitConfig {
  const obj = requireObject(raw, 'config', 'an object with "subsets" and "weights"');
  rejectUnknownKeys(obj, [...CONFIG_KEYS, ...extraKeys], '');
  const { names, targets } = parseSubsets(obj['subsets']);
  return Object.freeze({
    ...parseSettings(obj, names, targets),
    weights: Object.freeze(validateWeights(names, obj['weights'])),
  });
}

/** Parses what grpc-js hands the policy: a user's config, or a split's (with `weightsFrom`). */
export function parsePolicyConfig(raw: unknown): PolicyConfig {
  const obj = requireObject(raw, 'config', 'an object with "subsets" and "weights"');
  if (obj['weightsFrom'] === undefined) return Object.freeze({ ...parseSplitConfig(obj), weightsFrom: null });
  if (obj['weights'] !== undefined)
    throw typeErrorAt(
      'weights',
      'no "weights" beside "weightsFrom" (the weights come from the split)',
      obj['weights'],
    );
  rejectUnknownKeys(obj, [...CONFIG_KEYS.filter((key) => key !== 'weights'), 'weightsFrom'], '');
  const weightsFrom = stringMatching('weightsFrom', obj['weightsFrom'], /\S/, 'the id of a split in this process');
  const { names, targets } = parseSubsets(obj['subsets']);
  return Object.freeze({ ...parseSettings(obj, names, targets), weights: null, weightsFrom });
}

/** Everything of a config but its weights. */
function parseSettings(
  obj: Record<string, unknown>,
  names: string[],
  targets: string[],
): Omit<ParsedSplitConfig, 'weights'> {
  return {
    subsetNames: Object.freeze(names),
    targets: Object.freeze(targets),
    childPolicy: parseChildPolicy(obj['childPolicy']),
    reresolveIntervalMs: parseInterval(obj['reresolveIntervalMs']),
    fallbackToZeroWeight: parseBoolean(obj['fallbackToZeroWeight'], 'fallbackToZeroWeight', false),
    connectGraceMs: parseConnectGrace(obj['connectGraceMs']),
    stickyKey: obj['stickyKey'] === undefined ? null : parseMetadataKey(obj['stickyKey'], 'stickyKey'),
    rules: parseRules(obj['rules'], names),
  };
}

/** The JSON form of a parsed config; parsing it again gives the config back. */
export function configToJson(config: ParsedSplitConfig): TrafficSplitConfigJson;
export function configToJson(config: PolicyConfig): PolicyConfigJson;
export function configToJson(config: ParsedSplitConfig | PolicyConfig): PolicyConfigJson {
  const { weights } = config;
  const weightsFrom = 'weightsFrom' in config ? config.weightsFrom : null;
  return {
    subsets: Object.fromEntries(config.subsetNames.map((name, i) => [name, config.targets[i]!])),
    ...(weights === null ? { weightsFrom: weightsFrom! } : { weights: weightsToRecord(config.subsetNames, weights) }),
    childPolicy: [config.childPolicy.toJsonObject() as LoadBalancingConfigJson],
    reresolveIntervalMs: config.reresolveIntervalMs,
    fallbackToZeroWeight: config.fallbackToZeroWeight,
    connectGraceMs: config.connectGraceMs,
    ...(config.stickyKey === null ? {} : { stickyKey: config.stickyKey }),
    ...(config.rules.length === 0 ? {} : { rules: config.rules.map((rule) => rule.json) }),
  };
}

/** `{ v1: 90, v2: 10 }` from names and weights in subset order. */
export function weightsToRecord(names: readonly string[], weights: readonly number[]): Record<string, number> {
  const record: Record<string, number> = {};
  names.forEach((name, i) => {
    record[name] = weights[i]!;
  });
  return record;
}

/**
 * Validates a `traffic_split` policy config the way a channel will, and throws the first problem.
 * grpc-js itself only logs a rejected config at DEBUG and falls back to `pick_first`, so call this
 * wherever a config is written or loaded.
 * @example
 * parseConfig({ subsets: { v1: 'dns:///a:1' }, weights: { v1: 1 } });
 */
export function parseConfig(raw: unknown): TrafficSplitConfigJson {
  warnIfNotRegistered('parseConfig()');
  try {
    return configToJson(parseSplitConfig(raw));
  } catch (error) {
    if (error instanceof Error) error.message = `${POLICY_NAME}: ${error.message}`;
    throw error;
  }
}
