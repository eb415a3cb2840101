/**
 * A split's figures in the Prometheus text format, rendered from the metrics catalogue and read
 * from `stats()` at scrape time: nothing runs on the call path. Same metric names as
 * `examples/prometheus/` (prom-client), so dashboards work with either.
 * @module
 */
import { renderFamilies, type MetricFamily } from './prometheus-text.js';
import {
  METRIC_LABELS,
  METRICS,
  readMetricFigures,
  type MetricDefinition,
  type MetricFigures,
} from './metrics-catalogue.js';
import type { SplitHandle } from '../../split/ops-port.js';

export { PROMETHEUS_CONTENT_TYPE } from './prometheus-text.js';

/**
 * The split's metrics in Prometheus text exposition format 0.0.4 (serve it with content type
 * `PROMETHEUS_CONTENT_TYPE`): every family of the metrics catalogue that has a Prometheus name
 * (`docs/operations.md#metrics-reference` lists them), each sample labelled `split` first.
 * @example
 * http.createServer((req, res) =>
 *   res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(renderPrometheusMetrics(split)),
 * );
 */
export function renderPrometheusMetrics(split: SplitHandle): string {
  const figures = readMetricFigures(split);
  return renderFamilies(
    METRICS.flatMap((metric) => (metric.prometheus === null ? [] : [family(metric, metric.prometheus, figures)])),
  );
}

function family(
  metric: MetricDefinition,
  prometheus: NonNullable<MetricDefinition['prometheus']>,
  figures: MetricFigures,
): MetricFamily {
  const split = figures.stats.name;
  return {
    name: prometheus.name,
    type: prometheus.type,
    help: metric.help,
    samples: (metric.read?.(figures) ?? []).map(({ labels, value }) => ({
      labels: Object.fromEntries([
        ['split', split],
        ...metric.labels.map((label) => [METRIC_LABELS[label].prometheus, labels[label] ?? '']),
      ]),
      value,
    })),
  };
}
