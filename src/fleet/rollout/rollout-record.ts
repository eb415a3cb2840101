/**
 * The fleet's rollout as kept in etcd (`<prefix>/rollout`): everything a replica needs to follow
 * it and a new leader needs to take it over (plan, step, weights before, the open window,
 * verdicts, result). Each change of step is written in the same transaction as the weights it
 * puts in force, so the record and the weights never disagree. Pure: transitions return new
 * records.
 * @module
 */
import { promotedWeights, type RolloutStepPlan } from '../../ops/rollout/rollout-plan.js';
import type { RolloutOptions } from '../../ops/rollout/rollout-options.js';
import type {
  RolloutOutcome,
  RolloutResult,
  RolloutState,
  RolloutStepRecord,
  RolloutWait,
} from '../../ops/rollout/rollout-types.js';

/** The window a leader is judging the step on. */
export interface RolloutWindow {
  /** The replica leading, and its term (the create revision of its election key). */
  readonly leader: string;
  readonly term: string;
  /** Drawn by the leader that opened it: only that leader holds its start (the answers to the
   * snapshot request written with it), so any other leader opens a window of its own. */
  readonly id: string;
  /** When it opened, on the leader's clock. */
  readonly openedAt: number;
}

export interface FleetRolloutRecord {
  readonly format: 1;
  /** Unique per rollout: `<replica>-<time>-<random>`. */
  readonly id: string;
  readonly startedBy: string;
  readonly startedAt: number;
  /** The options as given, in JSON (no functions, no clock, no shadow phase). */
  readonly options: RolloutOptions;
  readonly plan: readonly RolloutStepPlan[];
  readonly previousWeights: Readonly<Record<string, number>>;
  readonly state: RolloutState;
  /** Index of the step in force (or to be put in force, while `applied` is false). */
  readonly step: number;
  /** The step's weights are in force: written by a leader with this record. */
  readonly applied: boolean;
  /** Extra intervals the step waited for `minCalls`, and the last wait. */
  readonly waited: number;
  readonly lastWait: RolloutWait | null;
  /** The open window, or null (no leader judging yet, paused, done). */
  readonly window: RolloutWindow | null;
  readonly history: readonly RolloutStepRecord[];
  readonly result: RolloutResult | null;
}

/** A record as the starting replica writes it: running, step 0 not yet in force. */
export function newRecord(
  id: string,
  replica: string,
  now: number,
  options: RolloutOptions,
  plan: readonly RolloutStepPlan[],
  previousWeights: Record<string, number>,
): FleetRolloutRecord {
  return {
    format: 1,
    id,
    startedBy: replica,
    startedAt: now,
    options,
    plan,
    previousWeights,
    state: 'running',
    step: 0,
    applied: false,
    waited: 0,
    lastWait: null,
    window: null,
    history: [],
    result: null,
  };
}

/** A fresh window on the step in force (its weights are in force once this is written). */
export function withWindow(record: FleetRolloutRecord, window: RolloutWindow): FleetRolloutRecord {
  return { ...record, applied: true, window, waited: 0, lastWait: null };
}

export function withWait(record: FleetRolloutRecord, wait: RolloutWait): FleetRolloutRecord {
  return { ...record, waited: wait.waited, lastWait: wait };
}

export function paused(record: FleetRolloutRecord): FleetRolloutRecord {
  return { ...record, state: 'paused', window: null };
}

/** Running again: the leader opens a fresh window (as `resume()` does in process). */
export function resumed(record: FleetRolloutRecord): FleetRolloutRecord {
  return { ...record, state: 'running', window: null };
}

/** The record after a judged step, and the weights to write with it. */
export function concluded(
  record: FleetRolloutRecord,
  judged: RolloutStepRecord,
  now: number,
  nextWindow: RolloutWindow,
): { record: FleetRolloutRecord; weights: Record<string, number> } {
  const history = [...record.history, judged];
  const with_ = { ...record, history };
  const plan = record.plan[record.step]!;
  if (judged.verdict === 'fail') {
    const weights = { ...record.previousWeights };
    return {
      record: ended(with_, 'rolled-back', `step ${plan.step + 1} (${plan.percent}%): ${judged.reason}`, weights, now),
      weights,
    };
  }
  if (record.step === record.plan.length - 1) {
    const weights = promotedWeights(record.options.subset, { ...record.previousWeights });
    const steps = record.plan.length;
    return {
      record: ended(with_, 'promoted', `all ${steps} step${steps === 1 ? '' : 's'} passed`, weights, now),
      weights,
    };
  }
  const next = record.step + 1;
  return { record: withWindow({ ...with_, step: next }, nextWindow), weights: { ...record.plan[next]!.weights } };
}

/** Done: the outcome, and the weights in force after it. */
export function ended(
  record: FleetRolloutRecord,
  outcome: RolloutOutcome,
  reason: string,
  weights: Record<string, number>,
  now: number,
): FleetRolloutRecord {
  const result: RolloutResult = {
    outcome,
    reason,
    history: [...record.history],
    weights: { ...weights },
    previousWeights: { ...record.previousWeights },
    durationMs: Math.max(0, now - record.startedAt),
  };
  return { ...record, state: 'done', window: null, result };
}

export function encodeRecord(record: FleetRolloutRecord): string {
  return JSON.stringify(record);
}

/** A record read from etcd, or a sentence saying why it is not one. */
export function decodeRecord(raw: Record<string, unknown> | null): FleetRolloutRecord | string {
  if (raw === null) return 'not a JSON object';
  if (raw['format'] !== 1) return `"format" is not 1`;
  if (typeof raw['id'] !== 'string' || typeof raw['startedBy'] !== 'string' || typeof raw['startedAt'] !== 'number')
    return '"id", "startedBy" or "startedAt" missing';
  if (!['running', 'paused', 'done'].includes(raw['state'] as string)) return '"state" is not running, paused or done';
  const plan = raw['plan'];
  if (!Array.isArray(plan) || plan.length === 0) return '"plan" is not a list of steps';
  // Every replica's view copies each step: a step that is not an object would make it throw.
  if (!plan.every(isStep)) return '"plan" has a step without "step", "percent" and "weights"';
  const step = raw['step'];
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step >= plan.length)
    return '"step" is not a step of the plan';
  for (const field of ['options', 'previousWeights'])
    if (typeof raw[field] !== 'object' || raw[field] === null) return `"${field}" is not an object`;
  if (!Array.isArray(raw['history'])) return '"history" is not a list';
  if (raw['state'] === 'done' && (typeof raw['result'] !== 'object' || raw['result'] === null))
    return 'done without a "result"';
  return raw as unknown as FleetRolloutRecord;
}

function isStep(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const step = value as Record<string, unknown>;
  return (
    typeof step['step'] === 'number' &&
    typeof step['percent'] === 'number' &&
    typeof step['weights'] === 'object' &&
    step['weights'] !== null &&
    !Array.isArray(step['weights'])
  );
}
