/**
 * The floor of a keyless pick: the least any picker can do that splits per call between
 * subsets and keeps this library's per-call promises, built by hand for the pick-ratio bench.
 * Per pick it reads the call's context from the metadata options (what per-method schedules,
 * calls waiting for a subset in grace, later attempts and streams all need), takes the subset
 * from a fixed order of subsets repeated (no schedule), delegates to that subset's round_robin picker (a subset
 * is one, over its endpoints), and returns a pooled result holding the subset. Its hooks read
 * the clock at the start and at the end and count the answer per subset: the least the
 * per-subset figures (calls, latency) need.
 *
 * It reads the split's internal `CALL_SLOT`, which the pick-ratio bench itself never does: the
 * floor has to read what the split's picker reads.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import { CALL_SLOT } from '../src/policy/call/call-context.js';
import type { PickerLike, PickResultLike } from './pick-pipeline.js';

/** grpc-js's PickResultType.COMPLETE. */
const COMPLETE = 0;

class FloorAttempt implements PickResultLike {
  pickResultType = COMPLETE;
  subchannel: unknown = null;
  status = null;
  subset = 0;
  context: unknown = undefined;
  private startedAt = 0;
  readonly onCallStarted = (): void => {
    this.startedAt = performance.now();
  };
  readonly onCallEnded = (): void => {
    this.owner.answered(this.subset, performance.now() - this.startedAt);
    this.context = undefined;
    this.owner.pool.push(this);
  };

  constructor(private readonly owner: FloorPicker) {}
}

/** See the module comment. `order`: the subsets of one period, by index into `children`. */
export class FloorPicker implements PickerLike {
  readonly pool: FloorAttempt[] = [];
  readonly answers: Float64Array;
  readonly totalMs: Float64Array;
  private readonly order: Int32Array;
  private cursor = 0;

  constructor(
    private readonly children: readonly PickerLike[],
    order: readonly number[],
  ) {
    this.order = Int32Array.from(order);
    this.answers = new Float64Array(children.length);
    this.totalMs = new Float64Array(children.length);
  }

  pick(args: { metadata: grpc.Metadata; extraPickInfo: Record<string, string> }): PickResultLike {
    const context = (args.metadata.getOptions() as { [CALL_SLOT]?: unknown })[CALL_SLOT];
    const cursor = this.cursor;
    this.cursor = cursor + 1 === this.order.length ? 0 : cursor + 1;
    const subset = this.order[cursor]!;
    const result = this.children[subset]!.pick(args) as PickResultLike & { subchannel: unknown };
    const attempt = this.pool.pop() ?? new FloorAttempt(this);
    attempt.subchannel = result.subchannel;
    attempt.subset = subset;
    attempt.context = context;
    return attempt;
  }

  answered(subset: number, ms: number): void {
    this.answers[subset]!++;
    this.totalMs[subset]! += ms;
  }
}

/** One period of integer `weights` as a fixed order: each pass takes every subset with weight
 * left, so the subsets interleave. */
export function floorOrder(weights: readonly number[]): number[] {
  const order: number[] = [];
  const most = Math.max(...weights);
  for (let pass = 0; pass < most; pass++) weights.forEach((w, i) => w > pass && order.push(i));
  return order;
}
