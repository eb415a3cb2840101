/**
 * The mirror's operator surfaces under hostile or careless use: `PUT /mirror` with bodies built
 * to break a parser or a validator, and a rollout's shadow phase while the operator changes
 * weights, pauses, resumes and aborts it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startAdminServer, startRollout, type RolloutOptions } from '../src/ops/index.js';
import { callEcho, type EchoRequest } from './helpers/echo-service.js';
import { FakeClock } from './helpers/fake-clock.js';
import { mirrorRig, type Answer } from './helpers/mirror-rig.js';
import { eventually } from './helpers/split-helpers.js';
import type { TrafficSplit } from '../src/index.js';

const TOKEN = 'test-token-0123456789abcdef';

async function put(url: string, body: string, token: string | null = TOKEN) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const response = await fetch(url, { method: 'PUT', headers, body, signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) as { error?: string; code?: string } };
}

const SHADOW_MS = 1_000;
const withShadow = (clock: FakeClock): RolloutOptions => ({
  subset: 'v2',
  steps: [10, 50],
  intervalMs: 500,
  analysis: { maxErrorRate: 0.01, minCalls: 1 },
  shadow: { percent: 50, intervalMs: SHADOW_MS, minCalls: 4 },
  clock,
});

async function traffic(
  split: TrafficSplit,
  client: Parameters<typeof callEcho>[0],
  calls: number,
  from = 0,
): Promise<void> {
  for (let i = from; i < from + calls; i++)
    assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
  await eventually(
    () => split.stats().mirror!.inFlight === 0 && split.stats().mirror!.completed === split.stats().mirror!.sent,
    () => JSON.stringify(split.stats().mirror),
  );
}

describe('the mirror on hostile operator surfaces', () => {
  it('PUT /mirror rejects hostile bodies with a 400 naming the field, and leaves the mirror in force', async (t) => {
    const { split } = await mirrorRig(t);
    const server = await startAdminServer(split, { port: 0, token: TOKEN });
    t.after(() => server.close());
    const url = `${server.url}/mirror`;
    split.setMirror({ subset: 'v2', percent: 5 });
    const before = split.getMirror();
    const deep = `{"subset":"v2","percent":5,"methods":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const cases: [string, string, number][] = [
      // Too deep for JSON.stringify: the message still names the field (the value by its type).
      [
        deep,
        'mirror.methods[0]: expected a full method name such as "/pkg.Service/Method", got `[object Array]` (array)',
        400,
      ],
      [
        '{"subset":"v2","percent":1e309}',
        'mirror.percent: expected a finite number from 0 to 100, got `Infinity` (number)',
        400,
      ],
      [
        '{"subset":"v2","percent":5,"maxInFlight":1e300}',
        'mirror.maxInFlight: expected an integer from 1 to 1000000, got `1e+300` (number)',
        400,
      ],
      [
        '{"subset":"v2","percent":5,"__proto__":{"subset":"v1"}}',
        'mirror.__proto__: unknown option (known: subset, percent, compare, maxInFlight, timeoutMs, ' +
          'methods, keepBodies, maxSamples, maxBufferedBytes, noise), got `{"subset":"v1"}` (object)',
        400,
      ],
      [
        '{"subset":"v2","percent":5,"compare":"function"}',
        'mirror.compare: expected a boolean or a function (primary, ' +
          'mirror) => boolean | string, got `"function"` (string)',
        400,
      ],
      [
        '{"subset":{"toString":"v2"},"percent":5}',
        'mirror.subset: expected one of the subsets v1, v2, got `{"toString":"v2"}` (object)',
        400,
      ],
      [
        '{"subset":"v2","percent":5,"methods":["/a/b",7]}',
        'mirror.methods[1]: expected a full method name such as "/pkg.Service/Method", got `7` (number)',
        400,
      ],
      [
        '[{"subset":"v2","percent":5}]',
        'mirror: expected an object with "subset" and "percent", or null, got `[{"subset":"v2","percent":5}]` (array)',
        400,
      ],
      ['"null"', 'mirror: expected an object with "subset" and "percent", or null, got `"null"` (string)', 400],
    ];
    for (const [body, error, status] of cases) {
      const answer = await put(url, body);
      assert.deepEqual([answer.status, answer.json.error], [status, error], body.slice(0, 60));
      assert.equal(split.getMirror(), before, 'unchanged');
    }
    // No token, a wrong token: refused before the body is looked at.
    assert.equal((await put(url, 'null', null)).status, 401);
    assert.equal((await put(url, deep, null)).status, 401);
    assert.equal((await put(url, 'null', 'x'.repeat(10_000))).status, 403);
    assert.equal(split.getMirror(), before);
    assert.equal(({} as Record<string, unknown>)['subset'], undefined, 'no prototype was touched');
  });

  it('shadow phase: an operator weight change aborts it, the weights stay, the previous mirror comes back', async (t) => {
    const { split, client } = await mirrorRig(t);
    split.setMirror({ subset: 'v1', percent: 3 });
    const clock = new FakeClock();
    const rollout = startRollout(split, withShadow(clock));
    await traffic(split, client, 6);
    split.setWeights({ v1: 95, v2: 5 });
    const result = await rollout.done;
    assert.deepEqual(
      [result.outcome, result.reason],
      ['aborted', 'weights changed outside the rollout to {"v1":95,"v2":5}; they stay in force'],
    );
    assert.deepEqual(split.getWeights(), { v1: 95, v2: 5 });
    assert.deepEqual([split.getMirror()!.subset, split.getMirror()!.percent], ['v1', 3]);
    assert.deepEqual(clock.pending, []);
  });

  it('shadow phase paused and resumed: judged on the copies of the fresh window only, like a step', async (t) => {
    // v2 differs on every call before the pause ends, and answers like v1 after it.
    let differs = true;
    const { split, client } = await mirrorRig(t, (request: EchoRequest): Answer => ({
      reply: { text: differs ? 'changed' : request.text },
    }));
    const clock = new FakeClock();
    const rollout = startRollout(split, withShadow(clock));
    await traffic(split, client, 8);
    rollout.pause();
    clock.advance(SHADOW_MS * 3);
    assert.equal(rollout.state, 'paused');
    assert.equal(rollout.toJSON().phase, 'shadow');
    differs = false;
    rollout.resume();
    await traffic(split, client, 8, 100);
    clock.advance(SHADOW_MS);
    await eventually(
      () => rollout.toJSON().shadow !== null || rollout.state === 'done',
      () => JSON.stringify(rollout.toJSON()),
    );
    const shadow = rollout.toJSON().shadow!;
    t.diagnostic(`after resume: ${shadow.verdict}: ${shadow.reason}`);
    assert.deepEqual([shadow.figures.copies, shadow.figures.mismatched, shadow.verdict], [4, 0, 'pass']);
    await rollout.abort('test done');
  });

  it('shadow phase aborted: the copies stop, the previous mirror (none) is back, the weights untouched', async (t) => {
    const { split, client, v2 } = await mirrorRig(t);
    const clock = new FakeClock();
    const rollout = startRollout(split, withShadow(clock));
    await traffic(split, client, 10);
    const result = await rollout.abort();
    assert.deepEqual([result.outcome, split.getMirror(), split.getWeights()], ['aborted', null, { v1: 100, v2: 0 }]);
    const copies = v2.received.length;
    assert.equal(copies, 5);
    await traffic(split, client, 10, 50);
    assert.equal(v2.received.length, copies, 'no copy after the abort');
    assert.equal(split.stats().subsets['v2']!.started, 0);
  });
});
