/**
 * Per-subset call counters, shared by every channel of a split. Counting happens in the pick
 * result's `onCallStarted` / `onCallEnded` hooks through functions bound once per subset, so the
 * call path allocates nothing here.
 * @module
 */
import type { PickResult } from './grpc.js';

/** gRPC status codes 0..16; anything else is counted as UNKNOWN (2). */
const CODE_COUNT = 17;
const UNKNOWN_CODE = 2;

/** Marks the hook functions this module made, so a re-used pick result is not wrapped twice. */
const OWN_HOOKS = new WeakSet<object>();

export class SubsetCounters {
  readonly started: Float64Array;
  readonly finished: Float64Array;
  /** `codes[subset * 17 + code]`. */
  readonly codes: Float64Array;
  private readonly onStarted: (() => void)[];
  private readonly onEnded: ((code: number) => void)[];

  constructor(subsetCount: number) {
    this.started = new Float64Array(subsetCount);
    this.finished = new Float64Array(subsetCount);
    this.codes = new Float64Array(subsetCount * CODE_COUNT);
    this.onStarted = [];
    this.onEnded = [];
    for (let i = 0; i < subsetCount; i++) {
      const started = (): void => {
        this.started[i]!++;
      };
      const ended = (code: number): void => {
        this.finished[i]!++;
        const slot = code >= 0 && code < CODE_COUNT ? code : UNKNOWN_CODE;
        this.codes[i * CODE_COUNT + slot]!++;
      };
      OWN_HOOKS.add(started);
      OWN_HOOKS.add(ended);
      this.onStarted.push(started);
      this.onEnded.push(ended);
    }
  }

  /**
   * Makes a COMPLETE pick result count its call against `subset`. grpc-js's leaf pickers return
   * a fresh object with no hooks, which is filled in place (no allocation). A result that carries
   * a child policy's own hooks is copied, and both run.
   */
  attach(subset: number, result: PickResult): PickResult {
    const childStarted = result.onCallStarted;
    const childEnded = result.onCallEnded;
    if ((childStarted === null || OWN_HOOKS.has(childStarted)) && (childEnded === null || OWN_HOOKS.has(childEnded))) {
      result.onCallStarted = this.onStarted[subset]!;
      result.onCallEnded = this.onEnded[subset]!;
      return result;
    }
    const started = this.onStarted[subset]!;
    const ended = this.onEnded[subset]!;
    return {
      ...result,
      onCallStarted: () => {
        started();
        childStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        ended(code);
        childEnded?.(code, details, metadata);
      },
    };
  }

  /** Codes seen for one subset, by code number, zeros left out. */
  codesOf(subset: number): Map<number, number> {
    const out = new Map<number, number>();
    for (let code = 0; code < CODE_COUNT; code++) {
      const n = this.codes[subset * CODE_COUNT + code]!;
      if (n > 0) out.set(code, n);
    }
    return out;
  }
}
