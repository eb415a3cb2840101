/**
 * The mirror of one split (shadow traffic): the settings in force, the schedule that decides
 * which calls are copied, the figures, the copies in flight (so `close()` can end them), the
 * bytes the mirror holds (what `maxBufferedBytes` bounds) and the channels copies are made on.
 * @module
 */
import { emptyCounts, MirrorFigures, type ByteBudget, type MirrorCounts, type MirrorStats } from './mirror-figures.js';
import { CopyChannels } from './mirror-channels.js';
import type { MirrorSettings } from './mirror-options.js';
import { NoiseTally } from './noise/mirror-noise.js';
import { WeightedSchedule } from '../../algorithms/schedule/scheduler.js';

/** Schedule items: index 1 is "copy this call". */
const NO_COPY = 0;

/** What a call's method must be for a copy: unary, and listed when a list is given. */
export interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** A copy in flight, as the controller sees it: it can be ended early. */
export interface LiveCopy {
  cancel(details: string): void;
}

/**
 * One mirror configuration, from a `setMirror()` to the next. A copy decided under it belongs to
 * it until it is accounted for, even after another configuration replaced it.
 */
export class MirrorSession {
  /** False once replaced or closed: no copy is started under it any more. */
  active = true;
  readonly figures: MirrorFigures;
  /** The three-way comparison's counts, with `noise` (null without). */
  readonly noise: NoiseTally | null;
  private readonly schedule: WeightedSchedule;
  /** Draws given back by calls that turned out not eligible (see `draw`), oldest first. */
  private readonly returned: boolean[] = [];
  /** For a call drawn not to be copied: its first attempt tells whether it was eligible. */
  readonly declinedStart = (subset: number, first: boolean): void => {
    if (first && this.active && !this.eligible(subset)) this.giveBack(false);
  };
  private readonly methods: ReadonlySet<string> | null;

  constructor(
    readonly settings: MirrorSettings,
    /** Index of `settings.subset` in the split. */
    readonly subsetIndex: number,
    /** Index of `settings.noise.subset` in the split (-1 without a baseline). */
    readonly noiseIndex: number,
    lifetime: MirrorCounts,
    /** The split's byte bound, as this configuration's `maxBufferedBytes` sets it. */
    readonly budget: ByteBudget,
  ) {
    this.figures = new MirrorFigures(lifetime, settings.maxSamples, budget);
    this.noise = settings.noise === undefined ? null : new NoiseTally(settings.noise.subset, settings.noise.ratio);
    // The split's own deterministic schedule over two items, "don't copy" and "copy": over any
    // run of N decisions, N * percent / 100 copies within one (see scheduler.ts).
    this.schedule = new WeightedSchedule([100 - settings.percent, settings.percent]);
    this.methods = settings.methods === null ? null : new Set(settings.methods);
  }

  /** Whether calls of `method` are eligible: unary, and among `methods` when given. */
  accepts(method: MethodShape): boolean {
    return !method.requestStream && !method.responseStream && (this.methods === null || this.methods.has(method.path));
  }

  /** Whether a call whose attempt started on `subset` is eligible: not when it went to the
   * mirror subset itself, nor to the baseline (its answer is a baseline's already). */
  eligible(subset: number): boolean {
    return subset !== this.subsetIndex && subset !== this.noiseIndex;
  }

  /** Whether calls of `method` may be copied at all: eligible, and a percentage above 0. */
  mayCopy(method: MethodShape): boolean {
    return this.settings.percent > 0 && this.accepts(method);
  }

  /**
   * One decision of the schedule: copy this call or not. It is taken as the call is made, so a
   * call that is not copied carries nothing of the mirror's; a call that turns out not to be
   * eligible (it went to the mirror subset), or a copied call that never starts, gives its draw
   * back to the next call, so the percentage stays exact over the calls that are eligible.
   */
  draw(): boolean {
    if (this.returned.length > 0) return this.returned.shift()!;
    return this.schedule.next() !== NO_COPY;
  }

  /** A drawn call that cannot use its draw `copy`: the next call gets it. */
  giveBack(copy: boolean): void {
    this.returned.push(copy);
  }
}

