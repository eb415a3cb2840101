/**
 * A fleet rollout as every replica sees it: a `Rollout` that follows the record in etcd. Its
 * events come from the record's changes (whichever replica leads), its `done` resolves when the
 * record says done, and its controls (`pause`, `resume`, `abort`) are compare-and-swap writes of
 * the record that the leader then follows. An abort puts the weights from before the rollout
 * back in the same transaction, so it works with no leader at all.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { RolloutStepPlan } from '../../ops/rollout/rollout-plan.js';
import type {
  Rollout,
  RolloutEvents,
  RolloutResult,
  RolloutState,
  RolloutStatus,
} from '../../ops/rollout/rollout-types.js';
import { logError } from '../../split/fleet-port.js';
import type { FleetCore } from '../etcd/core.js';
import { transact, type Put } from '../etcd/etcd.js';
import { messageOf } from '../errors.js';
import { revision } from '../etcd/keys.js';
import { encodeRecord, ended, paused, resumed, type FleetRolloutRecord } from './rollout-record.js';
import { encodeWeights } from '../state/weights-value.js';

/** `toJSON()` of a fleet rollout: the in-process status, plus who started and leads it. */
export type FleetRolloutStatus = RolloutStatus & { id: string; startedBy: string; leader: string | null };

/** Attempts of a control write that lost its compare-and-swap to another change of the record. */
const MAX_CONTROL_ATTEMPTS = 5;
const CATCH_UP_MS = 5_000;

export class FleetRolloutView extends EventEmitter<RolloutEvents> implements Rollout {
  readonly id: string;
  readonly subset: string;
  readonly plan: readonly RolloutStepPlan[];
  readonly previousWeights: Readonly<Record<string, number>>;
  readonly done: Promise<RolloutResult>;
  private record: FleetRolloutRecord;
  private resolveDone!: (result: RolloutResult) => void;

  constructor(
    private readonly core: FleetCore,
    record: FleetRolloutRecord,
  ) {
    super();
    this.id = record.id;
    this.record = record;
    this.subset = record.options.subset;
    this.plan = Object.freeze(record.plan.map((step) => ({ ...step, weights: { ...step.weights } })));
    this.previousWeights = Object.freeze({ ...record.previousWeights });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    if (record.result !== null) this.resolveDone(record.result);
  }

  get state(): RolloutState {
    return this.record.state;
  }

  get step(): number {
    return this.record.step;
  }

  /** A newer version of the record: report what changed, in the order it happened. */
  update(next: FleetRolloutRecord): void {
    const before = this.record;
    this.record = next;
    for (const judged of next.history.slice(before.history.length)) this.emitLater('verdict', judged);
    if (next.waited > before.waited && next.lastWait !== null) this.emitLater('wait', next.lastWait);
    if (next.applied && (!before.applied || next.step !== before.step) && next.state !== 'done')
      this.emitLater('step', this.plan[next.step]!);
    if (before.state !== 'done' && next.result !== null) this.finish(next.result);
  }

  /** Ends the view without etcd: its record never got written, or another replaced it. */
  fail(reason: string): void {
    if (this.record.state === 'done') return;
    this.record = ended(this.record, 'aborted', reason, this.core.split.getWeights(), this.core.clock.now());
    this.finish(this.record.result!);
  }

  pause(): void {
    void this.control('pause', (record) => (record.state === 'running' ? { record: paused(record) } : null));
  }

  resume(): void {
    void this.control('resume', (record) => (record.state === 'paused' ? { record: resumed(record) } : null));
  }

  abort(reason = 'aborted by abort()'): Promise<RolloutResult> {
    const restore = { ...this.previousWeights };
    void this.control('abort', (record) => {
      if (record.state === 'done') return null;
      const weights: Put = {
        key: this.core.keys.weights,
        value: encodeWeights({
          weights: restore,
          replica: this.core.replicaId,
          by: 'rollout',
          rollout: record.id,
          at: this.core.clock.now(),
        }),
      };
      return { record: ended(record, 'aborted', reason, restore, this.core.clock.now()), weights };
    });
    return this.done;
  }

  toJSON(): FleetRolloutStatus {
    const record = this.record;
    return {
      subset: this.subset,
      state: record.state,
      phase: 'steps',
      shadow: null,
      step: record.step,
      percent: this.plan[record.step]!.percent,
      intervalMs: record.options.intervalMs,
      plan: this.plan.map((step) => ({ ...step, weights: { ...step.weights } })),
      previousWeights: { ...this.previousWeights },
      history: [...record.history],
      result: record.result,
      id: this.id,
      startedBy: record.startedBy,
      leader: record.window?.leader ?? null,
    };
  }

  /**
   * Writes `change(record)` if the record is still the one this replica knows; after losing to
   * another write, looks again (the change may no longer apply: paused already, done).
   */
  private async control(
    what: string,
    change: (record: FleetRolloutRecord) => { record: FleetRolloutRecord; weights?: Put } | null,
  ): Promise<void> {
    const { state, keys, client, watch } = this.core;
    for (let attempt = 1; attempt <= MAX_CONTROL_ATTEMPTS; attempt++) {
      const current = state.record;
      if (current === null || current.value.id !== this.id) return;
      const next = change(current.value);
      if (next === null) return;
      const puts: Put[] = [
        ...(next.weights === undefined ? [] : [next.weights]),
        { key: keys.rollout, value: encodeRecord(next.record) },
      ];
      try {
        const outcome = await transact(
          client,
          [{ key: keys.rollout, target: 'Mod', revision: state.recordKeyRevision.toString() }],
          puts,
          [keys.rollout],
        );
        const seen = outcome.succeeded ? outcome.revision : (outcome.read.get(keys.rollout)?.mod_revision ?? '0');
        await watch.waitFor(revision(seen), CATCH_UP_MS);
        if (outcome.succeeded) return;
      } catch (error) {
        return logError(
          `fleet ${keys.prefix}: ${what} of rollout ${this.id} not written to etcd: ${messageOf(error)}`,
        );
      }
    }
    logError(
      `fleet ${keys.prefix}: ${what} of rollout ${this.id} not ` +
        `written: ${MAX_CONTROL_ATTEMPTS} other changes came first`,
    );
  }

  private finish(result: RolloutResult): void {
    this.resolveDone(result);
    this.emitLater('done', result);
  }

  private emitLater<K extends keyof RolloutEvents>(event: K, ...args: RolloutEvents[K]): void {
    process.nextTick(() => (this.emit as (event: K, ...args: RolloutEvents[K]) => boolean)(event, ...args));
  }
}
