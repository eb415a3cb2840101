/**
 * Exports a TrafficSplit's figures as Prometheus metrics with prom-client: one metric per entry
 * of the library's metrics catalogue, so the names, types and help are the library's own. The
 * values are read from `split.stats()` at scrape time, so nothing runs on the call path.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { TrafficSplit } from 'grpc-traffic-split';
import { METRIC_LABELS, METRICS, readMetricFigures } from 'grpc-traffic-split/ops';

/** Registers the split's metrics in `registry` (a new one by default) and returns it. */
export function registerSplitMetrics(split: Pick<TrafficSplit, 'stats'>, registry = new Registry()): Registry {
  for (const metric of METRICS) {
    if (metric.prometheus === null || metric.read === null) continue;
    const read = metric.read;
    const labelNames = ['split', ...metric.labels.map((label) => METRIC_LABELS[label].prometheus)];
    const configuration = { name: metric.prometheus.name, help: metric.help, labelNames, registers: [registry] };
    // Each scrape sets every sample afresh: a subset or a code gone since is not reported.
    const samples = () => {
      const figures = readMetricFigures(split);
      return read(figures).map(({ labels, value }) => ({
        labels: Object.fromEntries([
          ['split', figures.stats.name],
          ...metric.labels.map((label) => [METRIC_LABELS[label].prometheus, labels[label] ?? '']),
        ]),
        value,
      }));
    };
    if (metric.prometheus.type === 'counter') {
      new Counter({
        ...configuration,
        collect() {
          this.reset();
          for (const { labels, value } of samples()) this.inc(labels, value);
        },
      });
    } else {
      new Gauge({
        ...configuration,
        collect() {
          this.reset();
          for (const { labels, value } of samples()) this.set(labels, value);
        },
      });
    }
  }
  return registry;
}
