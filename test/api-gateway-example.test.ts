import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGatewayApp } from '../examples/api-gateway/app.js';
import { runRolloutDemo } from '../examples/api-gateway/rollout-demo.js';

describe('the api-gateway example', () => {
  it('forwards x-user-id as gRPC metadata, which the split routes by', async (t) => {
    const app = await startGatewayApp({ token: 'example-token-0123456789' });
    t.after(() => app.close());
    const report = async (user: string) => {
      const response = await fetch(`${app.gateway.url}/report`, { headers: { 'x-user-id': user }, signal: AbortSignal.timeout(5_000) });
      return [response.status, await response.json()];
    };
    assert.deepEqual(await report('alice'), [200, { version: 'v1', user: 'alice' }]);
    assert.deepEqual(await report('not a user id'), [400, { error: 'x-user-id: expected 1 to 128 of A-Z a-z 0-9 _ . -' }]);
    const change = await fetch(`${app.admin.url}/runtime_modify?routing.traffic_split.v2=100`, { method: 'POST', headers: { authorization: 'Bearer example-token-0123456789' } });
    assert.equal(change.status, 200);
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    for (const user of users) assert.deepEqual(await report(user), [200, { version: app.split.subsetFor(user), user }]);
    assert.ok(users.some((user) => app.split.subsetFor(user) === 'v2') && users.some((user) => app.split.subsetFor(user) === 'v1'));
  });

  it('runs the scripted rollout end to end: v2 promoted, no user moved back, no request failed', async () => {
    const lines: string[] = [];
    // A slow machine serves fewer calls per interval: a step waits (up to 30 s) for its calls
    // rather than failing for lack of them.
    const { result, traffic } = await runRolloutDemo({ steps: [10, 50], intervalMs: 150, minCalls: 5, maxWaitIntervals: 200, log: (line) => lines.push(line) });
    assert.equal(result.outcome, 'promoted', lines.join('\n'));
    assert.deepEqual(result.history.map((step) => step.verdict), ['pass', 'pass']);
    assert.deepEqual(result.weights, { v1: 0, v2: 100 });
    assert.equal(traffic.failed, 0);
    assert.equal(traffic.movedBack.size, 0);
    assert.ok(traffic.byVersion['v2']! > 0, JSON.stringify(traffic.byVersion));
    assert.deepEqual(lines.map((line) => line.trim()).filter((line) => /^(step|promoted|weights now)/.test(line)), [
      'step 1: weights v1 90 / v2 10',
      'step 2: weights v1 50 / v2 50',
      'promoted: all 2 steps passed',
      'weights now v1 0 / v2 100',
    ]);
  });

  it('rolls a broken v2 back after its first step', async () => {
    const lines: string[] = [];
    const { result, traffic } = await runRolloutDemo({ brokenV2: true, steps: [10, 50], intervalMs: 150, minCalls: 5, log: (line) => lines.push(line) });
    assert.equal(result.outcome, 'rolled-back', lines.join('\n'));
    assert.equal(result.history.length, 1);
    // Judged at the end of the interval, or earlier if its failures alone already exceed the
    // budget of minCalls calls.
    assert.match(result.reason, /^step 1 \(10%\): (error rate 100% \(\d+ of \d+ calls\) > 1%|error rate over budget before minCalls: (\d+) of \2 calls failed, more than 1% of 5 calls allows)$/);
    assert.deepEqual(result.weights, { v1: 100, v2: 0 });
    assert.equal(traffic.byVersion['v2'], undefined);
    assert.ok(traffic.failedUsers.size > 0 && traffic.failedUsers.size < traffic.users, `${traffic.failedUsers.size} users saw errors`);
  });
});
