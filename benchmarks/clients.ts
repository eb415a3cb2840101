/**
 * The client channels the benches compare, all speaking the echo service of test/helpers.
 * Every channel gets a subchannel pool of its own, so no two variants share a TCP connection
 * and "one client channel" means one channel's own connections.
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import type { TrafficSplit } from '../src/index.js';
import { echoClient, type EchoClientInstance } from '../test/helpers/echo-service.js';
import type { NamedCall, UnaryCall } from './load.js';

/** Keeps a channel's subchannels (and so its connections) out of grpc-js's global pool. */
export const OWN_CONNECTIONS: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

/** The service config of a plain `round_robin` channel. */
export const ROUND_ROBIN_SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** The small payload of every call. */
const REQUEST = { text: 'ping' };

/**
 * A plain grpc-js channel with `round_robin` over `ports` on 127.0.0.1
 * (`ipv4:127.0.0.1:P1,127.0.0.1:P2`).
 */
export function roundRobinClient(ports: readonly number[], extra: grpc.ChannelOptions = {}): EchoClientInstance {
  return roundRobinTargetClient(`ipv4:${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, extra);
}

/** A plain grpc-js channel with `round_robin` over whatever `target` resolves to. */
export function roundRobinTargetClient(target: string, extra: grpc.ChannelOptions = {}): EchoClientInstance {
  return echoClient(target, { ...OWN_CONNECTIONS, 'grpc.service_config': ROUND_ROBIN_SERVICE_CONFIG, ...extra });
}

/** A channel built from a split the way the README says: `split.target` + `split.channelOptions`. */
export function splitClient(split: TrafficSplit, extra: grpc.ChannelOptions = {}): EchoClientInstance {
  return echoClient(split.target, { ...split.channelOptions, ...OWN_CONNECTIONS, ...extra });
}

/** A plain channel (grpc-js's default `pick_first`) to one target. */
export function plainClient(target: string, extra: grpc.ChannelOptions = {}): EchoClientInstance {
  return echoClient(target, { ...OWN_CONNECTIONS, ...extra });
}

/** A callback-style unary call for `closedLoop`: no promise, no deadline timer per call. */
export function unaryCaller(client: EchoClientInstance): UnaryCall {
  return (done) => {
    client.echo(REQUEST, (error) => done(error));
  };
}

/** One call that resolves with the replying server's name. */
export function namedCaller(client: EchoClientInstance, timeoutMs = 5_000): NamedCall {
  return () =>
    new Promise((resolve, reject) => {
      const options: grpc.CallOptions = { deadline: Date.now() + timeoutMs };
      client.echo(REQUEST, new grpc.Metadata(), options, (error, reply) =>
        error ? reject(error) : resolve(reply!.server),
      );
    });
}

/** Resolves when the channel is READY (connecting if needed); rejects after `timeoutMs`. */
export function waitForReady(client: grpc.Client, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Polls until every subset of `split` is READY in all its channels, so that a measurement does
 * not start while one subset is still connecting (its share would go to the others).
 */
export async function waitForSubsets(split: TrafficSplit, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = split.stats();
    if (Object.values(stats.subsets).every((s) => s.state === 'READY')) return;
    if (Date.now() > deadline) {
      const states = Object.entries(stats.subsets).map(([name, s]) => `${name}: ${s.state}`);
      throw new Error(`split ${stats.name}: subsets not READY after ${timeoutMs} ms (${states.join(', ')})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Makes `count` calls in sequence (warms connections and JIT); throws on the first failure. */
export async function warmUp(client: EchoClientInstance, count: number): Promise<void> {
  const call = namedCaller(client);
  for (let i = 0; i < count; i++) await call(i);
}
