/**
 * The three-way rule of the mirror's comparison (Twitter's Diffy, in process): each copied call
 * has three answers, the primary's, the copy's (the canary) and the baseline's (a second copy to
 * a subset running the primary's version). Per field path (or per answer, without a decoder):
 * - on one call, a difference is a **regression** only where the canary differs from the
 *   primary **and** the baseline agrees with the primary;
 * - over the calls, a field is **noise** when the baseline differs from the primary there at
 *   least `ratio` times as often as the canary does (a timestamp, a request id, a host name);
 *   a regression at a noise field does not count.
 * A copy is a mismatch when at least one of its differences is a regression at a field that is
 * not noise, decided when the copy is settled, with the fields' counts of that moment (so the
 * counts stay monotonic). Pure: no gRPC, no clock.
 * @module
 */

/** What one field path (or pseudo-path) counts over the three-way compared copies. */
export interface FieldCounts {
  /** Copies whose answer differed from the primary's at this path. */
  canary: number;
  /** Copies whose baseline answer differed from the primary's at this path. */
  baseline: number;
  /** Copies whose answer differed here while the baseline's agreed with the primary's. */
  regressions: number;
}

/** One field in `stats().mirror.noise.fields`. */
export interface MirrorFieldStats extends FieldCounts {
  path: string;
  /** Whether the field is noise by the rule, with these counts. */
  noise: boolean;
}

/** Paths that are not fields: a different status code, a different body where no decoder (or
 * a failed one) gave fields, differences beyond the walk's limits, a comparator's "not equal",
 * and every path beyond the tracked ones. */
export const STATUS_PATH = '(status)';
export const BODY_PATH = '(body)';
export const REST_PATH = '(rest)';
export const COMPARE_PATH = '(compare)';
export const OTHER_PATH = '(other)';

/** Field paths counted apart; further ones are counted together under `(other)`. */
export const MAX_TRACKED_FIELDS = 256;

/** The noise rule: the baseline differs at least `ratio` times as often as the canary. A field
 * the baseline never differed at is not noise, whatever `ratio` (0 included). */
export function isNoise(counts: FieldCounts, ratio: number): boolean {
  return counts.baseline > 0 && counts.baseline >= ratio * counts.canary;
}

/** What one copy's differences are, by the rule. */
export interface ThreeWayVerdict {
  /** The canary's differences that are regressions at fields that are not noise. */
  regressions: string[];
  /** The canary's other differences: the baseline differed there too, or the field is noise. */
  noise: string[];
}

/** The counts per field path, bounded: `maxFields` paths apart, then `(other)`. */
export class FieldTable {
  private readonly rows = new Map<string, FieldCounts>();

  constructor(private readonly maxFields = MAX_TRACKED_FIELDS) {}

  /** The counts of `path` when it is tracked apart. A path counted under `(other)` gets none:
   * the noise of other untracked fields must not forgive it. */
  countsOf(path: string): FieldCounts | undefined {
    return path === OTHER_PATH ? undefined : this.rows.get(path);
  }

  /** Counts one three-way compared copy: each row at most once per kind, whatever the number
   * of its paths (`(other)` gathers many). */
  count(canary: readonly string[], baseline: readonly string[]): void {
    const baselineSet = new Set(baseline);
    const touched = new Map<FieldCounts, { canary: boolean; baseline: boolean; regression: boolean }>();
    const mark = (path: string) => {
      const row = this.rowFor(path);
      let marks = touched.get(row);
      if (marks === undefined) touched.set(row, (marks = { canary: false, baseline: false, regression: false }));
      return marks;
    };
    for (const path of canary) {
      const marks = mark(path);
      marks.canary = true;
      if (!baselineSet.has(path)) marks.regression = true;
    }
    for (const path of baseline) mark(path).baseline = true;
    for (const [row, marks] of touched) {
      if (marks.canary) row.canary++;
      if (marks.baseline) row.baseline++;
      if (marks.regression) row.regressions++;
    }
  }

  /** Every row, most regressions first (then most canary differences, then by path). */
  snapshot(ratio: number): MirrorFieldStats[] {
    return [...this.rows]
      .map(([path, counts]) => ({ path, ...counts, noise: isNoise(counts, ratio) }))
      .sort(byRegressions);
  }

