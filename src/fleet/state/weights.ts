/**
 * The fleet's weights on this replica: every revision of `<prefix>/weights`, applied in order
 * through the split's own `setWeights()`, and the operator's changes, written with a
 * compare-and-swap on the revision this replica last saw. A change made while a rollout runs
 * ends the rollout in the same transaction (the operator's latest word wins, as in one process).
 * @module
 */
import { logError, parseSetWeightsOptions, validateWeights, type SetWeightsOptions } from '../../split/fleet-port.js';
import type { FleetCore } from '../etcd/core.js';
import { transact, type Condition, type Put } from '../etcd/etcd.js';
import { messageOf, TrafficSplitFleetError } from '../errors.js';
import { revision } from '../etcd/keys.js';
import { encodeRecord, ended } from '../rollout/rollout-record.js';
import type { Versioned } from './state.js';
import { encodeWeights, type WeightsValue } from './weights-value.js';

/** A revision of the weights, as this replica applied it (or could not). */
export interface FleetWeightsApplied {
  /** The etcd revision that wrote it. */
  revision: string;
  weights: Record<string, number>;
  /** The replica that wrote it, and as what. */
  replica: string;
  by: WeightsValue['by'];
  /** The leader's term, for a leader's write. */
  term: string | null;
  /** The rollout that wrote it (`by: 'rollout'`), or null. */
  rollout: string | null;
  /** Why the split refused it (it keeps the weights before); null when in force. */
  refused: string | null;
}

/** Attempts of an operator's write that lost a compare-and-swap to another write. */
const MAX_WRITE_ATTEMPTS = 5;
/** How long a write waits to see its own revision (or the one it lost to) come back. */
const CATCH_UP_MS = 5_000;

/** Applies one revision to the local split; never throws. */
export function applyRevision(core: FleetCore, { value, modRevision }: Versioned<WeightsValue>): FleetWeightsApplied {
  let refused: string | null = null;
  try {
    core.split.setWeights(
      value.weights,
      value.rebalanceStreams === undefined ? undefined : { rebalanceStreams: value.rebalanceStreams },
    );
  } catch (error) {
    refused = messageOf(error);
    logError(
      `fleet ${core.keys.prefix}: weights of revision ${modRevision} not applied on ${core.replicaId}: ${refused}`,
    );
  }
  return {
    revision: modRevision.toString(),
    weights: { ...value.weights },
    replica: value.replica,
    by: value.by,
    term: value.term ?? null,
    rollout: value.rollout ?? null,
    refused,
  };
}

/**
 * Writes the operator's weights; resolves with the revision once this replica applied it.
 * Invalid weights or options throw at once (nothing is written), as the split's own would.
 */
export function writeOperatorWeights(
  core: FleetCore,
  weights: Record<string, number>,
  options: SetWeightsOptions | undefined,
): Promise<string> {
  validateWeights(core.split.subsets, weights);
  const rebalance = parseSetWeightsOptions(options, null);
  // Only what the caller gave travels: each replica otherwise applies its split's own default.
  const rebalanceStreams =
    options?.rebalanceStreams === undefined ? undefined : rebalance === null ? false : rebalance;
  const copy = Object.fromEntries(core.split.subsets.map((name) => [name, weights[name]!]));
  return attempt(core, copy, rebalanceStreams, 1);
}

async function attempt(
  core: FleetCore,
  weights: Record<string, number>,
  rebalanceStreams: SetWeightsOptions['rebalanceStreams'],
  n: number,
): Promise<string> {
  const { state, keys, clock } = core;
  const record = state.record?.value;
  const active = record !== undefined && record.state !== 'done';
  const now = clock.now();
  const conditions: Condition[] = [
    { key: keys.weights, target: 'Mod', revision: state.weightsKeyRevision.toString() },
  ];
  const value: WeightsValue = {
    weights,
    replica: core.replicaId,
    by: 'operator',
    at: now,
    ...(rebalanceStreams !== undefined && { rebalanceStreams }),
  };
  const puts: Put[] = [{ key: keys.weights, value: encodeWeights(value) }];
  if (active) {
    conditions.push({ key: keys.rollout, target: 'Mod', revision: state.recordKeyRevision.toString() });
    const reason = `weights changed outside the rollout to ${JSON.stringify(weights)}; they stay in force`;
    puts.push({ key: keys.rollout, value: encodeRecord(ended(record, 'aborted', reason, weights, now)) });
  }
  let outcome;
  try {
    outcome = await transact(core.client, conditions, puts, [keys.weights, keys.rollout]);
  } catch (error) {
    throw new TrafficSplitFleetError(
      `fleet ${keys.prefix}: weights ${JSON.stringify(weights)} not written to etcd: ${messageOf(error)}`,
      'ERR_FLEET_WRITE',
      { cause: error },
    );
  }
  if (outcome.succeeded) {
    // The promise is of the change in force here: say so when this replica's watch lags.
    if (!(await core.watch.waitFor(revision(outcome.revision), CATCH_UP_MS))) {
      throw new TrafficSplitFleetError(
        `fleet ${keys.prefix}: weights ${JSON.stringify(weights)} written to etcd at ` +
          `revision ${outcome.revision}, but not applied on replica ${core.replicaId} within ${CATCH_UP_MS} ` +
          `ms (its watch is behind); every replica applies it as its watch catches up`,
        'ERR_FLEET_NOT_APPLIED',
      );
    }
    return outcome.revision;
  }
  if (n >= MAX_WRITE_ATTEMPTS) {
    throw new TrafficSplitFleetError(
      `fleet ${keys.prefix}: weights ${JSON.stringify(weights)} not written: ${n} other writes came first`,
      'ERR_FLEET_WRITE',
    );
  }
  // Another write came first: see it (and the rollout it may have ended), then try again.
  let newest = 0n;
  for (const kv of outcome.read.values())
    if (kv !== null && revision(kv.mod_revision) > newest) newest = revision(kv.mod_revision);
  await core.watch.waitFor(newest, CATCH_UP_MS);
  return attempt(core, weights, rebalanceStreams, n + 1);
}
