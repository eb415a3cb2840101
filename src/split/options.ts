/**
 * The options of `new TrafficSplit()` and their validation: every field checked, with its path
 * and value in the message, before the split exists.
 * @module
 */
import { parseMethodWeights } from '../policy/methods/method-weights.js';
import type { Clock } from '../base/clock.js';
import { booleanValue, clockValue, requireObject, safeInteger, stringMatching } from '../base/validate.js';
import type { RebalanceStreamsOptions } from '../algorithms/streams/stream-ender.js';
import { defaultAuthorityOf } from '../policy/grpc/grpc.js';
import { parseSplitConfig, type ParsedSplitConfig, type TrafficSplitConfigJson } from '../policy/balancer/config.js';
import { parseMirrorOptions, type MirrorOptions, type MirrorSettings } from '../policy/mirror/mirror-options.js';
import { checkNoiseWeight } from '../policy/mirror/noise/mirror-noise-options.js';
import { parseMaxStreamAgeMs, parseRebalanceStreams } from '../policy/streams/stream-setup.js';
import {
  parseMethodFigures,
  type MethodFiguresOptions,
  type MethodFiguresSettings,
} from '../algorithms/method-names.js';

/** Options of `new TrafficSplit()`: the policy config plus the split's own settings. */
export interface TrafficSplitOptions extends TrafficSplitConfigJson {
  /** Used in the target, logs and errors. Letters, digits, `_`, `.` and `-`. @default "split" */
  name?: string;
  /**
   * The authority (`:authority` header and TLS name check) of channels built from the split.
   * @default the default authority of the first subset's target (`reporter-v1.prod.svc:9090`
   * for `dns:///reporter-v1.prod.svc:9090`)
   */
  authority?: string;
  /**
   * Retry a unary call once on another READY weighted subset when it failed with UNAVAILABLE
   * before any response message (its connection was lost, or the server answered UNAVAILABLE).
   * The failure still counts against the subset that failed. Response headers alone do not
   * count as a response (grpc-js servers send them as soon as a call arrives), so the first
   * attempt may have reached the server: turn this on for idempotent methods only. Calls routed
   * explicitly or by a rule are never retried elsewhere. @default false
   */
  retryOnOtherSubset?: boolean;
  /**
   * Seeds the random source of the split's schedule: its starting phase and the arrangement of
   * calls within the exactness bound. The same seed, weights and call sequence give the same
   * routing again (tests, reproductions). Leave it out in production, so that replicas started
   * together do not move in lockstep. A safe integer. @default a seed from the OS's random source
   */
  scheduleSeed?: number;
  /**
   * Time source of the channels' periodic re-resolution (`reresolveIntervalMs`) and of the
   * least time between two resolutions a subset's policy asks for. For tests: with a fake clock
   * a re-resolution happens only when the test moves time on. grpc-js's own timers (connection
   * backoff, idle timeout) and the times in `stats()` stay on real time.
   * @default the real clock (`Date.now()`, `setTimeout()`)
   */
  clock?: Clock;
  /**
   * After each weight change, end on the client side just enough open streams (keyless ones, on
   * subsets above their new share) to bring every subset to its share of the open streams,
   * spread evenly over `withinMs`, with UNAVAILABLE and the details
   * `traffic_split: stream rebalanced to follow new weights (v1 -> v2)`. The application
   * re-opens them, and they are placed where the split is short. Streams routed by `route()` or
   * a rule are never ended; sticky-keyed ones only when their key now maps elsewhere. Applies to
   * every change (rollouts, weights files, the admin endpoint) unless `setWeights()` says
   * otherwise, and when a subset becomes READY in every channel (streams opened while it was
   * down went elsewhere). Needs clients built with `channelOptions`. @default off
   * @example new TrafficSplit({ ...config, rebalanceStreams: { withinMs: 10_000 } })
   */
  rebalanceStreams?: RebalanceStreamsOptions | false;
  /**
   * End keyless and sticky-keyed streams (never those routed by `route()` or a rule) when they
   * reach this age, jittered down by up to 10%, the same way as a rebalancing, so that open
   * streams follow the weights (and new endpoints) without waiting for a change. @default no limit
   */
  maxStreamAgeMs?: number;
  /** Shadow traffic from the start: see `setMirror()`. @default no mirror */
  mirror?: MirrorOptions | null;
  /**
   * Weights for some methods instead of `weights`: a full method name (`/pkg.Service/Method`)
   * or a service prefix (`/pkg.Service/`) to weights of the same form; the longest key that
   * matches a call's method applies. Each is an exact schedule of its own, changed live by
   * `setWeights(weights, { methods })`. Needs clients built with the split's `channelOptions`
   * (the pick learns the method from the split's interceptor). @default none
   * @example methodWeights: { '/shop.Store/Write': { v1: 100, v2: 0 } }
   */
  methodWeights?: Record<string, Record<string, number>>;
  /**
   * Which methods `stats()` (`subsets.<name>.methods`) and the metrics count apart: the methods
   * declared (`methods`, or every method of `services`), then others in the order first seen
   * up to `limit`; every further method counts as `other`, calls of an unknown method as
   * `unknown`. `false` (or `limit: 0` with nothing declared) turns per-method figures off: no
   * call then looks its method up. @default { limit: 100 }
   * @example new TrafficSplit({ ...config, methodFigures: { services: [shopService], limit: 0 } })
   */
  methodFigures?: MethodFiguresOptions | false;
}

