/**
 * One metric of a canary against its baseline, judged sequentially, within each stratum (a
 * method) and over all of them: the tests' state, updated per call in O(1).
 * @module
 */
import { BASELINE, CANARY, LatencyBlocks, RateBlocks, type BlockFormer, type Side } from './blocks.js';
import { MarginTests, type MetricKind, type RegressionEvidence } from './margin-tests.js';
import type { MeanBet } from './mean-bet.js';

export type { MetricKind, RegressionEvidence } from './margin-tests.js';

/** The stratum of the calls of strata nobody declared (gRFC A66 names unregistered methods so). */
export const OTHER_STRATUM = 'other';

/** The names of spare strata until they are claimed: no method name starts with a NUL. */
const SPARE = '\u0000spare:';

/** One metric the judge compares. */
export interface SequentialMetric {
  /** Its name in reasons: `errors`, `latency`, `time to first message`. */
  name: string;
  kind: MetricKind;
  /** A rate: the largest accepted increase of the canary's rate, in [0, 1). A latency: the
   * largest accepted ratio of the canary's to the baseline's (median of the ratio), >= 1. */
  margin: number;
}

/** Calls (and, for a rate, failures) per side: index CANARY or BASELINE. */
export interface SideCounts {
  readonly calls: [canary: number, baseline: number];
  readonly failures: [canary: number, baseline: number];
}

/** The moment a test fired: the calls its scope had seen, and its e-value then. */
export interface Firing {
  /** The stratum whose test fired, or null for the test pooled over strata. */
  stratum: string | null;
  calls: { canary: number; baseline: number };
  eValue: number;
  /** Observations of the whole judge before it (orders firings of different tests). */
  sequence: number;
}

/** One stratum's blocks, tests and counts. */
export interface StratumState extends SideCounts {
  /** Its name; a spare stratum is named by the first unknown name observed into it. */
  name: string;
  readonly tests: MarginTests;
  regressionFiring: Firing | null;
  equivalenceFiring: Firing | null;
}

/** Options of a `SequentialComparison`. */
export interface ComparisonOptions {
  kind: MetricKind;
  /** A rate: the largest accepted increase, in [0, 1). A latency: the largest accepted ratio, >= 1. */
  margin: number;
  /** Chance of a false regression over the comparison's life, all strata together. */
  regressionAlpha: number;
  /** Chance of a false equivalence of one scope (the pooled test, or one stratum). */
  equivalenceAlpha: number;
  /** The strata judged one by one; calls of any other stratum go to `OTHER_STRATUM`. None: no strata. */
  strata?: readonly string[];
  /** Strata reserved, with their share of alpha, for names first observed later: each of the
   * first `spareStrata` unknown names gets one (then `OTHER_STRATUM`). @default 0 */
  spareStrata?: number;
  /** What a rollback needs. @default 'beyond-margin' */
  evidence?: RegressionEvidence;
}

/**
 * A metric's sequential comparison. Unstratified (no `strata`), one pair of tests sees every
 * call. Stratified, each stratum has its own blocks (a block never mixes strata, so a
 * different mix of strata between the versions biases nothing) and its own tests, and a pooled
 * pair of tests bets on the blocks of all strata (the sequential counterpart of
 * Cochran-Mantel-Haenszel: it finds a regression spread over every stratum). The regression
 * alpha is split by Bonferroni: half to the pooled test, half shared equally by the strata, so
 * the chance of any false regression stays below `regressionAlpha`.
 */
export class SequentialComparison implements SideCounts {
  readonly strata: readonly StratumState[];
  /** Tests over all strata; null when there is one stratum (its own tests are the pooled ones). */
  readonly pooled: MarginTests | null;
  readonly calls: [number, number] = [0, 0];
  readonly failures: [number, number] = [0, 0];
  pooledRegression: Firing | null = null;
  pooledEquivalence: Firing | null = null;
  private readonly formers: readonly BlockFormer[];
  private readonly indexes = new Map<string, number>();
  private readonly other: number;
  /** The next spare stratum, and the end of the spares. */
  private nextSpare: number;
  private readonly spareEnd: number;

  constructor(readonly options: Readonly<ComparisonOptions>) {
    const declared = [...new Set(options.strata ?? [])].filter((name) => !name.startsWith(SPARE));
    const spares = Array.from({ length: Math.max(0, Math.floor(options.spareStrata ?? 0)) }, (_, i) => `${SPARE}${i}`);
    const names = declared.length + spares.length === 0 ? [''] : [...declared, ...spares];
    if (names.length > 1 && !names.includes(OTHER_STRATUM)) names.push(OTHER_STRATUM);
    // One stratum with no name (a single spare) is the pool.
    if (names.length === 1) names[0] = '';
    this.nextSpare = names.length === 1 ? 0 : declared.length;
    this.spareEnd = names.length === 1 ? 0 : declared.length + spares.length;
    const split = names.length > 1 ? options.regressionAlpha / 2 : options.regressionAlpha;
    const { kind, margin, equivalenceAlpha, evidence } = options;
    this.strata = names.map((name) => ({
      name,
      tests: new MarginTests(kind, margin, split / names.length, equivalenceAlpha, evidence),
      calls: [0, 0],
      failures: [0, 0],
      regressionFiring: null,
      equivalenceFiring: null,
    }));
    names.forEach((name, index) => this.indexes.set(name, index));
    this.formers = names.map(() => (kind === 'rate' ? new RateBlocks() : new LatencyBlocks(margin)));
    this.pooled = names.length > 1 ? new MarginTests(kind, margin, split, equivalenceAlpha, evidence) : null;
    this.other = names.length > 1 ? names.indexOf(OTHER_STRATUM) : 0;
  }

