/**
 * The shadow phase of a rollout: before any real call reaches the rolled-out subset, a share of
 * the calls is copied to it (the split's mirror, with comparison), and the rollout goes on to
 * its weight steps only if the copies answered like the primaries and did not fail. It uses the
 * split's public handle only: `setMirror()`, `getMirror()`, `stats().mirror` and its events.
 * @module
 */
import { typeErrorAt } from '../../base/errors.js';
import {
  settingsToOptions,
  type MirrorComparator,
  type MirrorSettings,
  type MirrorStats,
  type SplitHandle,
} from '../../split/ops-port.js';
import {
  fieldsSince,
  parseNoiseOptions,
  type MirrorFieldStats,
  type MirrorNoiseOptions,
  type MirrorNoiseSettings,
  type MirrorNoiseStats,
} from '../../split/ops-port.js';
import { finiteNumberIn, integerIn, MAX_TIMER_MS, rejectUnknownKeys, requireObject } from '../../base/validate.js';

/** The `shadow` option of a rollout. */
export interface RolloutShadowOptions {
  /** Share of the calls copied to the subset during the phase, above 0 and at most 100. */
  percent: number;
  /** How long the phase runs before it is judged, in milliseconds. @default the rollout's `intervalMs` */
  intervalMs?: number;
  /** Largest accepted share of compared copies that answered differently, 0 to 1. @default 0 */
  maxMismatchRate?: number;
  /** Largest accepted share of copies that failed (no usable answer), 0 to 1.
   * @default the rollout's `analysis.maxErrorRate` */
  maxFailureRate?: number;
  /** Fewest copies accounted for (ended, and compared when possible) the phase is judged on;
   * with fewer it waits like a step (`analysis.maxWaitIntervals`), then rolls back. @default 1 */
  minCalls?: number;
  /** How copies are compared (as `setMirror()`'s `compare`, but never off). @default true */
  compare?: true | MirrorComparator;
  /** A baseline subset at weight 0 running the primaries' version (as `setMirror()`'s
   * `noise`): the phase is then judged on the noise-filtered mismatches. @default none */
  noise?: MirrorNoiseOptions;
}

/** Validated shadow options. @internal */
export interface ParsedShadowOptions {
  readonly percent: number;
  readonly intervalMs: number;
  readonly maxMismatchRate: number;
  readonly maxFailureRate: number;
  readonly minCalls: number;
  readonly compare: true | MirrorComparator;
  readonly noise: MirrorNoiseSettings | null;
}

/** What the shadow phase was judged on. */
export interface ShadowFigures {
  /** Milliseconds the phase covered (more when it waited for `minCalls`). */
  periodMs: number;
  /** Copies accounted for. */
  copies: number;
  failed: number;
  /** `failed / copies`; 0 without copies. */
  failureRate: number;
  matched: number;
  mismatched: number;
  /** `mismatched / (matched + mismatched)`; 0 when none was compared. */
  mismatchRate: number;
  /** Copies not sent because `maxInFlight` were in flight. */
  dropped: number;
  waitedIntervals: number;
}

type WindowCounts = Pick<MirrorStats, 'completed' | 'failed' | 'matched' | 'mismatched' | 'dropped'>;

/** The judged shadow phase, in a rollout's status and result. */
export interface ShadowRecord {
  percent: number;
  figures: ShadowFigures;
  verdict: 'pass' | 'fail';
  /** `mismatch rate 25% (2 of 8 compared copies) > 0%; failure rate 0% (0 of 8 copies) <= 1%`. */
  reason: string;
  /** The latest mismatch samples (bodies left out). */
  samples: MirrorStats['samples'];
  /** With `noise`: the three-way comparison over the phase. */
  noise?: ShadowNoise;
}

/** The three-way comparison of a shadow phase. */
export interface ShadowNoise {
  /** The baseline subset. */
  subset: string;
  /** Copies compared three ways in the phase. */
  compared: number;
  /** Copies compared without a baseline answer. */
  withoutBaseline: number;
  /** The fields that differed in the phase, their counts and noise rule over the phase, most
   * regressions first. */
  fields: MirrorFieldStats[];
}

