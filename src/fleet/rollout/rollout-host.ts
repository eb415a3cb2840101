/**
 * The fleet's rollouts on this replica: `startRollout(fleet, ...)` lands here (src/ops/rollout/rollout.ts
 * hands a hosted handle's rollouts to its host), writes the new record to etcd and returns the
 * view every replica keeps of the fleet's latest rollout. Which replica runs it is the
 * election's business (rollout-leader.ts), not the caller's.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { typeErrorAt } from '../../base/errors.js';
import { planRollout } from '../../ops/rollout/rollout-plan.js';
import type { ParsedRolloutOptions, RolloutOptions } from '../../ops/rollout/rollout-options.js';
import type { RolloutHost } from '../../ops/rollout/rollout.js';
import type { FleetCore } from '../etcd/core.js';
import { transact } from '../etcd/etcd.js';
import { messageOf } from '../errors.js';
import { newRecord, type FleetRolloutRecord } from './rollout-record.js';
import type { Versioned } from '../state/state.js';
import { FleetRolloutView } from './rollout-view.js';

export class FleetRollouts implements RolloutHost {
  private view: FleetRolloutView | null = null;

  constructor(private readonly core: FleetCore) {
    core.state.on('record', (record) => this.follow(record));
    if (core.state.record !== null) this.follow(core.state.record);
  }

  latest(): FleetRolloutView | undefined {
    return this.view ?? undefined;
  }

  start(
    options: RolloutOptions,
    parsed: ParsedRolloutOptions,
    previousWeights: Record<string, number>,
  ): FleetRolloutView {
    // What cannot travel through etcd to the replica that will run it.
    if (parsed.judge !== null)
      throw typeErrorAt(
        'analysis.judge',
        'no judge function in a fleet rollout (it runs on the elected leader, maybe another process)',
        options.analysis.judge,
      );
    if (options.clock !== undefined)
      throw typeErrorAt(
        'clock',
        'no clock in a fleet rollout (it runs on the elected leader, maybe another process)',
        options.clock,
      );
    if (parsed.shadow !== null)
      throw typeErrorAt('shadow', 'no shadow phase in a fleet rollout (a mirror is set per replica)', options.shadow);
    if (parsed.sequential)
      throw typeErrorAt(
        'analysis.sequential',
        "false in a fleet rollout (the leader sees its own replica's calls only; each step is judged on the fleet's figures)",
        options.analysis.sequential,
      );
    const { core } = this;
    const id = `${core.replicaId}-${core.clock.now()}-${randomBytes(3).toString('hex')}`;
    const plain = JSON.parse(JSON.stringify(options)) as RolloutOptions;
    const plan = planRollout(parsed.subset, parsed.steps, previousWeights, parsed.experimentBaseline);
    const record = newRecord(id, core.replicaId, core.clock.now(), plain, plan, previousWeights);
    const view = new FleetRolloutView(core, record);
    this.replace(view);
    void this.write(view, record);
    return view;
  }

  /** Writes the record if neither the rollout key nor the weights changed since this replica
   * last saw them: the plan was computed from those weights. */
  private async write(view: FleetRolloutView, record: FleetRolloutRecord): Promise<void> {
    const { state, keys, client } = this.core;
    try {
      const outcome = await transact(
        client,
        [
          { key: keys.rollout, target: 'Mod', revision: state.recordKeyRevision.toString() },
          { key: keys.weights, target: 'Mod', revision: state.weightsKeyRevision.toString() },
        ],
        [{ key: keys.rollout, value: JSON.stringify(record) }],
      );
      if (!outcome.succeeded)
        view.fail("not started: the fleet's weights or rollout changed in etcd before it could be written");
    } catch (error) {
      view.fail(`not started: could not write it to etcd: ${messageOf(error)}`);
    }
  }

  private follow({ value }: Versioned<FleetRolloutRecord>): void {
    if (this.view !== null && this.view.id === value.id) return this.view.update(value);
    this.replace(new FleetRolloutView(this.core, value));
  }

  private replace(view: FleetRolloutView): void {
    this.view?.fail(`replaced in etcd by rollout ${view.id}`);
    this.view = view;
  }
}
