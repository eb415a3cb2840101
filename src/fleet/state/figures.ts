/**
 * The call figures of a fleet: each replica publishes its split's cumulative `stats()` under its
 * own lease, and any replica adds up the publications of the live ones. A window (`stats({ since
 * })`) is, per replica, its latest publication minus its publication at the mark, so the sum is
 * exactly the calls each replica counted between the two, whatever its clock says. Pure: no
 * etcd, no timer.
 * @module
 */
import { LATENCY_BUCKETS, latencyBucket, latencyHistogram, latencyQuantile } from '../../algorithms/latency.js';
import type { ConnectivityStateName, SplitStats, StatusName, SubsetStats } from '../../split/fleet-port.js';

/** A subset's cumulative figures as one replica publishes them (its `stats()` without the
 * quantiles, which are computed again from the summed histogram, and without the per-method,
 * unary latency and stream figures, which the fleet does not add up). */
export type PublishedSubset = Omit<
  SubsetStats,
  'weight' | 'latencyMs' | 'methods' | 'unaryLatencyMs' | 'unaryLatencyHistogram' | 'streams'
>;

/** One replica's publication: the value of `<prefix>/replicas/<replicaId>`. */
export interface Publication {
  readonly replica: string;
  /** Drawn by each fleet handle: a replica that restarts under the same id counts from 0 again,
   * and its publications before the restart are not subtracted from those after. */
  readonly instance: string;
  /** Counts the replica's publications. */
  readonly seq: number;
  /** The newest snapshot request (its etcd revision) this replica had seen when it took these
   * figures; "0" before any. */
  readonly ack: string;
  /** When they were taken, on the replica's clock. */
  readonly at: number;
  /** When the replica's split began counting, on the replica's clock. */
  readonly since: number;
  readonly channels: number;
  readonly notStarted: Partial<Record<StatusName, number>>;
  readonly subsets: Readonly<Record<string, PublishedSubset>>;
}

/** A publication of `stats` (cumulative, no `since`). */
export function publicationOf(
  stats: SplitStats,
  meta: Pick<Publication, 'replica' | 'instance' | 'seq' | 'ack' | 'at'>,
): Publication {
  const subsets: Record<string, PublishedSubset> = {};
  for (const [name, subset] of Object.entries(stats.subsets)) {
    const {
      weight: _w,
      latencyMs: _l,
      methods: _m,
      unaryLatencyMs: _u,
      unaryLatencyHistogram: _h,
      streams: _s,
      ...published
    } = subset;
    subsets[name] = published;
  }
  return { ...meta, since: meta.at - stats.periodMs, channels: stats.channels, notStarted: stats.notStarted, subsets };
}

/** A publication read from etcd, or null when the value is not one (checked field by field
 * where the sums would go wrong: numbers, objects). */
export function decodePublication(raw: Record<string, unknown> | null): Publication | null {
  if (raw === null) return null;
  for (const field of ['replica', 'instance', 'ack']) if (typeof raw[field] !== 'string') return null;
  for (const field of ['seq', 'at', 'since', 'channels']) if (typeof raw[field] !== 'number') return null;
  const subsets = raw['subsets'];
  if (
    typeof subsets !== 'object' ||
    subsets === null ||
    typeof raw['notStarted'] !== 'object' ||
    raw['notStarted'] === null
  )
    return null;
  for (const subset of Object.values(subsets as Record<string, unknown>)) {
    if (typeof subset !== 'object' || subset === null) return null;
    const s = subset as Record<string, unknown>;
    for (const field of [
      'started',
      'finished',
      'inFlight',
      'openStreams',
      'rebalanced',
      'abandoned',
      'refused',
      'endpoints',
    ])
      if (typeof s[field] !== 'number') return null;
    if (!Array.isArray(s['latencyHistogram']) || typeof s['codes'] !== 'object' || typeof s['notStarted'] !== 'object')
      return null;
  }
  return raw as unknown as Publication;
}

/** Readiness order for "the least ready state across replicas" (as across a split's channels). */
const READINESS: Record<ConnectivityStateName, number> = {
  READY: 4,
  CONNECTING: 3,
  IDLE: 2,
  TRANSIENT_FAILURE: 1,
  SHUTDOWN: 0,
};