/** The mirror state one split owns. */
export class MirrorController {
  /** The configuration in force, or null. Read once per call by the interceptor. */
  session: MirrorSession | null = null;
  /** The latest configuration, active or not, for `stats()`. */
  private latest: MirrorSession | null = null;
  /** Cumulative counts per subset, over every configuration that mirrored to it. */
  private readonly lifetimes: MirrorCounts[];
  private readonly live = new Set<LiveCopy>();
  /** Copies decided and not ended, over every configuration: what `maxInFlight` bounds, so a
   * new configuration does not get a fresh budget while the old one's copies still run. */
  private slots = 0;
  /** Bytes held, over every configuration: what `maxBufferedBytes` bounds, for the same reason. */
  private bufferedBytes = 0;
  private closedFlag = false;
  /** The channels copies are made on, one per client channel and mirror subset. */
  readonly copies: CopyChannels;

  constructor(
    readonly subsetNames: readonly string[],
    /** The split's id, which names its copy channels' targets. */
    splitId: string,
    /** `split.target`: copies are made for the split's own channels only. */
    readonly target: string,
  ) {
    this.lifetimes = subsetNames.map(() => emptyCounts());
    this.copies = new CopyChannels(splitId);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Puts validated settings in force (null: none). Copies in flight finish under their own
   * configuration; no copy starts under a replaced one. */
  set(settings: MirrorSettings | null): void {
    if (this.session !== null) this.session.active = false;
    const subset = settings === null ? -1 : this.subsetNames.indexOf(settings.subset);
    const noiseIndex = settings?.noise === undefined ? -1 : this.subsetNames.indexOf(settings.noise.subset);
    this.session =
      settings === null
        ? null
        : new MirrorSession(settings, subset, noiseIndex, this.lifetimes[subset]!, this.budgetOf(settings));
    if (this.session !== null) {
      // The samples of the configuration replaced are never shown again: their bytes go.
      this.latest?.figures.retire();
      this.latest = this.session;
    }
    // The baseline's copies go on copy channels of their own too (to the noise subset).
    // An answer compared must fit the byte bound: the copy channels refuse larger ones.
    const compares = settings !== null && (settings.compare !== false || settings.noise !== undefined);
    const answerLimit = compares ? settings.maxBufferedBytes : null;
    this.copies.keepOnly(this.session === null ? [] : [subset, noiseIndex].filter((index) => index >= 0), answerLimit);
  }

  /** The byte bound as a configuration sees it: its own `maxBufferedBytes` over the bytes every
   * configuration holds. */
  private budgetOf(settings: MirrorSettings): ByteBudget {
    return {
      reserve: (bytes) => {
        if (this.bufferedBytes + bytes > settings.maxBufferedBytes) return false;
        this.bufferedBytes += bytes;
        return true;
      },
      release: (bytes) => {
        this.bufferedBytes -= bytes;
      },
    };
  }

  get settings(): MirrorSettings | null {
    return this.session?.settings ?? null;
  }

  /** Figures of the latest configuration; null if the split never had a mirror. */
  stats(): MirrorStats | null {
    const latest = this.latest;
    if (latest === null) return null;
    const stats = latest.figures.snapshot(
      latest.settings.subset,
      latest.settings.percent,
      latest.active,
      this.bufferedBytes,
    );
    return latest.noise === null ? stats : { ...stats, noise: latest.noise.snapshot() };
  }

  /** Takes an in-flight slot for a copy of `session`, or returns false at its `maxInFlight`. */
  takeSlot(session: MirrorSession): boolean {
    if (this.slots >= session.settings.maxInFlight) return false;
    this.slots++;
    session.figures.inFlight++;
    return true;
  }

  /** Gives back a slot taken by `takeSlot` (the copy ended, or never started). */
  releaseSlot(session: MirrorSession): void {
    this.slots--;
    session.figures.inFlight--;
  }

  track(copy: LiveCopy): void {
    this.live.add(copy);
  }

  untrack(copy: LiveCopy): void {
    this.live.delete(copy);
  }

  /** Copies in flight on the wire, over every configuration. */
  get liveCopies(): number {
    return this.live.size;
  }

  /** No copy starts any more; the copies in flight end now, CANCELLED (counted as failed), and
   * the copy channels close. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.session !== null) this.session.active = false;
    for (const copy of [...this.live]) copy.cancel('traffic_split: split closed while the mirror copy was in flight');
    this.copies.close();
  }
}