/** The split's own options, besides the policy config. */
const SPLIT_KEYS = [
  'name',
  'authority',
  'retryOnOtherSubset',
  'scheduleSeed',
  'clock',
  'rebalanceStreams',
  'maxStreamAgeMs',
  'mirror',
  'methodWeights',
  'methodFigures',
];

const SPLIT_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Validated options, defaults filled in. */
export interface ParsedSplitOptions {
  readonly config: ParsedSplitConfig;
  readonly name: string;
  readonly authority: string;
  readonly retryOnOtherSubset: boolean;
  readonly seed: number | undefined;
  readonly clock: Clock | undefined;
  readonly rebalanceStreams: RebalanceStreamsOptions | null;
  readonly maxStreamAgeMs: number | null;
  readonly mirror: MirrorSettings | null;
  readonly methodWeights: ReadonlyMap<string, readonly number[] | null>;
  /** Null when per-method figures are off. */
  readonly methodFigures: MethodFiguresSettings | null;
}

/** Checks every option; throws a TypeError/RangeError naming the first bad field. */
export function parseSplitOptions(options: unknown): ParsedSplitOptions {
  const raw = requireObject(options, 'options', 'an object with "subsets" and "weights"');
  const config = parseSplitConfig(raw, SPLIT_KEYS);
  const parsed: ParsedSplitOptions = {
    config,
    name:
      raw['name'] === undefined
        ? 'split'
        : stringMatching('name', raw['name'], SPLIT_NAME_PATTERN, `a string matching ${SPLIT_NAME_PATTERN}`),
    authority:
      raw['authority'] === undefined
        ? defaultAuthorityOf(config.targets[0]!)
        : stringMatching('authority', raw['authority'], /^[^\s/]+$/, 'a host[:port] string'),
    retryOnOtherSubset: booleanValue('retryOnOtherSubset', raw['retryOnOtherSubset'] ?? false),
    seed: raw['scheduleSeed'] === undefined ? undefined : safeInteger('scheduleSeed', raw['scheduleSeed']),
    clock: raw['clock'] === undefined ? undefined : clockValue('clock', raw['clock']),
    rebalanceStreams: parseRebalanceStreams('rebalanceStreams', raw['rebalanceStreams'], null),
    maxStreamAgeMs: parseMaxStreamAgeMs(raw['maxStreamAgeMs']),
    mirror: raw['mirror'] == null ? null : parseMirrorOptions(raw['mirror'], config.subsetNames),
    methodWeights:
      raw['methodWeights'] === undefined
        ? new Map()
        : parseMethodWeights(config.subsetNames, raw['methodWeights'], 'methodWeights', false),
    methodFigures: parseMethodFigures(raw['methodFigures']),
  };
  checkNoiseWeight(
    parsed.mirror?.noise,
    Object.fromEntries(config.subsetNames.map((name, i) => [name, config.weights[i]!])),
  );
  return parsed;
}