/** Validates `raw` (the rollout's `shadow` option for a rollout of `context.subset`). @internal */
export function parseShadowOptions(
  raw: unknown,
  defaults: { intervalMs: number; maxErrorRate: number },
  context: { subset: string; subsetNames: readonly string[] },
): ParsedShadowOptions | null {
  if (raw === undefined) return null;
  const obj = requireObject(raw, 'shadow', 'an object with "percent"');
  rejectUnknownKeys(
    obj,
    ['percent', 'intervalMs', 'maxMismatchRate', 'maxFailureRate', 'minCalls', 'compare', 'noise'],
    'shadow.',
  );
  const percent = finiteNumberIn('shadow.percent', obj['percent'], 0, 100);
  if (percent === 0) throw typeErrorAt('shadow.percent', 'a percentage above 0 and at most 100', percent);
  const compare = obj['compare'] ?? true;
  if (compare !== true && typeof compare !== 'function')
    throw typeErrorAt('shadow.compare', 'true or a function (primary, mirror) => boolean | string', compare);
  const rate = (field: string, fallback: number) =>
    obj[field] === undefined ? fallback : finiteNumberIn(`shadow.${field}`, obj[field], 0, 1);
  return Object.freeze({
    percent,
    intervalMs:
      obj['intervalMs'] === undefined
        ? defaults.intervalMs
        : integerIn('shadow.intervalMs', obj['intervalMs'], 1, MAX_TIMER_MS),
    maxMismatchRate: rate('maxMismatchRate', 0),
    maxFailureRate: rate('maxFailureRate', defaults.maxErrorRate),
    minCalls: obj['minCalls'] === undefined ? 1 : integerIn('shadow.minCalls', obj['minCalls'], 0, 1e9),
    compare: compare as true | MirrorComparator,
    noise:
      obj['noise'] === undefined
        ? null
        : parseNoiseOptions(obj['noise'], context.subsetNames, context.subset, compare, 'shadow'),
  });
}

/**
 * One shadow phase on a split: sets the mirror at `start()`, reads its figures at `judge()`, and
 * puts back the mirror that was in force before at `stop()`.
 * @internal
 */
export class ShadowPhase {
  private previous: MirrorSettings | null = null;
  private own: MirrorSettings | null = null;
  private running = false;
  /** The phase's counts when its current window began (a resume begins a fresh one). */
  private baseline: WindowCounts = { completed: 0, failed: 0, matched: 0, mismatched: 0, dropped: 0 };
  /** The three-way comparison's figures when the window began (with `noise`). */
  private noiseBaseline: MirrorNoiseStats | null = null;

  constructor(
    private readonly split: SplitHandle,
    private readonly subset: string,
    readonly options: ParsedShadowOptions,
    /** Called when someone else changes the split's mirror during the phase. */
    private readonly onForeignChange: (mirror: MirrorSettings | null) => void,
  ) {}

  start(): void {
    this.previous = this.split.getMirror();
    this.running = true;
    this.split.on('mirror', this.onMirror);
    const { percent, compare, noise } = this.options;
    this.split.setMirror({ subset: this.subset, percent, compare, ...(noise !== null && { noise }) });
    this.own = this.split.getMirror();
    this.markWindow();
  }

  /** Begins a fresh window: copies accounted for before it no longer count (as a step's calls
   * before a pause do not), so a fix deployed while paused is judged on its own answers. */
  markWindow(): void {
    this.baseline = this.counts();
    this.noiseBaseline = this.split.stats().mirror?.noise ?? null;
  }

  private counts(): WindowCounts {
    const m = this.split.stats().mirror;
    return m === null
      ? { completed: 0, failed: 0, matched: 0, mismatched: 0, dropped: 0 }
      : { completed: m.completed, failed: m.failed, matched: m.matched, mismatched: m.mismatched, dropped: m.dropped };
  }

  /** The figures of the phase's mirror so far. */
  private figures(periodMs: number, waitedIntervals: number): ShadowFigures {
    const now = this.counts();
    const b = this.baseline;
    const m = {
      completed: now.completed - b.completed,
      failed: now.failed - b.failed,
      matched: now.matched - b.matched,
      mismatched: now.mismatched - b.mismatched,
      dropped: now.dropped - b.dropped,
    };
    const compared = m.matched + m.mismatched;
    return {
      periodMs,
      copies: m.completed,
      failed: m.failed,
      failureRate: m.completed === 0 ? 0 : m.failed / m.completed,
      matched: m.matched,
      mismatched: m.mismatched,
      mismatchRate: compared === 0 ? 0 : m.mismatched / compared,
      dropped: m.dropped,
      waitedIntervals,
    };
  }

