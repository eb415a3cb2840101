/**
 * The clients the features bench compares: one split configuration with each feature added, off
 * (configured, unused by the call) and on (used by every call), the same split without any, and
 * the plain channels it is held against. Every split has the same three subsets (v1 90, v2 10,
 * and `shadow` at weight 0 on v2's server, where mirror copies go), so a feature is the only
 * difference between a variant and its baseline.
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import * as otelApi from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { TrafficSplit, type TrafficSplitOptions } from '../src/index.js';
import { instrumentTrafficSplit } from '../src/ops/index.js';
import type { EchoClientInstance } from '../test/helpers/echo-service.js';
import type { Backends } from './backends.js';
import { plainClient, roundRobinClient, splitClient } from './clients.js';
import type { UnaryCall } from './load.js';

/** What a variant's calls carry: nothing, or a sticky key (1,000 users) and a rule's header. */
export type Headers = 'none' | 'keyed';

export interface FeatureVariant {
  key: string;
  label: string;
  /** The variant it is measured against (same calls, same headers), or null for a baseline. */
  baseline: string | null;
  build(backends: Backends): Promise<BuiltVariant>;
  headers: Headers;
  stream: boolean;
}

export interface BuiltVariant {
  client: EchoClientInstance;
  close(): Promise<void> | void;
  /** The split, when the variant is one. */
  split?: TrafficSplit;
  /** A plain channel to the shadow subset's server that every 10th call is also sent on, by the
   * caller itself: the floor of a 10% mirror made in the same process. */
  copy?: EchoClientInstance;
}

const USERS = 1000;
const REQUEST = { text: 'ping' };

function splitVariant(
  name: string,
  extra: Partial<TrafficSplitOptions>,
  telemetry: 'off' | 'on' | null = null,
): FeatureVariant['build'] {
  return async (backends) => {
    const split = new TrafficSplit({
      name: `features-${name}`,
      subsets: { v1: backends.target('v1'), v2: backends.target('v2'), shadow: backends.target('v2') },
      weights: { v1: 90, v2: 10, shadow: 0 },
      ...extra,
    });
    const stops: (() => void)[] = [];
    if (telemetry !== null) stops.push((await instrumentTrafficSplit(split, telemetryOptions(telemetry, stops))).stop);
    const client = splitClient(split);
    return { client, split, close: () => (client.close(), stops.forEach((stop) => stop()), split.close()) };
  };
}

/** Off for the calls: tracing only, and no span is active. On: metrics into an SDK meter
 * provider with a reader (which exports once an hour, so never during the bench). */
function telemetryOptions(mode: 'off' | 'on', stops: (() => void)[]): Parameters<typeof instrumentTrafficSplit>[1] {
  if (mode === 'off') return { api: otelApi, metrics: false };
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const provider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })],
  });
  stops.push(() => void provider.shutdown());
  return { api: otelApi, meterProvider: provider };
}

/** The split without a feature, plus a plain channel the caller copies every 10th call to. */
const handMadeCopy: FeatureVariant['build'] = async (backends) => {
  const built = await splitVariant('handCopy10', {})(backends);
  const copy = plainClient(backends.target('v2'));
  return { ...built, copy, close: () => (copy.close(), built.close()) };
};

const roundRobin: FeatureVariant['build'] = async (backends) => {
  const client = roundRobinClient([backends.ports['v1']!, backends.ports['v2']!]);
  return { client, close: () => client.close() };
};