/** What `aggregate` adds to the fleet's `stats()`. */
export type AggregateFigures = Pick<SplitStats, 'channels' | 'notStarted' | 'subsets'>;

/**
 * The fleet's figures: for each replica of `current`, its publication minus its `baselines`
 * entry (none, or one of another instance: the whole publication counts), summed. `weights`
 * gives each subset its `weight`. In-flight attempts, open streams, states, channels and
 * endpoints are of now, not differences: the latest publications' sums (endpoints: the most any
 * replica sees).
 */
export function aggregate(
  subsetNames: readonly string[],
  weights: Record<string, number>,
  current: Iterable<Publication>,
  baselines: ReadonlyMap<string, Publication> | null,
): AggregateFigures {
  const subsets: Record<string, SubsetStats> = {};
  const histograms = new Map<string, Float64Array>();
  for (const name of subsetNames) {
    histograms.set(name, new Float64Array(LATENCY_BUCKETS));
    subsets[name] = {
      weight: weights[name] ?? 0,
      target: '',
      state: 'IDLE',
      channels: {},
      endpoints: 0,
      started: 0,
      finished: 0,
      inFlight: 0,
      openStreams: 0,
      rebalanced: 0,
      codes: {},
      abandoned: 0,
      refused: 0,
      notStarted: {},
      latencyMs: { p50: null, p90: null, p99: null },
      latencyHistogram: [],
    };
  }
  let channels = 0;
  const notStarted: Partial<Record<StatusName, number>> = {};
  let first = true;
  for (const now of current) {
    const before = baselines?.get(now.replica);
    const base = before !== undefined && before.instance === now.instance ? before : null;
    channels += now.channels;
    addCounts(notStarted, now.notStarted, base?.notStarted);
    for (const name of subsetNames) {
      const sum = subsets[name]!;
      const mine = now.subsets[name];
      if (mine === undefined) continue;
      const then = base?.subsets[name];
      sum.target = mine.target;
      if (first || READINESS[mine.state] < READINESS[sum.state]) sum.state = mine.state;
      addCounts(sum.channels, mine.channels, undefined);
      sum.endpoints = Math.max(sum.endpoints, mine.endpoints);
      sum.inFlight += mine.inFlight;
      sum.openStreams += mine.openStreams;
      for (const field of ['started', 'finished', 'rebalanced', 'abandoned', 'refused'] as const)
        sum[field] += mine[field] - (then?.[field] ?? 0);
      addCounts(sum.codes, mine.codes, then?.codes);
      addCounts(sum.notStarted, mine.notStarted, then?.notStarted);
      // Each published bucket is found again from its middle (exact from 16 us up; below, a few
      // neighbouring buckets merge, the same way for both sides of a difference).
      const histogram = histograms.get(name)!;
      for (const [ms, count] of mine.latencyHistogram) histogram[latencyBucket(ms)]! += count;
      for (const [ms, count] of then?.latencyHistogram ?? []) histogram[latencyBucket(ms)]! -= count;
    }
    first = false;
  }
  for (const name of subsetNames) {
    const histogram = histograms.get(name)!;
    subsets[name]!.latencyHistogram = latencyHistogram(histogram, 0);
    subsets[name]!.latencyMs = {
      p50: latencyQuantile(histogram, 0, 0.5),
      p90: latencyQuantile(histogram, 0, 0.9),
      p99: latencyQuantile(histogram, 0, 0.99),
    };
  }
  return { channels, notStarted, subsets };
}

/** `into[key] += now[key] - then[key]` for every key, keeping only positive totals. */
function addCounts<K extends string>(
  into: Partial<Record<K, number>>,
  now: Partial<Record<K, number>>,
  then: Partial<Record<K, number>> | undefined,
): void {
  for (const key of Object.keys(now) as K[]) {
    const total = (into[key] ?? 0) + (now[key] ?? 0) - (then?.[key] ?? 0);
    if (total > 0) into[key] = total;
    else delete into[key];
  }
}
