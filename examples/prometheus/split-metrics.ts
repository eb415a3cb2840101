/**
 * Exports a TrafficSplit's figures as Prometheus metrics with prom-client. The values are read
 * from `split.stats()` at scrape time, so nothing runs on the call path.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { TrafficSplit } from 'grpc-traffic-split';

const STATES = ['IDLE', 'CONNECTING', 'READY', 'TRANSIENT_FAILURE', 'SHUTDOWN'] as const;

/** Registers the split's metrics in `registry` (a new one by default) and returns it. */
export function registerSplitMetrics(split: Pick<TrafficSplit, 'stats'>, registry = new Registry()): Registry {
  const read = () => split.stats();
  new Gauge({
    name: 'traffic_split_weight',
    help: 'Weight in force for each subset.',
    labelNames: ['split', 'subset'],
    registers: [registry],
    collect() {
      const stats = read();
      for (const [subset, weight] of Object.entries(stats.weights)) this.set({ split: stats.name, subset }, weight);
    },
  });
  new Gauge({
    name: 'traffic_split_subset_state',
    help: 'Connectivity state of each subset (1 for the current state), the least ready across channels.',
    labelNames: ['split', 'subset', 'state'],
    registers: [registry],
    collect() {
      const stats = read();
      for (const [subset, figures] of Object.entries(stats.subsets)) {
        for (const state of STATES) this.set({ split: stats.name, subset, state }, figures.state === state ? 1 : 0);
      }
    },
  });
  new Counter({
    name: 'traffic_split_calls_started_total',
    help: 'Calls started on each subset (every attempt counts).',
    labelNames: ['split', 'subset'],
    registers: [registry],
    collect() {
      const stats = read();
      this.reset();
      for (const [subset, figures] of Object.entries(stats.subsets)) this.inc({ split: stats.name, subset }, figures.started);
    },
  });
  new Counter({
    name: 'traffic_split_calls_finished_total',
    help: 'Calls finished on each subset, by gRPC status code.',
    labelNames: ['split', 'subset', 'code'],
    registers: [registry],
    collect() {
      const stats = read();
      this.reset();
      for (const [subset, figures] of Object.entries(stats.subsets)) {
        for (const [code, count] of Object.entries(figures.codes)) this.inc({ split: stats.name, subset, code }, count);
      }
    },
  });
  new Gauge({
    name: 'traffic_split_calls_in_flight',
    help: 'Calls in flight on each subset.',
    labelNames: ['split', 'subset'],
    registers: [registry],
    collect() {
      const stats = read();
      for (const [subset, figures] of Object.entries(stats.subsets)) this.set({ split: stats.name, subset }, figures.inFlight);
    },
  });
  new Gauge({
    name: 'traffic_split_streams_open',
    help: 'Streaming calls open on each subset.',
    labelNames: ['split', 'subset'],
    registers: [registry],
    collect() {
      const stats = read();
      for (const [subset, figures] of Object.entries(stats.subsets)) this.set({ split: stats.name, subset }, figures.openStreams);
    },
  });
  new Counter({
    name: 'traffic_split_streams_rebalanced_total',
    help: 'Streams the split ended itself (rebalancing after a weight change, or maxStreamAgeMs); not counted as finished calls.',
    labelNames: ['split', 'subset'],
    registers: [registry],
    collect() {
      const stats = read();
      this.reset();
      for (const [subset, figures] of Object.entries(stats.subsets)) this.inc({ split: stats.name, subset }, figures.rebalanced);
    },
  });
  new Gauge({
    name: 'traffic_split_latency_seconds',
    help: 'Call latency quantiles per subset over the split lifetime.',
    labelNames: ['split', 'subset', 'quantile'],
    registers: [registry],
    collect() {
      const stats = read();
      this.reset();
      for (const [subset, figures] of Object.entries(stats.subsets)) {
        for (const [quantile, ms] of [['0.5', figures.latencyMs.p50], ['0.9', figures.latencyMs.p90], ['0.99', figures.latencyMs.p99]] as const) {
          if (ms !== null) this.set({ split: stats.name, subset, quantile }, ms / 1000);
        }
      }
    },
  });
  return registry;
}