/** Every variant, in run order (rotated per round). */
export const FEATURE_VARIANTS: readonly FeatureVariant[] = [
  { key: 'rr', label: 'grpc-js round_robin', baseline: null, build: roundRobin, headers: 'none', stream: false },
  {
    key: 'base',
    label: 'split, no feature',
    baseline: null,
    build: splitVariant('base', {}),
    headers: 'none',
    stream: false,
  },
  {
    key: 'baseKeyed',
    label: 'split, no feature, calls with the headers',
    baseline: null,
    build: splitVariant('baseKeyed', {}),
    headers: 'keyed',
    stream: false,
  },
  {
    key: 'mirror0',
    label: 'mirror 0% (off)',
    baseline: 'base',
    build: splitVariant('mirror0', { mirror: { subset: 'shadow', percent: 0 } }),
    headers: 'none',
    stream: false,
  },
  {
    key: 'mirror10',
    label: 'mirror 10% (on)',
    baseline: 'base',
    build: splitVariant('mirror10', { mirror: { subset: 'shadow', percent: 10 } }),
    headers: 'none',
    stream: false,
  },
  {
    key: 'handCopy10',
    label: 'hand-made copy 10%: the caller sends every 10th call to shadow too (plain grpc-js)',
    baseline: 'base',
    build: handMadeCopy,
    headers: 'none',
    stream: false,
  },
  {
    key: 'stickyOff',
    label: 'sticky key, calls without it (off)',
    baseline: 'base',
    build: splitVariant('stickyOff', { stickyKey: 'x-user-id' }),
    headers: 'none',
    stream: false,
  },
  {
    key: 'stickyOn',
    label: 'sticky key, every call keyed (on)',
    baseline: 'baseKeyed',
    build: splitVariant('stickyOn', { stickyKey: 'x-user-id' }),
    headers: 'keyed',
    stream: false,
  },
  {
    key: 'rulesOff',
    label: 'a rule, calls without its header (off)',
    baseline: 'base',
    build: splitVariant('rulesOff', { rules: [{ header: 'x-canary', equals: 'yes', subset: 'v2' }] }),
    headers: 'none',
    stream: false,
  },
  {
    key: 'rulesOn',
    label: 'a rule, every call matching (on)',
    baseline: 'baseKeyed',
    build: splitVariant('rulesOn', { rules: [{ header: 'x-canary', equals: 'yes', subset: 'v2' }] }),
    headers: 'keyed',
    stream: false,
  },
  {
    key: 'retry',
    label: 'retryOnOtherSubset, calls that succeed (on)',
    baseline: 'base',
    build: splitVariant('retry', { retryOnOtherSubset: true }),
    headers: 'none',
    stream: false,
  },
  {
    key: 'otelOff',
    label: 'OpenTelemetry, tracing only, no active span (off)',
    baseline: 'base',
    build: splitVariant('otelOff', {}, 'off'),
    headers: 'none',
    stream: false,
  },
  {
    key: 'otelOn',
    label: 'OpenTelemetry metrics, SDK MeterProvider (on)',
    baseline: 'base',
    build: splitVariant('otelOn', {}, 'on'),
    headers: 'none',
    stream: false,
  },
  {
    key: 'rrStream',
    label: 'grpc-js round_robin, server streaming',
    baseline: null,
    build: roundRobin,
    headers: 'none',
    stream: true,
  },
  {
    key: 'splitStream',
    label: 'split, server streaming (stream tracking on)',
    baseline: 'rrStream',
    build: splitVariant('splitStream', {}),
    headers: 'none',
    stream: true,
  },
];

/** A call of the variant's kind for the closed loop: unary, or a server stream of one message. */
export function variantCaller(
  client: EchoClientInstance,
  variant: Pick<FeatureVariant, 'headers' | 'stream'>,
  copy?: EchoClientInstance,
): UnaryCall {
  if (copy !== undefined) {
    // As the mirror copies: the primary first, the copy after the current turn of the event
    // loop, its answer awaited by nobody.
    const sendCopy = (): void => void copy.echo(REQUEST, () => {});
    let n = 0;
    return (done) => {
      client.echo(REQUEST, (error) => done(error));
      if (++n % 10 === 0) setImmediate(sendCopy);
    };
  }
  if (variant.stream) {
    const request = { count: 1 };
    return (done) => {
      const call = client.stream(request);
      call.on('data', () => {});
      call.on('error', () => {});
      call.on('status', (status: grpc.StatusObject) =>
        done(status.code === grpc.status.OK ? null : new Error(status.details)),
      );
    };
  }
  if (variant.headers === 'none') return (done) => void client.echo(REQUEST, (error) => done(error));
  let n = 0;
  return (done) => {
    const metadata = new grpc.Metadata();
    metadata.set('x-user-id', `user-${n++ % USERS}@example.com`);
    metadata.set('x-canary', 'yes');
    client.echo(REQUEST, metadata, {}, (error) => done(error));
  };
}
