/**
 * Weights from a JSON file, applied at start and whenever the file changes: one file mounted in
 * every replica (a Kubernetes ConfigMap volume) gives the whole fleet the same weights.
 * @module
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TrafficSplitClosedError, TrafficSplitRangeError, TrafficSplitTypeError } from '../../base/errors.js';
import { realClock, unrefTimer, type Clock, type ClockTimer } from '../../base/clock.js';
import { logError } from '../../split/ops-port.js';
import { readWeightsText } from './weights-file-read.js';
import type { SplitHandle } from '../../split/ops-port.js';
import { clockValue, functionValue, nonEmptyString, timerMs } from '../../base/validate.js';

/** Options of `watchWeightsFile()`. */
export interface WeightsFileOptions {
  /** Called with every refused file (besides the `'error'` event). */
  onError?: (error: Error) => void;
  /** Quiet time after a change before the file is read, in milliseconds: an editor or a
   * ConfigMap update touches several entries in a row. @default 25 */
  debounceMs?: number;
  /** Also poll the file's status this often, in milliseconds, for file systems whose change
   * events do not arrive (NFS, some container bind mounts); 0 turns polling off. @default 2000 */
  pollIntervalMs?: number;
  /** Time source of the debounce and the poll. For tests: with a fake clock a change is read
   * only when the test moves time past the debounce. @default the real clock */
  clock?: Clock;
}

/** Events of a weights-file watcher. */
export interface WeightsFileEvents {
  /** The file's weights are in force (at start and after each change of its content). */
  applied: [
    change: {
      path: string;
      weights: Record<string, number>;
      previous: Record<string, number>;
      /** The method overrides in force after the file applied. */
      methods: Record<string, Record<string, number>>;
    },
  ];
  /** The file could not be read or was refused; the weights in force stay. */
  error: [error: Error];
}

/** A running watcher. */
export interface WeightsFileWatcher extends EventEmitter<WeightsFileEvents> {
  /** The absolute path watched. */
  readonly path: string;
  /** Resolves once the file's weights are in force; rejects with the first read's error (the
   * watcher keeps watching, so a fixed file is still applied later). */
  readonly ready: Promise<void>;
  /** Stops watching. Idempotent; also happens when the split closes. */
  close(): void;
}

/** Defaults. */
export const DEFAULT_DEBOUNCE_MS = 25;
export const DEFAULT_POLL_INTERVAL_MS = 2_000;
/**
 * Applies the weights in the JSON file at `path` (`{ "v1": 90, "v2": 10 }`, every subset named,
 * as `setWeights()` wants) now and after every change of its content. It watches the file's
 * **directory**, not the file: a Kubernetes ConfigMap volume updates by renaming a new `..data`
 * symlink over the old one, and editors save by renaming a temporary file, and either replaces
 * the inode a file watch would hold. A refused file (unreadable, not JSON, invalid weights)
 * changes nothing; the error goes to `onError`, to `'error'` listeners, and is logged when
 * there are neither (so a bad file never throws from an event).
 *
 * The file applies when its content changes, not continuously: a `setWeights()` made since
 * stays until the file changes again. The watcher does not keep the process alive (its
 * watches are not persistent): it serves a process that is alive for other reasons.
 * @throws TrafficSplitClosedError after `split.close()`; TrafficSplitTypeError /
 * TrafficSplitRangeError for bad options.
 * @example
 * const watcher = watchWeightsFile(split, '/etc/traffic-split/weights.json');
 * watcher.on('applied', ({ weights }) => console.log('weights now', weights));
 * await watcher.ready;
 */
export function watchWeightsFile(
  split: SplitHandle,
  path: string,
  options: WeightsFileOptions = {},
): WeightsFileWatcher {
  if (split.closed) throw new TrafficSplitClosedError(split.name, 'watchWeightsFile()');
  return new WeightsFile(split, resolve(nonEmptyString('path', path, 'a file path')), parseOptions(options));
}

interface ParsedOptions {
  onError: ((error: Error) => void) | null;
  debounceMs: number;
  pollIntervalMs: number;
  clock: Clock;
}

