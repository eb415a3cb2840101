/**
 * The fleet's rollout, run by the replica that leads. It works from the record in etcd, so any
 * replica that comes to lead picks up where the last leader was:
 *
 * - a running record whose step's weights are not in force yet: write them with the record;
 * - a running record whose window is not this leader's (just started, resumed, or its leader
 *   is gone): open a fresh window on the step in force, which keeps its weights. A new leader
 *   thus continues the step and judges it on a whole window of its own: the lost leader's
 *   window was never judged, and its replica's calls left the figures with its lease;
 * - at the end of a window: ask every replica for its figures, wait for them (at most
 *   `figuresTimeoutMs`), judge the window's sum, and write the verdict with the weights it puts
 *   in force (next step, promotion or rollback) in one transaction.
 *
 * Every write is fenced (leadership.ts) and compares the record's and the weights' revisions,
 * so a deposed leader, a pause, an abort or an operator's change made meanwhile all win over it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { unrefTimer, type ClockTimer } from '../../base/clock.js';
import { parseRolloutOptions } from '../../ops/rollout/rollout-options.js';
import type { RolloutStepRecord } from '../../ops/rollout/rollout-types.js';
import { logError, trace, validateWeights } from '../../split/fleet-port.js';
import type { FleetCore } from '../etcd/core.js';
import { transact, type Put } from '../etcd/etcd.js';
import { messageOf } from '../errors.js';
import { revision } from '../etcd/keys.js';
import type { Leadership } from '../etcd/leadership.js';
import type { FleetMark } from '../state/publications.js';
import {
  concluded,
  encodeRecord,
  ended,
  withWait,
  withWindow,
  type FleetRolloutRecord,
  type RolloutWindow,
} from './rollout-record.js';
import { judgeWindow } from './rollout-judge.js';
import { encodeWeights } from '../state/weights-value.js';

/** The window this leader opened and holds the mark of. */
interface OpenWindow {
  readonly rollout: string;
  readonly id: string;
  readonly mark: FleetMark;
  readonly openedAt: number;
}

/** After a write that etcd could not take, look again this much later. */
const RETRY_MS = 1_000;
const CATCH_UP_MS = 5_000;

export class RolloutLeader {
  private window: OpenWindow | null = null;
  private timer: ClockTimer | null = null;
  /** Reconciling and judging run one at a time, in order: neither sees the other half done. */
  private queue: Promise<void> = Promise.resolve();
  private reconcileQueued = false;

  constructor(
    private readonly core: FleetCore,
    private readonly leadership: Leadership,
  ) {
    core.state.on('record', () => this.poke());
    leadership.on('change', ({ leading }) => (leading ? this.poke() : this.drop()));
  }

  stop(): void {
    this.drop();
  }

