import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { registerSplitMetrics } from '../examples/prometheus/split-metrics.js';
import { callEcho } from './helpers/echo-service.js';
import { rig } from './helpers/rig.js';

describe('the Prometheus example', () => {
  it('exports weights, states, per-code counts and latency quantiles of a live split', async (t) => {
    const { client, split } = await rig(t, { v1: 3, v2: 1 }, { name: 'metrics' });
    for (let i = 0; i < 8; i++) await callEcho(client);
    // 8 calls at 3:1 are two whole periods: 6 and 2. The failure goes to v1 by an explicit route,
    // since the schedule's order within a period is random.
    await callEcho(
      client,
      { failWith: grpc.status.NOT_FOUND },
      new grpc.Metadata(),
      split.route({ subset: 'v1' }),
    ).catch(() => undefined);
    const text = await registerSplitMetrics(split).metrics();
    const lines = text.split('\n');
    for (const expected of [
      'traffic_split_weight{split="metrics",subset="v1"} 3',
      'traffic_split_weight{split="metrics",subset="v2"} 1',
      'traffic_split_subset_state{split="metrics",subset="v2",state="READY"} 1',
      'traffic_split_calls_started_total{split="metrics",subset="v1"} 7',
      'traffic_split_calls_finished_total{split="metrics",subset="v1",code="OK"} 6',
      'traffic_split_calls_finished_total{split="metrics",subset="v1",code="NOT_FOUND"} 1',
      'traffic_split_calls_finished_total{split="metrics",subset="v2",code="OK"} 2',
      'traffic_split_calls_in_flight{split="metrics",subset="v1"} 0',
    ]) {
      assert.ok(lines.includes(expected), `missing "${expected}" in\n${text}`);
    }
    assert.match(
      text,
      /^traffic_split_latency_seconds\{split="metrics",subset="v1",quantile="0\.99"\} \d+(\.\d+)?(e-\d+)?$/m,
    );
    // Every sample line is `name{labels} value`: what a Prometheus server parses.
    for (const line of lines.filter((l) => l !== '' && !l.startsWith('#'))) {
      assert.match(line, /^[a-z_]+\{([a-z_]+="[^"]*",?)+\} -?\d+(\.\d+)?(e-?\d+)?$/, line);
    }
  });
});
