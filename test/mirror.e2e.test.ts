import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callEcho, type EchoRequest } from './helpers/echo-service.js';
import { mirrorRig, type Answer } from './helpers/mirror-rig.js';
import { eventually } from './helpers/split-helpers.js';
import type { TrafficSplit } from '../src/index.js';

/** v2 answers differently when the request's number is a multiple of 7. */
const differsOn = (request: EchoRequest): boolean => Number(request.text?.slice(4)) % 7 === 0;
const v2Differs = (request: EchoRequest): Answer => ({ reply: { text: differsOn(request) ? `${request.text}!` : request.text } });

/** Resolves once every copy the split sent is accounted for. */
async function copiesSettled(split: TrafficSplit, timeoutMs = 10_000): Promise<void> {
  await eventually(
    () => {
      const mirror = split.stats().mirror!;
      return mirror.inFlight === 0 && mirror.completed === mirror.sent;
    },
    () => JSON.stringify(split.stats().mirror),
    timeoutMs,
  );
}

describe('shadow traffic (mirror)', () => {
  it('copies exactly 10% of 1,000 calls to v2, compares them, and the client sees only v1', async (t) => {
    const { split, client, v1, v2 } = await mirrorRig(t, v2Differs);
    split.setMirror({ subset: 'v2', percent: 10, compare: true });
    for (let i = 0; i < 1000; i++) {
      const reply = await callEcho(client, { text: `req-${i}` });
      assert.deepEqual(reply, { text: `req-${i}` }, `call ${i} answered by v1`);
    }
    await copiesSettled(split);
    const copied = v2.received.map((request) => Number(request.text!.slice(4))).sort((a, b) => a - b);
    assert.ok(Math.abs(copied.length - 100) <= 1, `${copied.length} copies`);
    assert.equal(new Set(copied).size, copied.length, 'each call copied at most once');
    for (let start = 0; start + 100 <= 1000; start++) {
      const inWindow = copied.filter((i) => i >= start && i < start + 100).length;
      assert.ok(Math.abs(inWindow - 10) <= 1, `window ${start}..${start + 99}: ${inWindow} copies`);
    }
    const differing = copied.filter((i) => i % 7 === 0).length;
    const mirror = split.stats().mirror!;
    assert.deepEqual(
      { sent: mirror.sent, completed: mirror.completed, failed: mirror.failed, dropped: mirror.dropped, matched: mirror.matched, mismatched: mirror.mismatched },
      { sent: copied.length, completed: copied.length, failed: 0, dropped: 0, matched: copied.length - differing, mismatched: differing },
    );
    assert.equal(v1.received.length, 1000);
    // Copies are not in the subsets' regular figures.
    const stats = split.stats();
    assert.equal(stats.subsets['v1']!.started, 1000);
    assert.equal(stats.subsets['v2']!.started, 0);
    assert.equal(stats.subsets['v2']!.finished, 0);
    assert.ok(mirror.latencyMs.p50 !== null && mirror.primaryLatencyMs.p50 !== null);
    assert.equal(mirror.samples.length, Math.min(20, differing));
    const sample = mirror.samples.at(-1)!;
    assert.equal(sample.method, '/test.Echo/Echo');
    assert.match(sample.reason, /^response differs \(\d+ vs \d+ bytes\)$/);
    assert.equal(sample.primary.bytes! + 1, sample.mirror.bytes);
    assert.match(sample.primary.sha256!, /^[0-9a-f]{64}$/);
    assert.equal(sample.primary.response, undefined, 'no bodies without keepBodies');
    t.diagnostic(`copies ${copied.length}, mismatched ${differing}, mirror p50 ${mirror.latencyMs.p50} ms, primary p50 ${mirror.primaryLatencyMs.p50} ms`);
  });
});