  private rowFor(path: string): FieldCounts {
    let row = this.rows.get(path);
    if (row !== undefined) return row;
    const key = this.rows.size < this.maxFields ? path : OTHER_PATH;
    row = this.rows.get(key);
    if (row === undefined) this.rows.set(key, (row = { canary: 0, baseline: 0, regressions: 0 }));
    return row;
  }
}

/** Sort order of field rows: most regressions, then most canary differences, then path. */
export function byRegressions(a: MirrorFieldStats, b: MirrorFieldStats): number {
  return b.regressions - a.regressions || b.canary - a.canary || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

/**
 * Judges one copy: `canary` and `baseline` are the paths where each differs from the primary
 * (`baseline` null without a usable baseline answer: then nothing is counted, and only fields
 * already known as noise are forgiven). The table counts the copy first, so the copy's own
 * answers take part in its fields' noise rule.
 */
export function judgeThreeWay(
  table: FieldTable,
  ratio: number,
  canary: readonly string[],
  baseline: readonly string[] | null,
): ThreeWayVerdict {
  if (baseline !== null) table.count(canary, baseline);
  const baselineSet = new Set(baseline ?? []);
  const regressions: string[] = [];
  const noise: string[] = [];
  for (const path of canary) {
    const counts = table.countsOf(path);
    const forgiven = baselineSet.has(path) || (counts !== undefined && isNoise(counts, ratio));
    (forgiven ? noise : regressions).push(path);
  }
  return { regressions, noise };
}

/** `stats().mirror.noise`: the three-way comparison of the mirror in force (or the last one). */
export interface MirrorNoiseStats {
  /** The baseline subset. */
  subset: string;
  ratio: number;
  /** Baseline copies started. */
  baselineSent: number;
  /** Copies compared three ways (the canary, the primary and the baseline answered). */
  compared: number;
  /** Copies compared without a baseline answer (the baseline copy failed or could not start):
   * only fields already known as noise were forgiven. */
  withoutBaseline: number;
  /** Copies that differed from the primary in noise only (they count as matched). */
  noisy: number;
  /** Answers the decoder threw on (those pairs were compared as whole bodies). */
  decodeErrors: number;
  /** Every field path (or pseudo-path) that differed on either side, most regressions first. */
  fields: MirrorFieldStats[];
}

/** The three-way comparison's counts for one mirror configuration. */
export class NoiseTally {
  readonly fields = new FieldTable();
  baselineSent = 0;
  compared = 0;
  withoutBaseline = 0;
  noisy = 0;
  decodeErrors = 0;

  constructor(
    readonly subset: string,
    readonly ratio: number,
  ) {}

  /** Judges one compared copy (see `judgeThreeWay`) and counts it. */
  judge(canary: readonly string[], baseline: readonly string[] | null): ThreeWayVerdict {
    if (baseline === null) this.withoutBaseline++;
    else this.compared++;
    const verdict = judgeThreeWay(this.fields, this.ratio, canary, baseline);
    if (verdict.regressions.length === 0 && verdict.noise.length > 0) this.noisy++;
    return verdict;
  }

  snapshot(): MirrorNoiseStats {
    const { subset, ratio, baselineSent, compared, withoutBaseline, noisy, decodeErrors } = this;
    return {
      subset,
      ratio,
      baselineSent,
      compared,
      withoutBaseline,
      noisy,
      decodeErrors,
      fields: this.fields.snapshot(ratio),
    };
  }
}

/**
 * The fields' counts since `before` (an earlier snapshot of the same tally, or null for all),
 * with the noise rule applied to those counts: what a window of the shadow phase is judged on.
 */
export function fieldsSince(now: MirrorNoiseStats, before: MirrorNoiseStats | null): MirrorFieldStats[] {
  const earlier = new Map((before?.fields ?? []).map((field) => [field.path, field]));
  const fields: MirrorFieldStats[] = [];
  for (const field of now.fields) {
    const past = earlier.get(field.path);
    const counts = {
      canary: field.canary - (past?.canary ?? 0),
      baseline: field.baseline - (past?.baseline ?? 0),
      regressions: field.regressions - (past?.regressions ?? 0),
    };
    if (counts.canary + counts.baseline > 0)
      fields.push({ path: field.path, ...counts, noise: isNoise(counts, now.ratio) });
  }
  return fields.sort(byRegressions);
}