  /**
   * Adds one call of `side` in `stratum` (ignored without strata). `value`: 1 for a failure and
   * 0 for a success (a rate), or the call's duration (a latency). `sequence` orders firings.
   */
  observe(stratum: string, side: Side, value: number, sequence: number): void {
    const index = this.strata.length === 1 ? 0 : (this.indexes.get(stratum) ?? this.claim(stratum));
    const state = this.strata[index]!;
    state.calls[side]++;
    this.calls[side]++;
    if (this.options.kind === 'rate') {
      state.failures[side] += value;
      this.failures[side] += value;
    }
    const former = this.formers[index]!;
    const y = former.observe(side, value);
    if (Number.isNaN(y)) return;
    const { tests } = state;
    tests.feed(y, former.unscaled);
    const scope = this.pooled === null ? null : state.name;
    state.regressionFiring ??= firing(tests.regressionShown, tests.regression, state, scope, sequence);
    state.equivalenceFiring ??= firing(tests.equivalence.fired, tests.equivalence, state, scope, sequence);
    const pooled = this.pooled;
    if (pooled === null) return;
    pooled.feed(y, former.unscaled);
    this.pooledRegression ??= firing(pooled.regressionShown, pooled.regression, this, null, sequence);
    this.pooledEquivalence ??= firing(pooled.equivalence.fired, pooled.equivalence, this, null, sequence);
  }

  /** The index for a name not seen before: the next spare stratum, named after it, else `other`. */
  private claim(stratum: string): number {
    if (this.nextSpare >= this.spareEnd || stratum === OTHER_STRATUM) return this.other;
    const index = this.nextSpare++;
    const state = this.strata[index]!;
    this.indexes.delete(state.name);
    state.name = stratum;
    this.indexes.set(stratum, index);
    return index;
  }

  /** The first regression that fired (pooled or a stratum's), or null. */
  regression(): Firing | null {
    let first = this.pooledRegression;
    for (const state of this.strata) {
      const each = state.regressionFiring;
      if (each !== null && (first === null || each.sequence < first.sequence)) first = each;
    }
    return first;
  }

  /**
   * Whether equivalence is shown: by the pooled test (`pooled`), or by every stratum that has
   * formed a block (`every-stratum`: an intersection-union test, each at the full alpha).
   */
  equivalence(rule: 'pooled' | 'every-stratum'): boolean {
    if (this.pooled === null) return this.strata[0]!.equivalenceFiring !== null;
    if (rule === 'pooled') return this.pooledEquivalence !== null && !this.strata.some(leaningToRegression);
    const active = this.strata.filter((state) => state.tests.regression.count > 0);
    return active.length > 0 && active.every((state) => state.equivalenceFiring !== null);
  }

  /** Whether any block has formed (a metric without one has nothing to judge). */
  get judged(): boolean {
    return (this.pooled ?? this.strata[0]!.tests).regression.count > 0;
  }

  /** Starts every equivalence test afresh (a new step); regression tests go on. */
  resetEquivalence(): void {
    this.pooled?.resetEquivalence();
    this.pooledEquivalence = null;
    for (const state of this.strata) {
      state.tests.resetEquivalence();
      state.equivalenceFiring = null;
    }
  }
}

function firing(
  shown: boolean,
  test: MeanBet,
  counts: SideCounts,
  stratum: string | null,
  sequence: number,
): Firing | null {
  if (!shown) return null;
  return {
    stratum,
    calls: { canary: counts.calls[CANARY], baseline: counts.calls[BASELINE] },
    eValue: test.eValue,
    sequence,
  };
}

/**
 * A stratum whose estimate is beyond the margin, or whose regression test is half-way to firing
 * (its wealth at the square root of its threshold): the pooled equivalence of every stratum must
 * not promote a step while one method's regression is still being shown (a rare method's
 * evidence grows more slowly than the pool's). It only holds a promotion back, so neither bound
 * of the judge changes; between equal versions it delays one until the stratum's estimate is
 * back within the margin.
 */
function leaningToRegression(state: StratumState): boolean {
  const { tests } = state;
  const bet = tests.regression;
  if (bet.count === 0) return false;
  // Its estimate beyond the margin: the pool's equivalence does not speak for this method yet.
  if (tests.estimate > (tests.kind === 'rate' ? tests.margin : 0.5)) return true;
  return bet.logWealth >= Math.log(1 / bet.alpha) / 2;
}
