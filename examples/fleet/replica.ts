/**
 * One gateway replica, as a process of its own (main.ts forks three): a split between the
 * backend's v1 and v2, a steady trickle of calls through it, the fleet joined, and the admin
 * endpoint on the fleet handle, so a change made on any replica's endpoint reaches all of them.
 * It prints what reaches it and tells main.ts over IPC.
 */
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { TrafficSplit } from 'grpc-traffic-split';
import { startAdminServer } from 'grpc-traffic-split/ops';
import { joinFleet } from 'grpc-traffic-split/fleet';
import { QuoteClient } from './backend.js';

export interface ReplicaConfig {
  name: string;
  hosts: string[];
  prefix: string;
  v1: string;
  v2: string;
  token: string;
}

process.once('message', async (config: ReplicaConfig) => {
  const client = new Etcd3({
    hosts: config.hosts,
    // Back within a second of an etcd outage: short reconnect back-offs (README, "The fleet").
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 },
  });
  const split = new TrafficSplit({
    name: 'quotes',
    subsets: { v1: config.v1, v2: config.v2 },
    weights: { v1: 100, v2: 0 },
  });
  const quotes = new QuoteClient(split.target, grpc.credentials.createInsecure(), split.channelOptions);
  const fleet = await joinFleet(split, { client, prefix: config.prefix, replicaId: config.name, leaseTtlSeconds: 3 });
  const say = (line: string): void => console.log(`  [${config.name}] ${line}`);
  const tell = (message: object): void => void (process.connected && process.send?.(message));
  fleet.on('applied', ({ revision, weights, replica, by }) => {
    say(`applied revision ${revision}: ${JSON.stringify(weights)} (${by} on ${replica})`);
    tell({ type: 'applied', revision, weights, at: Date.now() });
  });
  fleet.on('leader', ({ leading, leader }) => {
    if (leading) say("leads the fleet's rollouts now");
    tell({ type: 'leader', leader });
  });
  const admin = await startAdminServer(fleet, { port: 0, token: config.token });
  // A steady trickle of calls: what the rollout judges, summed over every replica.
  const timer = setInterval(() => quotes.quote({ items: 1 }, () => undefined), 10);
  process.on('disconnect', () => {
    clearInterval(timer);
    void Promise.all([admin.close(), fleet.leave()]).finally(() => {
      quotes.close();
      split.close();
      client.close();
    });
  });
  tell({ type: 'ready', admin: admin.url, leader: fleet.leaderStatus.leader });
});
