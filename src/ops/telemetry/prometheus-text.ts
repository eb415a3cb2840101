/**
 * A minimal writer of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): families with HELP and TYPE
 * lines, then their samples. No dependency, no registry: the caller builds every family at
 * scrape time.
 * @internal
 * @module
 */

/** The Content-Type of the format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'summary' | 'untyped';

/** One sample: labels in the order given, and a value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
  /** Appended to the family name: `_sum`, `_count` for summaries. @default "" */
  suffix?: string;
}

/** One metric family. */
export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Renders families; every line ends with `\n`, as the format requires of the last one too. */
export function renderFamilies(families: readonly MetricFamily[]): string {
  let text = '';
  for (const family of families) {
    // Names come from this library, not from users: a bad one is a bug, so fail loudly.
    if (!METRIC_NAME.test(family.name)) throw new Error(`invalid metric name ${family.name}`);
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples)
      text += `${family.name}${sample.suffix ?? ''}${renderLabels(sample.labels)} ${formatValue(sample.value)}\n`;
  }
  return text;
}

function renderLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries
    .map(([name, value]) => {
      if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`invalid label name ${name}`);
      return `${name}="${escapeLabelValue(value)}"`;
    })
    .join(',')}}`;
}

/** Label values escape backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed (quotes stay as they are). */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * Go's ParseFloat spelling: `NaN`, `+Inf`, `-Inf`, otherwise JavaScript's shortest form of the
 * value rounded to 15 significant digits. Figures are derived in binary floating point (a
 * latency of 0.672 ms is 0.672 / 1000 s = 0.0006720000000000001): 15 digits is as many as a
 * double always holds exactly, so the rounding removes that noise and nothing measured.
 * Integers are written whole (counters pass 10^15 long before they lose precision). A value
 * that is not a number (a `SplitHandle` of the application's whose stats lack a figure) is
 * written `NaN`: the scrape goes on, in the format.
 */
export function formatValue(value: number): string {
  if (typeof value !== 'number' || Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(15)));
}
