/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: it throws on any
 * line a Prometheus server would reject, and on a few things it would accept but that signal a
 * bug here (a sample before its TYPE, a family declared twice, a repeated series).
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  help: string;
  type: 'counter' | 'gauge' | 'summary' | 'histogram' | 'untyped';
  samples: ParsedSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|summary|histogram|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(\\{.*\\})? ([^ ]+)( -?[0-9]+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/;
const VALUE = /^(NaN|[+-]Inf|[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?)$/;

/** Parses `text` or throws with the line number and the reason. */
export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, ParsedFamily>();
  const helps = new Map<string, string>();
  const series = new Set<string>();
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, index) => {
      const fail = (why: string): never => {
        throw new Error(`line ${index + 1}: ${why}: ${JSON.stringify(line)}`);
      };
      let match: RegExpExecArray | null;
      if ((match = HELP_LINE.exec(line))) {
        if (helps.has(match[1]!)) fail('second HELP');
        helps.set(match[1]!, match[2]!);
      } else if ((match = TYPE_LINE.exec(line))) {
        if (families.has(match[1]!)) fail('second TYPE');
        families.set(match[1]!, {
          help: helps.get(match[1]!) ?? fail('TYPE without HELP before it'),
          type: match[2] as ParsedFamily['type'],
          samples: [],
        });
      } else if (line.startsWith('#') || line === '') {
        fail('unexpected comment or blank line');
      } else if ((match = SAMPLE_LINE.exec(line))) {
        const [, name, labelText, valueText] = match;
        const family = familyOf(families, name!) ?? fail('sample before its TYPE');
        if (!VALUE.test(valueText!)) fail('bad value');
        const labels = parseLabels(labelText ?? '', fail);
        const key = `${name}${JSON.stringify(labels)}`;
        if (series.has(key)) fail('repeated series');
        series.add(key);
        family.samples.push({ name: name!, labels, value: Number(valueText!.replace('Inf', 'Infinity')) });
      } else {
        fail('not a sample line');
      }
    });
  return families;
}

/** The family a sample belongs to: its own name, or a summary/histogram's base name. */
function familyOf(families: Map<string, ParsedFamily>, name: string): ParsedFamily | undefined {
  const own = families.get(name);
  if (own) return own;
  const base = name.replace(/_(sum|count|bucket)$/, '');
  const family = families.get(base);
  return family && (family.type === 'summary' || family.type === 'histogram') ? family : undefined;
}

function parseLabels(text: string, fail: (why: string) => never): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === '') return labels;
  let rest = text.slice(1, -1);
  while (rest !== '') {
    const match = LABEL.exec(rest) ?? fail('bad label');
    if (Object.hasOwn(labels, match[1]!)) fail('repeated label');
    labels[match[1]!] = match[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(match[0].length);
    if (match[3] === ',' && rest === '') break;
  }
  return labels;
}