function parseOptions(options: WeightsFileOptions): ParsedOptions {
  const { onError, debounceMs, pollIntervalMs, clock } = options;
  return {
    onError: onError === undefined ? null : functionValue<(error: Error) => void>('onError', onError),
    debounceMs: debounceMs === undefined ? DEFAULT_DEBOUNCE_MS : timerMs('debounceMs', debounceMs, 0),
    pollIntervalMs:
      pollIntervalMs === undefined ? DEFAULT_POLL_INTERVAL_MS : timerMs('pollIntervalMs', pollIntervalMs, 0),
    clock: clock === undefined ? realClock : clockValue('clock', clock),
  };
}

class WeightsFile extends EventEmitter<WeightsFileEvents> implements WeightsFileWatcher {
  readonly ready: Promise<void>;
  private closed = false;
  private directoryWatcher: FSWatcher | null = null;
  private debounce: ClockTimer | null = null;
  private pollTimer: ClockTimer | null = null;
  /** The file's identity at the last poll (mtime, inode, size; "" when missing). */
  private polledSignature: string | null = null;
  /** The content last processed, applied or refused: the same content is not processed twice. */
  private lastText: string | null = null;
  /** The last error reported, so one missing file is not reported at every directory event. */
  private lastFailure: string | null = null;
  private reading: Promise<Error | null> | null = null;
  private readAgain = false;

  constructor(
    private readonly split: SplitHandle,
    readonly path: string,
    private readonly options: ParsedOptions,
  ) {
    super();
    this.watchDirectory();
    if (options.pollIntervalMs > 0) void this.poll();
    split.on('close', this.onSplitClose);
    this.ready = this.reload().then((error) => {
      if (error !== null) throw error;
    });
    // Awaiting `ready` is optional: an unawaited rejection must not crash the process.
    this.ready.catch(() => {});
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.directoryWatcher?.close();
    if (this.pollTimer !== null) this.options.clock.clearTimeout(this.pollTimer);
    if (this.debounce !== null) this.options.clock.clearTimeout(this.debounce);
    this.split.off('close', this.onSplitClose);
  }

  private readonly onSplitClose = (): void => this.close();

  /**
   * Compares the file's status with the last poll's and schedules a read on a difference, then
   * polls again `pollIntervalMs` later. A poll of our own rather than `fs.watchFile()`, whose
   * interval runs on Node's timers: this one runs on the watcher's clock.
   */
  private async poll(): Promise<void> {
    this.pollTimer = null;
    let signature = '';
    try {
      const stats = await stat(this.path);
      signature = `${stats.mtimeMs}:${stats.ino}:${stats.size}`;
    } catch {
      // Missing or unreadable: "" until it appears; the read reports why.
    }
    if (this.closed) return;
    if (this.polledSignature !== null && signature !== this.polledSignature) this.schedule();
    this.polledSignature = signature;
    this.pollTimer = this.options.clock.setTimeout(() => void this.poll(), this.options.pollIntervalMs);
    unrefTimer(this.pollTimer);
  }

  private watchDirectory(): void {
    try {
      // Any event in the directory triggers a read: with a ConfigMap the names that change
      // (`..data`, `..2024_01_01_...`) are not the file's, and comparing content is cheap.
      this.directoryWatcher = watch(dirname(this.path), { persistent: false }, () => this.schedule());
      this.directoryWatcher.on('error', (error) =>
        this.report(new Error(`${this.path}: watching the directory failed (${error.message}); polling only`)),
      );
    } catch (error) {
      this.report(new Error(`${this.path}: cannot watch the directory (${(error as Error).message}); polling only`));
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce !== null) this.options.clock.clearTimeout(this.debounce);
    this.debounce = this.options.clock.setTimeout(() => {
      this.debounce = null;
      void this.reload();
    }, this.options.debounceMs);
    unrefTimer(this.debounce);
  }