  /** Looks at the record again, once the work queued before is done. */
  private poke(): void {
    if (!this.leadership.leading || this.reconcileQueued) return;
    this.reconcileQueued = true;
    this.enqueue(() => {
      this.reconcileQueued = false;
      return this.reconcile();
    });
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((error: unknown) => {
      logError(
        `fleet ${this.core.keys.prefix}: rollout ` +
          `leader: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    });
  }

  private async reconcile(): Promise<void> {
    const record = this.core.state.record?.value;
    if (record === undefined || record.state !== 'running') return this.drop();
    if (this.window !== null && this.window.rollout === record.id && record.window?.id === this.window.id) return;
    this.drop();
    const weights = this.core.state.weights?.value;
    const invalid = invalidRecord(this.core.split.subsets, record);
    if (invalid !== null) {
      // A record written by something else than a fleet of this split: never put it in force.
      const reason = `the rollout record is not one for this split: ${invalid}; the weights in force stay`;
      await this.write(
        encodeRecord(
          ended(record, 'aborted', reason, weights?.weights ?? this.core.split.getWeights(), this.core.clock.now()),
        ),
        null,
        false,
      );
      return;
    }
    if (record.applied && (weights?.by !== 'rollout' || weights.rollout !== record.id)) {
      // Weights written around the fleet's own writes (by hand, by another tool): they win.
      const reason =
        `weights changed outside the rollout ` + `to ${JSON.stringify(weights?.weights ?? null)}; they stay in force`;
      await this.write(
        encodeRecord(
          ended(record, 'aborted', reason, weights?.weights ?? this.core.split.getWeights(), this.core.clock.now()),
        ),
        null,
        false,
      );
      return;
    }
    await this.open(
      record,
      withWindow(record, this.newWindow()),
      record.applied ? null : record.plan[record.step]!.weights,
    );
  }

  /** Writes `next` (which opens a window) with a snapshot request, and `weights` if given. */
  private async open(
    record: FleetRolloutRecord,
    next: FleetRolloutRecord,
    weights: Record<string, number> | null,
  ): Promise<void> {
    const mark = this.core.state.publications.mark(this.core.clock.now());
    const written = await this.write(
      encodeRecord(next),
      weights === null ? null : this.weightsPut(record, weights),
      true,
    );
    if (written === null) return this.core.state.publications.forget(mark);
    this.core.state.publications.requested(mark, written);
    this.window = { rollout: record.id, id: next.window!.id, mark, openedAt: next.window!.openedAt };
    this.arm(record.options.intervalMs);
  }

  private arm(delayMs: number): void {
    this.timer = this.core.clock.setTimeout(() => {
      this.timer = null;
      this.enqueue(() => this.evaluate());
    }, delayMs);
  }

  /** The window ended: collect every replica's figures, judge, write the outcome. */
  private async evaluate(): Promise<void> {
    const window = this.window;
    const current = this.core.state.record;
    if (
      window === null ||
      current === null ||
      current.value.window?.id !== window.id ||
      current.value.state !== 'running'
    )
      return;
    const { publications } = this.core.state;
    const flush = await this.write(null, null, true);
    if (flush === null) return;
    const target = revision(flush);
    await this.answers(target);
    // Paused, aborted, changed by an operator or deposed while the figures came in: not ours to judge.
    if (this.window !== window || this.core.state.record !== current) return;
    const record = current.value;
    const parsed = parseRolloutOptions(record.options, this.core.split.subsets);
    const periodMs = this.core.clock.now() - window.openedAt;
    const stats = this.core.figures(window.mark);
    const decision = judgeWindow(stats, record.options.subset, parsed, periodMs, record.waited);
    if (decision.kind === 'wait') {
      const wait = {
        step: record.step,
        calls: decision.figures.calls,
        minCalls: parsed.minCalls,
        waited: record.waited + 1,
        maxWaitIntervals: parsed.maxWaitIntervals,
      };
      // Same window, same mark: it grows until it holds enough calls.
      if ((await this.write(encodeRecord(withWait(record, wait)), null, false)) !== null)
        this.arm(record.options.intervalMs);
      return;
    }
    const plan = record.plan[record.step]!;
    const judged: RolloutStepRecord = {
      ...plan,
      weights: { ...plan.weights },
      figures: decision.figures,
      ...decision.verdict,
      ...(decision.comparison && { comparison: decision.comparison }),
    };
    const { record: next, weights } = concluded(record, judged, this.core.clock.now(), this.newWindow());
    this.drop();
    if (next.state === 'running') await this.open(record, next, weights);
    else await this.write(encodeRecord(next), this.weightsPut(record, weights), false);
    publications.forget(window.mark);
  }

  /** Waits until every live replica published figures after the request at `target`, or the timeout. */
  private answers(target: bigint): Promise<void> {
    const { publications } = this.core.state;
    if (publications.allAnswered(target)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.core.clock.clearTimeout(timer);
        off();
        resolve();
      };
      const timer = this.core.clock.setTimeout(() => {
        trace(
          `fleet ${this.core.keys.prefix}: not every replica answered snapshot ${target} ` +
            `within ${this.core.options.figuresTimeoutMs} ms; judging on the latest figures`,
        );
        done();
      }, this.core.options.figuresTimeoutMs);
      unrefTimer(timer);
      const off = publications.onChange(() => {
        if (publications.allAnswered(target)) done();
      });
    });
  }

  /**
   * One fenced transaction: `record` (if given) and `weights` (if given), and with `snapshot` a
   * snapshot request, all in one revision, returned; null when it was not written (no longer
   * leading, or the record or the weights changed: the next `reconcile()` sees why).
   */
  private async write(record: string | null, weights: Put | null, snapshot: boolean): Promise<string | null> {
    const { state, keys, client } = this.core;
    // No local guess at whether the lease still runs: etcd decides, by the fence, at the write.
    const fence = this.leadership.fence();
    if (fence === null) return null;
    const puts: Put[] = [
      ...(weights === null ? [] : [weights]),
      ...(record === null ? [] : [{ key: keys.rollout, value: record }]),
    ];
    if (snapshot) puts.push({ key: keys.snapshot, value: JSON.stringify({ replica: this.core.replicaId }) });
    const conditions = [
      fence,
      { key: keys.rollout, target: 'Mod' as const, revision: state.recordKeyRevision.toString() },
    ];
    if (weights !== null)
      conditions.push({ key: keys.weights, target: 'Mod', revision: state.weightsKeyRevision.toString() });
    try {
      const outcome = await transact(client, conditions, puts, [fence.key, keys.rollout, keys.weights]);
      if (outcome.succeeded) return outcome.revision;
      const candidacy = outcome.read.get(fence.key);
      if (candidacy === null || candidacy === undefined || candidacy.create_revision !== fence.revision) {
        this.core.fenced(
          `write refused by etcd: candidacy ${fence.key} of term ${fence.revision} is gone (lease ended)`,
        );
        this.drop();
        return null;
      }
      let newest = 0n;
      for (const kv of outcome.read.values())
        if (kv !== null && revision(kv.mod_revision) > newest) newest = revision(kv.mod_revision);
      await this.core.watch.waitFor(newest, CATCH_UP_MS);
    } catch (error) {
      this.retryLater(messageOf(error));
    }
    this.drop();
    return null;
  }

  private retryLater(why: string): void {
    trace(`fleet ${this.core.keys.prefix}: rollout leader did not write (${why}); looking again in ${RETRY_MS} ms`);
    this.drop();
    const retry = this.core.clock.setTimeout(() => this.poke(), RETRY_MS);
    unrefTimer(retry);
  }

  private weightsPut(record: FleetRolloutRecord, weights: Record<string, number>): Put {
    const fence = this.leadership.fence();
    const value = {
      weights,
      replica: this.core.replicaId,
      by: 'rollout' as const,
      rollout: record.id,
      ...(fence !== null && { term: fence.revision }),
      at: this.core.clock.now(),
    };
    return { key: this.core.keys.weights, value: encodeWeights(value) };
  }

  private newWindow(): RolloutWindow {
    const fence = this.leadership.fence();
    return {
      leader: this.core.replicaId,
      term: fence?.revision ?? '0',
      id: randomBytes(6).toString('hex'),
      openedAt: this.core.clock.now(),
    };
  }

  private drop(): void {
    if (this.timer !== null) this.core.clock.clearTimeout(this.timer);
    this.timer = null;
    if (this.window !== null) this.core.state.publications.forget(this.window.mark);
    this.window = null;
  }
}

/** Why a record cannot be run on this split (its options, or the weights of a step or those it
 * rolls back to); null when it can. */
function invalidRecord(subsets: readonly string[], record: FleetRolloutRecord): string | null {
  try {
    parseRolloutOptions(record.options, subsets);
    validateWeights(subsets, record.previousWeights as Record<string, number>);
    for (const step of record.plan) validateWeights(subsets, step.weights);
    return null;
  } catch (error) {
    return messageOf(error);
  }
}
