/**
 * The operations work on the narrow `SplitHandle`, not on `TrafficSplit`: a plain object that
 * implements it (a test double here; a wrapper in an application) is rolled out, scraped and
 * fed by a weights file, with no TrafficSplit in the process's picture.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SplitHandle, SplitStats, StatsMark, SubsetStats, TrafficSplitEvents } from '../src/index.js';
import { renderPrometheusMetrics, startRollout, watchWeightsFile } from '../src/ops/index.js';
import { FakeClock } from './helpers/fake-clock.js';

/** A split double: weights in a record, and every subset finishing `callsPerMark` OK calls
 * between two marks (what `stats({ since })` reports), with a 5 ms p99. */
class HandleDouble extends EventEmitter<TrafficSplitEvents> implements SplitHandle {
  readonly target = 'traffic-split:///double-1';
  readonly closed = false;
  readonly subsets: readonly string[];
  private weights: Record<string, number>;
  marks = 0;

  constructor(
    readonly name: string,
    weights: Record<string, number>,
    private readonly callsPerMark: number,
  ) {
    super();
    this.subsets = Object.keys(weights);
    this.weights = { ...weights };
  }

  setWeights(weights: Record<string, number>): void {
    const previous = this.weights;
    this.weights = { ...weights };
    this.emit('weights', { weights: { ...this.weights }, previous });
  }

  getWeights(): Record<string, number> {
    return { ...this.weights };
  }

  /** No shadow traffic here: a rollout without a shadow phase never sets a mirror. */
  setMirror(): void {
    throw new Error('the double has no mirror');
  }

  getMirror(): null {
    return null;
  }

  /** No method overrides here: a rollout without `methods` never sets one. */
  setMethodWeights(): void {
    throw new Error('the double has no method weights');
  }

  getMethodWeights(): Record<string, Record<string, number>> {
    return {};
  }

  /** No calls here: the feed never calls its listener. */
  onCallEnded(): () => void {
    return () => {};
  }

  mark(): StatsMark {
    this.marks++;
    // Opaque to the operations: they only hand it back to stats().
    return { at: this.marks } as unknown as StatsMark;
  }

  stats(options: { since?: StatsMark } = {}): SplitStats {
    const calls = options.since === undefined ? 0 : this.callsPerMark;
    const subset = (weight: number): SubsetStats =>
      ({
        weight,
        target: 'dns:///127.0.0.1:1',
        state: 'READY',
        channels: { READY: 1 },
        endpoints: 1,
        started: calls,
        finished: calls,
        inFlight: 0,
        codes: calls === 0 ? {} : { OK: calls },
        latencyMs: { p50: calls === 0 ? null : 1, p90: calls === 0 ? null : 2, p99: calls === 0 ? null : 5 },
      }) as SubsetStats;
    const subsets = Object.fromEntries(this.subsets.map((name) => [name, subset(this.weights[name]!)]));
    return {
      name: this.name,
      target: this.target,
      closed: false,
      periodMs: 1,
      weights: this.getWeights(),
      methodWeights: {},
      channels: 1,
      notStarted: {},
      subsets,
      mirror: null,
    } as SplitStats;
  }
}

describe('operations on a plain SplitHandle', () => {
  it('rolls a subset out step by step on the fake clock, and the metrics text shows the step', async () => {
    const handle = new HandleDouble('double', { v1: 1, v2: 0 }, 20);
    const clock = new FakeClock();
    const rollout = startRollout(handle, {
      subset: 'v2',
      steps: [25, 100],
      intervalMs: 1_000,
      analysis: { maxErrorRate: 0.05, minCalls: 10 },
      clock,
    });
    assert.deepEqual(handle.getWeights(), { v1: 75, v2: 25 });
    const text = renderPrometheusMetrics(handle);
    assert.match(text, /^traffic_split_rollout_percent\{split="double",subset="v2"\} 25$/m);
    assert.match(text, /^traffic_split_weight\{split="double",subset="v1"\} 75$/m);
    clock.advance(1_000);
    // Without a judge a step is concluded within the timer's callback: the next one is due.
    assert.deepEqual([handle.getWeights(), clock.pending], [{ v1: 0, v2: 100 }, [1_000]]);
    clock.advance(1_000);
    const result = await rollout.done;
    assert.equal(result.outcome, 'promoted', JSON.stringify(result));
    assert.deepEqual(handle.getWeights(), { v1: 0, v2: 100 });
    assert.deepEqual(
      result.history.map((step) => [step.percent, step.verdict, step.figures.calls]),
      [
        [25, 'pass', 20],
        [100, 'pass', 20],
      ],
    );
    assert.doesNotMatch(renderPrometheusMetrics(handle), /traffic_split_rollout_percent\{/);
  });

  it('a weights file sets the weights of a plain handle', { timeout: 60_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gts-handle-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'weights.json');
    writeFileSync(file, JSON.stringify({ v1: 30, v2: 70 }));
    const handle = new HandleDouble('file-double', { v1: 1, v2: 0 }, 0);
    const applied = new Promise((resolve) => handle.once('weights', resolve));
    const watcher = watchWeightsFile(handle, file);
    t.after(() => watcher.close());
    await applied;
    assert.deepEqual(handle.getWeights(), { v1: 30, v2: 70 });
  });
});
