/**
 * What the metrics catalogue tests need: the leaf paths of a `stats()` object, which catalogue
 * paths cover them, and the reference table of docs/operations.md rendered from the catalogue.
 */
import { METRIC_LABELS, METRICS } from '../../src/ops/index.js';

/** Every leaf of `value` as a dot path; arrays' items are `[]`; an empty object or array is a leaf.
 * A dot in a key (method names: `/shop.Store/Read`) is written `%2E`, so each key is one segment. */
export function leafPaths(value: unknown, path = ''): string[] {
  const join = (key: string) => {
    const segment = key.replace(/%/g, '%25').replace(/\./g, '%2E');
    return path === '' ? segment : `${path}.${segment}`;
  };
  if (Array.isArray(value))
    return value.length === 0 ? [path] : [...new Set(value.flatMap((item) => leafPaths(item, join('[]'))))];
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    return entries.length === 0 ? [path] : entries.flatMap(([key, item]) => leafPaths(item, join(key)));
  }
  return [path];
}

/** True when catalogue path `pattern` (`*` for any one key) is `path` or one of its ancestors. */
export function covers(pattern: string, path: string): boolean {
  const want = pattern.split('.');
  const have = path.split('.');
  return want.length <= have.length && want.every((segment, i) => segment === '*' || segment === have[i]);
}

/** The metrics reference of docs/operations.md, one row per catalogue entry. */
export function metricsTable(): string {
  const code = (text: string) => `\`${text}\``;
  const rows = METRICS.map((m) => {
    const prometheus = m.prometheus === null ? '' : `${code(m.prometheus.name)} ${m.prometheus.type}`;
    const otel = m.otel === null ? '' : `${code(m.otel.name)} ${m.otel.instrument}`;
    const labels = m.labels.map((label) => code(METRIC_LABELS[label].prometheus)).join(', ');
    return `| ${prometheus} | ${otel} | ${code(m.unit)} | ${labels} | ${m.help.replace(/\|/g, '\\|')} |`;
  });
  return ['| Prometheus | OpenTelemetry | Unit | Labels | Help |', '|---|---|---|---|---|', ...rows].join('\n');
}
