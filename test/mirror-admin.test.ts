import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startAdminServer } from '../src/ops/index.js';
import { callEcho } from './helpers/echo-service.js';
import { mirrorRig } from './helpers/mirror-rig.js';
import { eventually } from './helpers/split-helpers.js';
import { parsePrometheusText } from './helpers/prometheus-parser.js';

const TOKEN = 'test-token-0123456789abcdef';

async function ask(
  url: string,
  method: string,
  { token = TOKEN as string | null, body }: { token?: string | null; body?: string } = {},
) {
  const headers: Record<string, string> = {};
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  return {
    status: response.status,
    text,
    json: response.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : undefined,
  };
}

describe('mirror on the admin endpoint and in the metrics', () => {
  it('PUT /mirror needs the token, validates like setMirror(), and GET /mirror shows it', async (t) => {
    const { split, client, v2 } = await mirrorRig(t);
    const server = await startAdminServer(split, { port: 0, token: TOKEN });
    t.after(() => server.close());
    const url = `${server.url}/mirror`;
    assert.deepEqual(await ask(url, 'GET', { token: null }).then((a) => [a.status, a.json]), [200, { mirror: null }]);
    const body = JSON.stringify({ subset: 'v2', percent: 50, compare: true });
    assert.equal((await ask(url, 'PUT', { token: null, body })).status, 401);
    assert.equal((await ask(url, 'PUT', { token: `${TOKEN}x`, body })).status, 403);
    const bad = await ask(url, 'PUT', { body: JSON.stringify({ subset: 'v2', percent: '50' }) });
    assert.deepEqual(
      [bad.status, bad.json],
      [
        400,
        {
          error: 'mirror.percent: expected a finite number from 0 to 100, got `"50"` (string)',
          code: 'ERR_SPLIT_INVALID_CONFIG',
        },
      ],
    );
    assert.equal(split.getMirror(), null);
    const put = await ask(url, 'PUT', { body });
    const settings = {
      subset: 'v2',
      percent: 50,
      compare: true,
      maxInFlight: 100,
      timeoutMs: null,
      methods: null,
      keepBodies: false,
      maxSamples: 20,
      maxBufferedBytes: 16 * 1024 * 1024,
    };
    assert.deepEqual([put.status, put.json], [200, { mirror: settings, previous: null }]);
    assert.deepEqual((await ask(url, 'GET')).json, { mirror: settings });
    for (let i = 0; i < 10; i++) await callEcho(client, { text: `req-${i}` });
    await eventually(
      () => split.stats().mirror!.completed === 5,
      () => JSON.stringify(split.stats().mirror),
    );
    assert.equal(v2.received.length, 5);

    // The same counters in the Prometheus text.
    const metrics = parsePrometheusText((await ask(`${server.url}/metrics`, 'GET')).text);
    const copies = (outcome: string) =>
      metrics.get('traffic_split_mirror_copies_total')!.samples.find((m) => m.labels['outcome'] === outcome)?.value;
    assert.deepEqual(
      ['sent', 'completed', 'dropped', 'failed', 'matched', 'mismatched'].map(copies),
      [5, 5, 0, 0, 5, 0],
    );
    assert.deepEqual(metrics.get('traffic_split_mirror_percent')!.samples, [
      { name: 'traffic_split_mirror_percent', labels: { split: 'split', subset: 'v2' }, value: 50 },
    ]);

    const off = await ask(url, 'PUT', { body: 'null' });
    assert.deepEqual([off.status, off.json], [200, { mirror: null, previous: settings }]);
    assert.equal(split.getMirror(), null);
  });

  it('POST /rollout with a shadow phase sets the mirror, and DELETE /rollout puts the previous one back', async (t) => {
    const { split } = await mirrorRig(t);
    const server = await startAdminServer(split, { port: 0, token: TOKEN });
    t.after(() => server.close());
    split.setMirror({ subset: 'v1', percent: 5 });
    const body = JSON.stringify({
      subset: 'v2',
      steps: [10],
      intervalMs: 600_000,
      analysis: { maxErrorRate: 0.01 },
      shadow: { percent: 25, minCalls: 10 },
    });
    const started = await ask(`${server.url}/rollout`, 'POST', { body });
    assert.deepEqual([started.status, started.json.phase, started.json.shadow], [202, 'shadow', null]);
    assert.deepEqual(
      [split.getMirror()!.subset, split.getMirror()!.percent, split.getMirror()!.compare],
      ['v2', 25, true],
    );
    assert.deepEqual(split.getWeights(), { v1: 100, v2: 0 });
    const bad = await ask(`${server.url}/rollout`, 'POST', {
      body: JSON.stringify({ ...JSON.parse(body), shadow: { percent: 25, compare: false } }),
    });
    assert.equal(bad.status, 400);
    const aborted = await ask(`${server.url}/rollout`, 'DELETE');
    assert.deepEqual([aborted.status, aborted.json.outcome], [200, 'aborted']);
    assert.deepEqual([split.getMirror()!.subset, split.getMirror()!.percent], ['v1', 5]);
  });
});