  /**
   * At the end of an interval: `{ wait }` (the copies so far) when the phase has fewer than
   * `minCalls` copies and may wait `maxWaitIntervals` more, else the verdict.
   */
  evaluate(periodMs: number, waited: number, maxWaitIntervals: number): { wait: number } | { record: ShadowRecord } {
    const figures = this.figures(periodMs, waited);
    const { minCalls, percent } = this.options;
    if (figures.copies >= minCalls) return { record: this.judge(figures) };
    if (waited < maxWaitIntervals) return { wait: figures.copies };
    return {
      record: {
        percent,
        figures,
        verdict: 'fail',
        reason: `too few copies: ${figures.copies} of minCalls ${minCalls}`,
        samples: [],
      },
    };
  }

  /** The verdict on `figures` (which hold at least `minCalls` copies). */
  private judge(figures: ShadowFigures): ShadowRecord {
    const { maxMismatchRate, maxFailureRate } = this.options;
    const compared = figures.matched + figures.mismatched;
    const noise = this.noiseWindow();
    const mismatch =
      `mismatch rate ${percent(figures.mismatchRate)} (${figures.mismatched} of ${compared} compared ` + `copies)`;
    const failure = `failure rate ${percent(figures.failureRate)} (${figures.failed} of ${figures.copies} copies)`;
    const mismatchOver = figures.mismatchRate > maxMismatchRate;
    const failureOver = figures.failureRate > maxFailureRate;
    const reason = [
      `${mismatch} ${mismatchOver ? '>' : '<='} ${percent(maxMismatchRate)}${noise === undefined ? '' : regressionsText(noise)}`,
      `${failure} ${failureOver ? '>' : '<='} ${percent(maxFailureRate)}`,
    ];
    const failed = mismatchOver || failureOver;
    // The samples are the latest mismatches, oldest first: the window's are the last ones.
    const all = this.split.stats().mirror?.samples ?? [];
    const samples = (figures.mismatched === 0 ? [] : all.slice(-figures.mismatched)).map(
      ({ primary, mirror, ...rest }) => ({ ...rest, primary: withoutBody(primary), mirror: withoutBody(mirror) }),
    );
    const judged = failed ? reason.filter((_, i) => (i === 0 ? mismatchOver : failureOver)) : reason;
    const noiseFields = noise?.fields.filter((field) => field.noise).map((field) => field.path) ?? [];
    if (noiseFields.length > 0) judged.push(`noise: ${listed(noiseFields)}`);
    return {
      percent: this.options.percent,
      figures,
      verdict: failed ? 'fail' : 'pass',
      reason: judged.join('; '),
      samples,
      ...(noise !== undefined && { noise }),
    };
  }

  /** The three-way comparison over the window (with `noise`). */
  private noiseWindow(): ShadowNoise | undefined {
    const now = this.split.stats().mirror?.noise;
    if (this.options.noise === null || now === undefined) return undefined;
    const before = this.noiseBaseline;
    return {
      subset: now.subset,
      compared: now.compared - (before?.compared ?? 0),
      withoutBaseline: now.withoutBaseline - (before?.withoutBaseline ?? 0),
      fields: fieldsSince(now, before),
    };
  }

  /** Puts back the mirror from before the phase (unless someone replaced the phase's meanwhile). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.split.off('mirror', this.onMirror);
    if (this.split.closed || this.split.getMirror() !== this.own) return;
    this.split.setMirror(this.previous === null ? null : settingsToOptions(this.previous));
  }

  private readonly onMirror = ({ mirror }: { mirror: MirrorSettings | null }): void => {
    // Our own setMirror() emits before `own` is known; any later change is someone else's.
    if (this.own === null) return;
    this.onForeignChange(mirror);
  };
}

function withoutBody<T extends { response?: unknown }>(side: T): Omit<T, 'response'> {
  const { response: _response, ...rest } = side;
  return rest;
}

function percent(rate: number): string {
  return `${Math.round(rate * 10000) / 100}%`;
}

/** Where the regressions of a window are: ` at price (5%, 20 of 400 compared three ways)`. */
function regressionsText(noise: ShadowNoise): string {
  const regressing = noise.fields.filter((field) => !field.noise && field.regressions > 0);
  if (regressing.length === 0) return '';
  const rate = (field: MirrorFieldStats) => percent(noise.compared === 0 ? 0 : field.regressions / noise.compared);
  return ` at ${listed(regressing.map((field) => `${field.path} (${rate(field)}, ${field.regressions} of ${noise.compared} compared three ways)`))}`;
}

/** At most 8 items, then how many more. */
function listed(items: readonly string[]): string {
  const shown = items.slice(0, 8).join(', ');
  return items.length > 8 ? `${shown} and ${items.length - 8} more` : shown;
}
