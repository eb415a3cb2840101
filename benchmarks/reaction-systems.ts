/**
 * The three systems the reaction bench switches from 90/10 to 10/90, each behind one interface:
 * the split (`setWeights`), nginx (rewrite the config and SIGHUP), and a connection-level split
 * (ten plain channels, the split moves only when connections are remade).
 * @module
 */
import { performance } from 'node:perf_hooks';
import { TrafficSplit } from '../src/index.js';
import type { EchoClientInstance } from '../test/helpers/echo-service.js';
import type { Backends } from './backends.js';
import { namedCaller, plainClient, splitClient, waitForReady, waitForSubsets, warmUp } from './clients.js';
import type { NamedCall } from './load.js';
import { NginxProxy } from './nginx.js';

/** One system, ready to take calls at 90/10. */
export interface SwitchableSystem {
  readonly label: string;
  /** A call that names the replying server. */
  readonly call: NamedCall;
  /** Applies 10/90; returns how long the call itself took, in microseconds. */
  switchWeights(): Promise<number>;
  close(): Promise<void>;
}

/** The split: one channel; `setWeights` is the whole switch. */
export async function splitSystem(backends: Backends): Promise<SwitchableSystem & { split: TrafficSplit }> {
  const split = new TrafficSplit({
    name: 'reaction',
    subsets: { v1: backends.target('v1'), v2: backends.target('v2') },
    weights: { v1: 90, v2: 10 },
  });
  const client = splitClient(split);
  await waitForReady(client);
  await waitForSubsets(split);
  await warmUp(client, 20);
  return {
    split,
    label: 'traffic-split setWeights()',
    call: namedCaller(client),
    switchWeights: async () => {
      const start = performance.now();
      split.setWeights({ v1: 10, v2: 90 });
      return (performance.now() - start) * 1000;
    },
    close: async () => {
      client.close();
      split.close();
    },
  };
}

/** nginx with a 9:1 upstream, fresh per round; the switch rewrites the config and sends SIGHUP. */
export async function nginxSystem(bin: string, backends: Backends): Promise<SwitchableSystem> {
  const v1 = backends.ports['v1']!;
  const v2 = backends.ports['v2']!;
  const proxy = await NginxProxy.start(bin, [
    { port: v1, weight: 9 },
    { port: v2, weight: 1 },
  ]);
  const client = plainClient(proxy.target);
  await waitForReady(client);
  await warmUp(client, 20);
  return {
    label: 'nginx reload (SIGHUP)',
    call: namedCaller(client),
    switchWeights: async () => {
      const start = performance.now();
      await proxy.reload([
        { port: v1, weight: 1 },
        { port: v2, weight: 9 },
      ]);
      return (performance.now() - start) * 1000;
    },
    close: async () => {
      client.close();
      await proxy.stop();
    },
  };
}

/** Channels in the connection-level pool. */
export const POOL_SIZE = 10;

/**
 * Ten plain channels, each with its own connection to one server (9 to v1, 1 to v2), used in
 * turn. Its best case for a switch: the moment weights change, 8 v1 channels are closed and 8
 * new v2 channels opened; they connect on their first call. Fresh per round.
 */
export async function connectionLevelSystem(backends: Backends): Promise<SwitchableSystem> {
  const v1 = backends.target('v1');
  const v2 = backends.target('v2');
  const pool: EchoClientInstance[] = [];
  for (let i = 0; i < POOL_SIZE; i++) pool.push(plainClient(i < POOL_SIZE - 1 ? v1 : v2));
  for (const client of pool) await waitForReady(client);
  let next = 0;
  const callOn = (): Promise<string> => {
    const client = pool[next]!;
    next = (next + 1) % POOL_SIZE;
    return namedCaller(client)(0);
  };
  for (let i = 0; i < 2 * POOL_SIZE; i++) await callOn();
  return {
    label: `connection-level split (${POOL_SIZE} channels)`,
    call: callOn,
    switchWeights: async () => {
      const start = performance.now();
      // Keep pool[0] on v1 and pool[9] on v2; remake the 8 in between towards v2.
      for (let i = 1; i < POOL_SIZE - 1; i++) {
        pool[i]!.close();
        pool[i] = plainClient(v2);
      }
      return (performance.now() - start) * 1000;
    },
    close: async () => {
      for (const client of pool) client.close();
    },
  };
}
