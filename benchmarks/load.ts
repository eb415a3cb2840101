/**
 * Load generators. `closedLoop` keeps C calls outstanding for a fixed time (warmup excluded) and
 * records every latency in a preallocated array; `recordSequence` makes calls one at a time and
 * records which server answered each, which is the only order-preserving way to observe a split.
 * Both are bounded in calls and in time.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { quantileInPlace } from './stats.js';

/** Starts one unary call and reports its outcome once. */
export type UnaryCall = (done: (error: Error | null) => void) => void;

export interface LoadOptions {
  /** Calls kept outstanding. */
  concurrency: number;
  /** Time before measuring starts (connections warm, JIT done). */
  warmupMs: number;
  /** Measured time. */
  durationMs: number;
  /** Upper bound on measured calls; also the size of the latency array. */
  maxCalls: number;
  /** Called when the measured window opens and when it closes (to read another process's CPU
   * over the same window). */
  onWindow?: (edge: 'start' | 'end') => void;
}

export interface LoadResult {
  /** Calls completed OK inside the measured window. */
  calls: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  /** Client process CPU (user + system) per completed call, in microseconds. */
  cpuUsPerCall: number;
}

/** Time allowed for outstanding calls to finish after the window closes before giving up. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Runs a closed loop: each completion immediately starts the next call, so exactly
 * `concurrency` calls are in flight. Completions inside [warmup end, warmup end + duration)
 * are measured; the loop stops issuing at the end of the window (or at `maxCalls`) and resolves
 * when every outstanding call has finished.
 */
export function closedLoop(call: UnaryCall, options: LoadOptions): Promise<LoadResult> {
  const latencies = new Float64Array(options.maxCalls);
  return new Promise((resolve, reject) => {
    const measureStart = performance.now() + options.warmupMs;
    const measureEnd = measureStart + options.durationMs;
    let recorded = 0;
    let errors = 0;
    let firstError: string | null = null;
    let outstanding = 0;
    let stopping = false;
    let windowStart = NaN;
    let windowEnd = NaN;
    let cpuStart: NodeJS.CpuUsage | null = null;
    let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
    const watchdog = setTimeout(
      () => {
        stopping = true;
        reject(
          new Error(`closed loop: ${outstanding} call(s) still outstanding ${DRAIN_TIMEOUT_MS} ms after the window`),
        );
      },
      options.warmupMs + options.durationMs + DRAIN_TIMEOUT_MS,
    );

    const finish = (): void => {
      clearTimeout(watchdog);
      const seconds = (windowEnd - windowStart) / 1000;
      const [p50Ms, p99Ms] = quantileInPlace(latencies, recorded, [0.5, 0.99]) as [number, number];
      const cpuUsPerCall = recorded > 0 ? (cpu.user + cpu.system) / recorded : NaN;
      resolve({ calls: recorded, errors, firstError, seconds, qps: recorded / seconds, p50Ms, p99Ms, cpuUsPerCall });
    };

    const onDone = (start: number, error: Error | null): void => {
      outstanding--;
      const end = performance.now();
      if (!stopping && end >= measureStart) {
        if (cpuStart === null) {
          options.onWindow?.('start');
          cpuStart = process.cpuUsage();
          windowStart = end;
        }
        if (end >= measureEnd || recorded >= options.maxCalls) {
          stopping = true;
          windowEnd = end;
          cpu = process.cpuUsage(cpuStart);
          options.onWindow?.('end');
        } else if (error !== null) {
          errors++;
          firstError ??= error.message;
        } else {
          latencies[recorded++] = end - start;
        }
      }
      if (!stopping) issue();
      else if (outstanding === 0) finish();
    };

    const issue = (): void => {
      outstanding++;
      const start = performance.now();
      call((error) => onDone(start, error));
    };

    for (let i = 0; i < options.concurrency; i++) issue();
  });
}

/** One call that resolves with the name of the server that answered. */
export type NamedCall = (index: number) => Promise<string>;

/** Servers observed, in call order, with the time each call started. */
export interface ObservedSequence {
  /** Index into `names` of the server that answered call i; -1 for a failed call. */
  subsets: Int16Array;
  /** `performance.now()` when call i started. */
  startedMs: Float64Array;
  /** How long call i took, in ms. */
  durationMs: Float64Array;
  /** Calls actually made (fewer than asked when the time limit struck). */
  length: number;
  errors: number;
  firstError: string | null;
}

/**
 * Makes up to `count` calls one after another (never two at once, so the order in which replies
 * arrive is the order in which the split picked), within `timeLimitMs`. `beforeCall(i)` runs
 * before call i: that is where a bench changes weights mid-stream.
 */
export async function recordSequence(
  count: number,
  names: readonly string[],
  call: NamedCall,
  timeLimitMs: number,
  beforeCall?: (index: number) => void | Promise<void>,
): Promise<ObservedSequence> {
  const subsets = new Int16Array(count);
  const startedMs = new Float64Array(count);
  const durationMs = new Float64Array(count);
  const deadline = performance.now() + timeLimitMs;
  let errors = 0;
  let firstError: string | null = null;
  let i = 0;
  for (; i < count && performance.now() < deadline; i++) {
    if (beforeCall !== undefined) await beforeCall(i);
    const start = performance.now();
    startedMs[i] = start;
    try {
      const server = await call(i);
      subsets[i] = names.indexOf(server);
    } catch (error) {
      subsets[i] = -1;
      errors++;
      firstError ??= (error as Error).message;
    }
    durationMs[i] = performance.now() - start;
  }
  return {
    subsets: subsets.subarray(0, i),
    startedMs: startedMs.subarray(0, i),
    durationMs: durationMs.subarray(0, i),
    length: i,
    errors,
    firstError,
  };
}