  /** One read at a time, in order: a change seen during a read triggers one more read after it,
   * so an older content can never be applied after a newer one. */
  private reload(): Promise<Error | null> {
    if (this.reading !== null) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      let outcome: Error | null;
      do {
        this.readAgain = false;
        outcome = await this.readAndApply();
      } while (this.readAgain && !this.closed);
      this.reading = null;
      return outcome;
    })();
    return this.reading;
  }

  private async readAndApply(): Promise<Error | null> {
    let text: string;
    try {
      text = await readWeightsText(this.path);
    } catch (error) {
      if (error instanceof TrafficSplitTypeError || error instanceof TrafficSplitRangeError)
        return this.refuse(error, null);
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      return this.refuse(new TrafficSplitTypeError(`${this.path}: cannot read the weights file (${code})`), null);
    }
    if (this.closed || text === this.lastText) return null;
    let weights: unknown;
    try {
      weights = JSON.parse(text);
    } catch {
      // V8's message quotes the text around the error: the file may be anything the path points
      // at (a symlink to a secret), so only its size is reported.
      return this.refuse(
        new TrafficSplitTypeError(
          `${this.path}: expected JSON weights such as {"v1": 90, "v2": ` +
            `10}, got ${text.length} characters that are not valid JSON`,
        ),
        text,
      );
    }
    const previous = this.split.getWeights();
    try {
      const { split, methods } = fileWeights(weights, this.split.getMethodWeights());
      this.split.setWeights(split as Record<string, number>, methods === undefined ? undefined : { methods });
    } catch (error) {
      return this.refuse(withPath(this.path, withoutFileContent(error)), text);
    }
    this.lastText = text;
    this.lastFailure = null;
    this.emit('applied', {
      path: this.path,
      weights: this.split.getWeights(),
      previous,
      methods: this.split.getMethodWeights(),
    });
    return null;
  }

  /** Records a refused content (null: unreadable, so the next readable content is processed
   * whatever it is) and reports the error; an unreadable file is reported once, not at every
   * directory event, until something is applied. */
  private refuse(error: Error, text: string | null): Error {
    this.lastText = text;
    if (text !== null || error.message !== this.lastFailure) this.report(error);
    this.lastFailure = error.message;
    return error;
  }

  private report(error: Error): void {
    this.options.onError?.(error);
    // An 'error' event without a listener would throw from a file-system callback.
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else if (this.options.onError === null) logError(error.message);
  }
}

/**
 * What a file asks for. Two forms: the weights alone (`{"v1": 90, "v2": 10}`: method overrides
 * untouched), or `{"weights": {...}, "methodWeights": {...}}`, where `methodWeights` is the whole
 * set of overrides (those in force and not in the file are removed). The forms cannot be
 * confused: a subset's weight is a number, never an object.
 */
function fileWeights(
  json: unknown,
  inForce: Record<string, Record<string, number>>,
): { split: unknown; methods?: Record<string, Record<string, number> | null> } {
  const obj = json as Record<string, unknown> | null;
  const weights = obj?.['weights'];
  if (typeof obj !== 'object' || obj === null || typeof weights !== 'object' || weights === null)
    return { split: json };
  const unknownKey = Object.keys(obj).find((key) => key !== 'weights' && key !== 'methodWeights');
  if (unknownKey !== undefined)
    throw new TrafficSplitTypeError(`${unknownKey}: unknown key beside "weights" (expected "methodWeights")`);
  const methods = obj['methodWeights'];
  if (methods === undefined) return { split: weights };
  if (typeof methods !== 'object' || methods === null || Array.isArray(methods))
    throw new TrafficSplitTypeError('methodWeights: expected an object mapping method names to weights');
  const gone = Object.keys(inForce).filter((key) => !Object.hasOwn(methods, key));
  const removed = Object.fromEntries(gone.map((key) => [key, null]));
  return { split: weights, methods: { ...removed, ...(methods as Record<string, Record<string, number>>) } };
}

/**
 * The validation error without the rejected value when that value is a string, an array or an
 * object: the file may be anything the path points at (a symlink to a key or a token), and its
 * content must not reach the logs. Numbers, booleans and null are kept (they say what is wrong
 * and reveal nothing). Same class and code.
 */
function withoutFileContent(error: unknown): unknown {
  if (!(error instanceof TrafficSplitTypeError || error instanceof TrafficSplitRangeError)) return error;
  // describeValue's rendering ends the message: `shown` (kind).
  const message = error.message.replace(
    /`[\s\S]*` \((string|array|object)\)$/,
    (_all, kind: string) => `a value of type ${kind} (not shown: it came from a file)`,
  );
  if (message === error.message) return error;
  return error instanceof TrafficSplitRangeError
    ? new TrafficSplitRangeError(message)
    : new TrafficSplitTypeError(message);
}

/** The validation error with the file's path in front, same class and code. */
function withPath(path: string, error: unknown): Error {
  if (error instanceof TrafficSplitRangeError) return new TrafficSplitRangeError(`${path}: ${error.message}`);
  if (error instanceof TrafficSplitTypeError) return new TrafficSplitTypeError(`${path}: ${error.message}`);
  return error instanceof Error ? error : new Error(String(error));
}
