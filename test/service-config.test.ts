import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { register } from '../src/index.js';
import { callEcho, echoClient } from './helpers/echo-service.js';
import { countOf, maxWindowDeviation } from './helpers/sequences.js';
import { startServer } from './helpers/servers.js';

describe('the policy from a plain service config', () => {
  it('splits a channel configured by JSON alone', async (t) => {
    register();
    const v1 = await startServer('v1');
    const v2 = await startServer('v2');
    const serviceConfig = {
      loadBalancingConfig: [{ traffic_split: { subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 3, v2: 1 } } }],
    };
    // The channel's own target only names the service (and sets the authority); the policy
    // resolves each subset's target itself.
    const client = echoClient('dns:///reporter.example.test:443', { 'grpc.service_config': JSON.stringify(serviceConfig) });
    t.after(async () => {
      client.close();
      await Promise.all([v1.kill(), v2.kill()]);
    });
    // Wait until both subsets have served once, then measure whole cycles.
    const warmup = new Set<string>();
    for (let i = 0; i < 50 && warmup.size < 2; i++) warmup.add((await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 5_000 })).server);
    assert.equal(warmup.size, 2);
    const servers: string[] = [];
    for (let i = 0; i < 400; i++) servers.push((await callEcho(client)).server);
    // 100 +- 1 to v2: the schedule's phase and order within its bound are random.
    assert.ok(Math.abs(countOf(servers)['v2']! - 100) <= 1 && countOf(servers)['v1']! + countOf(servers)['v2']! === 400, JSON.stringify(countOf(servers)));
    assert.ok(maxWindowDeviation(servers, { v1: 3, v2: 1 }, 4) <= 1);
  });

  it('logs a rejected traffic_split config at ERROR with the field and value', async (t) => {
    register();
    const lines: string[] = [];
    grpc.setLogger({ error: (...args: unknown[]) => lines.push(args.join(' ')) } as unknown as Console);
    t.after(() => grpc.setLogger(console));
    const bad = { loadBalancingConfig: [{ traffic_split: { subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' }, weights: { v1: 1 } } }] };
    const client = echoClient('ipv4:127.0.0.1:1', { 'grpc.service_config': JSON.stringify(bad) });
    t.after(() => client.close());
    await callEcho(client, {}, new grpc.Metadata(), { deadline: Date.now() + 1_000 }).catch(() => undefined);
    assert.ok(
      lines.some((line) => line.includes('traffic_split: service config rejected: weights.v2: missing; every subset needs a weight (0 sends it no calls)')),
      lines.join('\n'),
    );
  });
});
