import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { MIN_WEIGHT, parseConfig, TrafficSplit } from '../src/index.js';
import { startAdminServer, watchWeightsFile } from '../src/ops/index.js';
import { WeightedSchedule } from '../src/algorithms/schedule/scheduler.js';

const subsets = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' };
const DENORMAL = { v1: 1e-320, v2: 3e-320 };
const REFUSED =
  'weights.v1: expected 0 or a number from 0.000001 (the ' +
  'smallest positive weight) to 1000000000, got `1e-320` (number)';

function offlineSplit(t: TestContext): TrafficSplit {
  const split = new TrafficSplit({ subsets, weights: { v1: 1, v2: 3 } });
  t.after(() => split.close());
  return split;
}

describe('minimum weight', () => {
  it('is refused by the constructor and the service config, naming the field and the smallest weight', () => {
    assert.equal(MIN_WEIGHT, 1e-6);
    assert.throws(() => new TrafficSplit({ subsets, weights: DENORMAL }), {
      name: 'TrafficSplitRangeError',
      code: 'ERR_SPLIT_INVALID_CONFIG',
      message: REFUSED,
    });
    assert.throws(() => parseConfig({ subsets, weights: { v1: 1, v2: 5e-7 } }), {
      message:
        'traffic_split: weights.v2: expected 0 or a number from 0.000001 ' +
        '(the smallest positive weight) to 1000000000, got `5e-7` (number)',
    });
  });

  it('is refused by setWeights, which keeps the weights in force', (t) => {
    const split = offlineSplit(t);
    assert.throws(() => split.setWeights(DENORMAL), { name: 'TrafficSplitRangeError', message: REFUSED });
    assert.throws(() => split.setWeights({ v1: 1e-304, v2: 1 }), {
      name: 'TrafficSplitRangeError',
      message: /^weights\.v1: expected 0 or a number from 0\.000001/,
    });
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 3 });
  });

  it('is refused by the admin endpoint (400, nothing changed)', async (t) => {
    const split = offlineSplit(t);
    const token = 'test-token-0123456789abcdef';
    const admin = await startAdminServer(split, { port: 0, token });
    t.after(() => admin.close());
    const headers = { authorization: `Bearer ${token}` };
    const put = await fetch(`${admin.url}/weights`, {
      method: 'PUT',
      headers,
      body: JSON.stringify(DENORMAL),
      signal: AbortSignal.timeout(10_000),
    });
    assert.deepEqual([put.status, await put.json()], [400, { error: REFUSED, code: 'ERR_SPLIT_INVALID_CONFIG' }]);
    const runtime = await fetch(`${admin.url}/runtime_modify?routing.traffic_split.v2=1e-320`, {
      method: 'POST',
      headers,
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(runtime.status, 400);
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 3 });
  });

  it('is refused in a weights file (ready rejects, the error names the file and the field)', async (t) => {
    const split = offlineSplit(t);
    const dir = mkdtempSync(join(tmpdir(), 'min-weight-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'weights.json');
    writeFileSync(path, JSON.stringify(DENORMAL));
    const watcher = watchWeightsFile(split, path, { pollIntervalMs: 0, onError: () => {} });
    t.after(() => watcher.close());
    await assert.rejects(watcher.ready, { name: 'TrafficSplitRangeError', message: `${path}: ${REFUSED}` });
    assert.deepEqual(split.getWeights(), { v1: 1, v2: 3 });
  });

  it('schedules the smallest accepted weights exactly: v2 gets 300 of 400 at 1e-6 : 3e-6', () => {
    const schedule = new WeightedSchedule([MIN_WEIGHT, 3 * MIN_WEIGHT]);
    const counts = [0, 0];
    for (let i = 0; i < 400; i++) counts[schedule.next()]!++;
    assert.deepEqual(counts, [100, 300]);
    // The widest ratio accepted (1e15): the small subset's count stays within one pick of its
    // share (1e-10 of 100,000 picks), as everywhere: 0 or 1 picks, never more.
    const extreme = new WeightedSchedule([MIN_WEIGHT, 1e9]);
    const picks = [0, 0];
    for (let i = 0; i < 100_000; i++) picks[extreme.next()]!++;
    assert.ok(picks[0] === 0 || picks[0] === 1, `small subset got ${picks[0]} picks`);
    assert.equal(picks[0]! + picks[1]!, 100_000);
  });
});
