import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { activeRollout, startAdminServer, type AdminServer, type AdminServerOptions } from '../src/ops/index.js';
import { callEcho } from './helpers/echo-service.js';
import { parsePrometheusText } from './helpers/prometheus-parser.js';
import { renderFamilies } from '../src/ops/telemetry/prometheus-text.js';
import { rig, type Rig } from './helpers/rig.js';
import { serversOf } from './helpers/rollout-rig.js';

const TOKEN = 'test-token-0123456789abcdef';

interface Answer {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

async function admin(t: TestContext, r: Rig, options: Partial<AdminServerOptions> = {}): Promise<AdminServer> {
  const server = await startAdminServer(r.split, { port: 0, token: TOKEN, ...options });
  t.after(() => server.close());
  return server;
}

async function ask(
  server: AdminServer,
  method: string,
  path: string,
  { token = TOKEN as string | null, body }: { token?: string | null; body?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  const json = response.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : undefined;
  return { status: response.status, headers: response.headers, json, text };
}

describe('admin endpoint', () => {
  it('serves the weights to anyone on loopback, and changes them only with the token', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r);
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const read = await ask(server, 'GET', '/weights', { token: null });
    assert.deepEqual(
      [read.status, read.json, read.headers.get('content-type')],
      [200, { v1: 1, v2: 0 }, 'application/json; charset=utf-8'],
    );

    const body = JSON.stringify({ v1: 0, v2: 1 });
    const missing = await ask(server, 'PUT', '/weights', { token: null, body });
    assert.deepEqual(
      [missing.status, missing.json],
      [401, { error: 'authorization required: send "Authorization: Bearer <token>"', code: 'ERR_ADMIN_UNAUTHORIZED' }],
    );
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="traffic-split"');
    const wrong = await ask(server, 'PUT', '/weights', { token: `${TOKEN}x`, body });
    assert.deepEqual([wrong.status, wrong.json], [403, { error: 'wrong token', code: 'ERR_ADMIN_FORBIDDEN' }]);
    const wrongRuntime = await ask(server, 'POST', '/runtime_modify?routing.traffic_split.v2=1', { token: 'short' });
    assert.equal(wrongRuntime.status, 403);
    assert.deepEqual(r.split.getWeights(), { v1: 1, v2: 0 });
    assert.deepEqual(await serversOf(r.client, 5), Array(5).fill('v1'));
  });

  it('PUT /weights changes the routing of the next call', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r);
    assert.equal((await callEcho(r.client)).server, 'v1');
    const put = await ask(server, 'PUT', '/weights', { body: JSON.stringify({ v1: 0, v2: 1 }) });
    assert.deepEqual([put.status, put.json], [200, { weights: { v1: 0, v2: 1 }, previous: { v1: 1, v2: 0 } }]);
    assert.equal((await callEcho(r.client)).server, 'v2');
  });

  it('POST /runtime_modify changes the named subsets, Envoy style, for the next call', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r);
    const both = await ask(server, 'POST', '/runtime_modify?routing.traffic_split.v1=0&routing.traffic_split.v2=100');
    assert.deepEqual([both.status, both.json], [200, { weights: { v1: 0, v2: 100 }, previous: { v1: 1, v2: 0 } }]);
    assert.equal((await callEcho(r.client)).server, 'v2');
    const one = await ask(server, 'POST', '/runtime_modify?routing.traffic_split.v1=300');
    assert.deepEqual(one.json.weights, { v1: 300, v2: 100 }, 'v2 not named keeps its weight');
    // 300/100 over 40 calls: 10 +- 1 to v2 (the schedule's order within that bound is random).
    const v2Calls = (await serversOf(r.client, 40)).filter((name) => name === 'v2').length;
    assert.ok(Math.abs(v2Calls - 10) <= 1, `${v2Calls} of 40 calls to v2`);
  });

  it('uses the configured runtime prefix', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r, { prefix: 'upstream.reporter' });
    const answer = await ask(server, 'POST', '/runtime_modify?upstream.reporter.v2=1&upstream.reporter.v1=0');
    assert.deepEqual(answer.json.weights, { v1: 0, v2: 1 });
    assert.equal((await callEcho(r.client)).server, 'v2');
  });

  const badBodies: [string, string, string, string][] = [
    ['not-json', 'PUT', '/weights', '{"v1": 1,'],
    ['array', 'PUT', '/weights', '[1, 2]'],
    ['unknown-subset', 'PUT', '/weights', '{"v1": 1, "v2": 0, "v3": 5}'],
    ['missing-subset', 'PUT', '/weights', '{"v1": 1}'],
    ['negative', 'PUT', '/weights', '{"v1": 1, "v2": -1}'],
    ['string-weight', 'PUT', '/weights', '{"v1": 1, "v2": "10"}'],
    ['all-zero', 'PUT', '/weights', '{"v1": 0, "v2": 0}'],
    [
      'rollout-bad-steps',
      'POST',
      '/rollout',
      '{"subset": "v2", "steps": [50, 10], "intervalMs": 100, "analysis": {"maxErrorRate": 0.1}}',
    ],
    [
      'rollout-unknown-subset',
      'POST',
      '/rollout',
      '{"subset": "v3", "steps": [50], "intervalMs": 100, "analysis": {"maxErrorRate": 0.1}}',
    ],
  ];
  const badBodyMessages: Record<string, RegExp | string> = {
    'not-json': /^body: expected JSON \(.+\), got `"\{\\"v1\\": 1,"` \(string\)$/,
    array: 'weights: expected an object mapping every subset to a weight, got `[1,2]` (array)',
    'unknown-subset': 'weights.v3: unknown subset (subsets: v1, v2), got `5` (number)',
    'missing-subset': 'weights.v2: missing; every subset needs a weight (0 sends it no calls)',
    negative: 'weights.v2: expected a finite number from 0 to 1000000000, got `-1` (number)',
    'string-weight': 'weights.v2: expected a finite number from 0 to 1000000000, got `"10"` (string)',
    'all-zero': 'weights: expected at least one weight > 0, got `{"v1":0,"v2":0}` (object)',
    'rollout-bad-steps': 'steps[1]: expected a percentage above the previous step (50), got `10` (number)',
    'rollout-unknown-subset': 'subset: expected one of the subsets v1, v2, got `"v3"` (string)',
  };
  const badQueries: [string, string, string][] = [
    [
      'no-parameter',
      '',
      'query: expected at least one parameter such as routing.traffic_split.v1=<weight>, got `""` (string)',
    ],
    [
      'unknown-key',
      '?routing.traffic_split.v2=5&routing.other.v1=0',
      'routing.other.v1: unknown runtime key (keys: ' +
        'routing.traffic_split.v1, routing.traffic_split.v2), got `"0"` (string)',
    ],
    [
      'unknown-subset',
      '?routing.traffic_split.v3=5',
      'routing.traffic_split.v3: unknown runtime key (keys: ' +
        'routing.traffic_split.v1, routing.traffic_split.v2), got `"5"` (string)',
    ],
    [
      'not-a-number',
      '?routing.traffic_split.v2=5&routing.traffic_split.v1=ten',
      'routing.traffic_split.v1: expected a decimal weight from 0 to 1000000000, such as 30, got `"ten"` (string)',
    ],
    [
      'negative',
      '?routing.traffic_split.v2=-5',
      'routing.traffic_split.v2: expected a decimal weight from 0 to 1000000000, such as 30, got `"-5"` (string)',
    ],
    [
      'too-large',
      '?routing.traffic_split.v2=2000000000',
      'routing.traffic_split.v2: expected a decimal weight from ' +
        '0 to 1000000000, such as 30, got `"2000000000"` (string)',
    ],
    [
      'twice',
      '?routing.traffic_split.v2=5&routing.traffic_split.v2=6',
      'routing.traffic_split.v2: expected one value (the key appears twice), got `"6"` (string)',
    ],
    [
      'all-zero',
      '?routing.traffic_split.v1=0',
      'weights: expected at least one weight > 0, got `{"v1":0,"v2":0}` (object)',
    ],
  ];

  it('answers 400 with the validation message to each bad body or query, and changes nothing', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r);
    for (const [name, method, path, body] of badBodies) {
      const answer = await ask(server, method, path, { body });
      assert.equal(answer.status, 400, name);
      const expected = badBodyMessages[name]!;
      if (typeof expected === 'string') assert.equal(answer.json.error, expected, name);
      else assert.match(answer.json.error, expected, name);
      assert.equal(answer.json.code, 'ERR_SPLIT_INVALID_CONFIG', name);
    }
    for (const [name, query, message] of badQueries) {
      const answer = await ask(server, 'POST', `/runtime_modify${query}`);
      assert.deepEqual([answer.status, answer.json.error], [400, message], name);
    }
    assert.deepEqual(r.split.getWeights(), { v1: 1, v2: 0 });
    assert.equal(activeRollout(r.split), undefined);
    assert.deepEqual(await serversOf(r.client, 5), Array(5).fill('v1'));
  });

  it('answers 404 to unknown paths, 405 with Allow to wrong methods, 413 to large bodies', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r, { maxBodyBytes: 100 });
    const unknown = await ask(server, 'GET', '/nope');
    assert.deepEqual(
      [unknown.status, unknown.json],
      [404, { error: 'no such path: /nope', code: 'ERR_ADMIN_NOT_FOUND' }],
    );
    const wrongMethod = await ask(server, 'DELETE', '/weights');
    assert.deepEqual([wrongMethod.status, wrongMethod.headers.get('allow')], [405, 'GET, PUT']);
    assert.deepEqual(wrongMethod.json, {
      error: 'DELETE is not allowed on /weights (allowed: GET, PUT)',
      code: 'ERR_ADMIN_METHOD_NOT_ALLOWED',
    });
    const runtimeGet = await ask(server, 'GET', '/runtime_modify?routing.traffic_split.v2=1');
    assert.deepEqual([runtimeGet.status, runtimeGet.headers.get('allow')], [405, 'POST']);
    const large = await ask(server, 'PUT', '/weights', {
      body: JSON.stringify({ v1: 1, v2: 0, pad: 'x'.repeat(200) }),
    });
    assert.deepEqual(
      [large.status, large.json],
      [413, { error: 'body larger than 100 bytes', code: 'ERR_ADMIN_BODY_TOO_LARGE' }],
    );
    // Without Content-Length (chunked), the limit holds while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${server.url}/weights`,
        { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.write('{"v1": 1, "v2": 0, "pad": "');
      req.write('x'.repeat(200));
      req.end('"}');
    });
    assert.equal(chunked, 413);
    assert.deepEqual(r.split.getWeights(), { v1: 1, v2: 0 });
  });

  it('protects reads too with protectReads', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r, { protectReads: true });
    assert.equal((await ask(server, 'GET', '/stats', { token: null })).status, 401);
    assert.equal((await ask(server, 'GET', '/metrics', { token: 'wrong-token-0123456789' })).status, 403);
    const stats = await ask(server, 'GET', '/stats');
    assert.deepEqual(
      [stats.status, stats.json.weights, stats.json.subsets.v1.state],
      [200, { v1: 1, v2: 0 }, 'READY'],
    );
  });

  it('is read-only without a token, and refuses a non-loopback host without one', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r, { token: undefined });
    assert.equal((await ask(server, 'GET', '/weights', { token: null })).status, 200);
    const write = await ask(server, 'PUT', '/weights', { token: null, body: '{"v1": 0, "v2": 1}' });
    assert.deepEqual(
      [write.status, write.json],
      [
        403,
        { error: 'writes are disabled: the admin endpoint was started without a token', code: 'ERR_ADMIN_FORBIDDEN' },
      ],
    );
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
      await assert.rejects(startAdminServer(r.split, { port: 0, host }), {
        name: 'TrafficSplitTypeError',
        message:
          `token: expected a token when host "${host}" is not a loopback ` +
          `address (the endpoint changes traffic), got undefined`,
      });
    }
    await assert.rejects(startAdminServer(r.split, { port: 0, token: 'short' }), {
      message:
        'token: expected 16 to 4096 visible ASCII characters (no spaces or line breaks), got a string of 5 characters',
    });
    await assert.rejects(startAdminServer(r.split, { port: 0, protectReads: true }), {
      message: 'token: expected a token when protectReads is true, got undefined',
    });
    await assert.rejects(startAdminServer(r.split, { port: 70_000 }), {
      name: 'TrafficSplitRangeError',
      message: 'port: expected an integer from 0 to 65535, got `70000` (number)',
    });
  });

  it('serves /metrics in the Prometheus text format', async (t) => {
    const r = await rig(t, { v1: 3, v2: 1 }, { name: 'metrics' });
    const server = await admin(t, r);
    // 8 calls at 3:1 are two whole periods: 6 and 2. The failure goes to v1 by an explicit route,
    // since the schedule's order within a period is random.
    for (let i = 0; i < 8; i++) await callEcho(r.client);
    await callEcho(
      r.client,
      { failWith: grpc.status.NOT_FOUND },
      new grpc.Metadata(),
      r.split.route({ subset: 'v1' }),
    ).catch(() => undefined);
    const answer = await ask(server, 'GET', '/metrics', { token: null });
    assert.equal(answer.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusText(answer.text);
    const value = (family: string, labels: Record<string, string>): number | undefined =>
      families.get(family)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    assert.deepEqual(
      [...families].map(([name, f]) => `${name}:${f.type}`),
      [
        'traffic_split_weight:gauge',
        'traffic_split_subset_state:gauge',
        'traffic_split_subset_channels:gauge',
        'traffic_split_subset_endpoints:gauge',
        'traffic_split_channels:gauge',
        'traffic_split_calls_started_total:counter',
        'traffic_split_calls_finished_total:counter',
        'traffic_split_calls_in_flight:gauge',
        'traffic_split_streams_open:gauge',
        'traffic_split_streams_rebalanced_total:counter',
        'traffic_split_calls_abandoned_total:counter',
        'traffic_split_calls_refused_total:counter',
        'traffic_split_latency_seconds:gauge',
        'traffic_split_calls_not_started_total:counter',
        'traffic_split_subset_calls_not_started_total:counter',
        'traffic_split_unary_latency_seconds:gauge',
        'traffic_split_streams_finished_total:counter',
        'traffic_split_streams_ended_after_first_message_total:counter',
        'traffic_split_streams_first_message_seconds:gauge',
        'traffic_split_streams_gap_seconds:gauge',
        'traffic_split_method_weight:gauge',
        'traffic_split_method_calls_started_total:counter',
        'traffic_split_method_calls_finished_total:counter',
        'traffic_split_method_calls_in_flight:gauge',
        'traffic_split_method_streams_open:gauge',
        'traffic_split_method_streams_rebalanced_total:counter',
        'traffic_split_method_calls_abandoned_total:counter',
        'traffic_split_method_calls_refused_total:counter',
        'traffic_split_method_latency_seconds:gauge',
        'traffic_split_method_unary_latency_seconds:gauge',
        'traffic_split_method_streams_finished_total:counter',
        'traffic_split_method_streams_ended_after_first_message_total:counter',
        'traffic_split_method_streams_first_message_seconds:gauge',
        'traffic_split_method_streams_gap_seconds:gauge',
        'traffic_split_method_calls_not_started_total:counter',
        'traffic_split_rollout_percent:gauge',
        'traffic_split_rollout_p_value:gauge',
        'traffic_split_rollout_effect:gauge',
        'traffic_split_mirror_copies_total:counter',
        'traffic_split_mirror_percent:gauge',
        'traffic_split_mirror_latency_seconds:gauge',
        'traffic_split_mirror_copies_in_flight:gauge',
        'traffic_split_mirror_dropped:gauge',
        'traffic_split_mirror_buffered_bytes:gauge',
        'traffic_split_mirror_not_compared:gauge',
        'traffic_split_mirror_compare_errors:gauge',
        'traffic_split_mirror_copies_ended:gauge',
        'traffic_split_mirror_noise_copies:gauge',
        'traffic_split_mirror_field_differences:gauge',
        'traffic_split_mirror_field_noise:gauge',
      ],
    );
    assert.equal(value('traffic_split_weight', { split: 'metrics', subset: 'v1' }), 3);
    assert.equal(value('traffic_split_subset_state', { subset: 'v2', state: 'READY' }), 1);
    assert.equal(value('traffic_split_subset_state', { subset: 'v2', state: 'IDLE' }), 0);
    assert.equal(value('traffic_split_calls_started_total', { subset: 'v1' }), 7);
    assert.equal(value('traffic_split_method_calls_started_total', { subset: 'v1', method: 'test.Echo/Echo' }), 7);
    assert.equal(value('traffic_split_calls_finished_total', { subset: 'v1', code: 'OK' }), 6);
    assert.equal(value('traffic_split_calls_finished_total', { subset: 'v1', code: 'NOT_FOUND' }), 1);
    assert.equal(value('traffic_split_calls_finished_total', { subset: 'v2', code: 'OK' }), 2);
    assert.equal(families.get('traffic_split_latency_seconds')!.samples.length, 6);
    assert.equal(families.get('traffic_split_rollout_percent')!.samples.length, 0);
  });

  it('escapes label values and HELP text so that a strict parser reads them back', () => {
    const odd = 'a "quoted" \\ back\nslash';
    const text = renderFamilies([
      {
        name: 'x_total',
        type: 'counter',
        help: 'line\nbreak \\ "q"',
        samples: [{ labels: { v: odd }, value: 1.5e-7 }],
      },
    ]);
    assert.equal(
      text,
      '# HELP x_total line\\nbreak \\\\ "q"\n# TYPE x_total ' +
        'counter\nx_total{v="a \\"quoted\\" \\\\ back\\nslash"} 1.5e-7\n',
    );
    const family = parsePrometheusText(text).get('x_total')!;
    assert.deepEqual(family.samples, [{ name: 'x_total', labels: { v: odd }, value: 1.5e-7 }]);
    for (const bad of [
      'x 1',
      '# TYPE x gauge\nx{a="b} 1\n',
      '# HELP x h\n# TYPE x gauge\nx{a="\\q"} 1\n',
      '# HELP x h\n# TYPE x gauge\nx one\n',
      '# HELP x h\n# TYPE x gauge\nx 1\nx 2\n',
    ]) {
      assert.throws(() => parsePrometheusText(bad), Error, JSON.stringify(bad));
    }
  });

  it('starts, reports, pauses, resumes and aborts a rollout, one at a time', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r);
    assert.equal((await ask(server, 'GET', '/rollout')).status, 404);
    const options = JSON.stringify({
      subset: 'v2',
      steps: [10, 50],
      intervalMs: 60_000,
      analysis: { maxErrorRate: 0.01, failureCodes: ['INTERNAL'] },
    });
    const unauthorised = await ask(server, 'POST', '/rollout', { token: null, body: options });
    assert.equal(unauthorised.status, 401);
    const started = await ask(server, 'POST', '/rollout', { body: options });
    assert.deepEqual(
      [started.status, started.headers.get('location'), started.json.state],
      [202, '/rollout', 'running'],
    );
    assert.deepEqual(started.json.plan, [
      { step: 0, percent: 10, weights: { v1: 90, v2: 10 } },
      { step: 1, percent: 50, weights: { v1: 50, v2: 50 } },
    ]);
    // At 90/10 now: the call is served (by either subset; the schedule's order is random).
    assert.match((await callEcho(r.client)).server, /^v[12]$/);
    const second = await ask(server, 'POST', '/rollout', { body: options });
    assert.deepEqual([second.status, second.json.code], [409, 'ERR_SPLIT_ROLLOUT_RUNNING']);
    const metrics = parsePrometheusText((await ask(server, 'GET', '/metrics')).text);
    assert.deepEqual(metrics.get('traffic_split_rollout_percent')!.samples, [
      { name: 'traffic_split_rollout_percent', labels: { split: 'split', subset: 'v2' }, value: 10 },
    ]);
    assert.equal((await ask(server, 'POST', '/rollout/pause')).json.state, 'paused');
    assert.equal((await ask(server, 'GET', '/rollout', { token: null })).json.state, 'paused');
    assert.equal((await ask(server, 'POST', '/rollout/resume')).json.state, 'running');
    const aborted = await ask(server, 'DELETE', '/rollout');
    assert.deepEqual(
      [aborted.status, aborted.json.outcome, aborted.json.reason],
      [200, 'aborted', 'aborted through the admin endpoint'],
    );
    assert.deepEqual(r.split.getWeights(), { v1: 1, v2: 0 });
    assert.equal((await ask(server, 'DELETE', '/rollout')).status, 404);
    assert.equal((await ask(server, 'GET', '/rollout')).json.result.outcome, 'aborted');
  });

  it('answers 409 to changes once the split is closed', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const server = await admin(t, r);
    r.split.close();
    const answer = await ask(server, 'PUT', '/weights', { body: '{"v1": 0, "v2": 1}' });
    assert.deepEqual([answer.status, answer.json.code], [409, 'ERR_SPLIT_CLOSED']);
    assert.equal((await ask(server, 'GET', '/weights')).status, 200);
  });

  it('closes with connections open', async () => {
    const split = new TrafficSplit({ subsets: { v1: 'ipv4:127.0.0.1:1' }, weights: { v1: 1 } });
    const server = await startAdminServer(split, { port: 0 });
    await fetch(`${server.url}/weights`); // leaves a keep-alive connection behind
    await server.close();
    await server.close();
    await assert.rejects(fetch(`${server.url}/weights`));
    split.close();
  });
});
