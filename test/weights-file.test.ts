import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { TrafficSplit } from '../src/index.js';
import { watchWeightsFile, type WeightsFileWatcher } from '../src/ops/index.js';
import { FakeClock } from './helpers/fake-clock.js';
import { runFixture } from './helpers/fixture-process.js';
import { rig } from './helpers/rig.js';
import { serversOf } from './helpers/rollout-rig.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weights-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function offlineSplit(t: TestContext): TrafficSplit {
  const split = new TrafficSplit({
    subsets: { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:1' },
    weights: { v1: 1, v2: 0 },
  });
  t.after(() => split.close());
  return split;
}

/** Polling off: these tests prove the directory watch alone sees each kind of change. */
function watch(t: TestContext, split: TrafficSplit, path: string): WeightsFileWatcher {
  const watcher = watchWeightsFile(split, path, { pollIntervalMs: 0 });
  t.after(() => watcher.close());
  return watcher;
}

/**
 * The next `event`, or a failure after 5 s. The timer is a plain ref'd one on purpose: the
 * watcher holds the event loop open for nothing (by design), so while a test waits for a file
 * event this timer is what keeps the process running (AbortSignal.timeout's timer is unref'd).
 */
async function next<T extends unknown[]>(watcher: WeightsFileWatcher, event: 'applied' | 'error'): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no '${event}' event within 5 s`)), 5_000);
  try {
    return (await once(watcher, event, { signal: controller.signal })) as T;
  } finally {
    clearTimeout(timer);
  }
}
/** Waits (5 s at most, a hang guard) until the fake clock holds a timer due `delayMs` from now:
 * file events and status reads arrive asynchronously, and set the clock's timers when they do. */
async function timerSet(clock: FakeClock, delayMs: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!clock.pending.includes(delayMs)) {
    if (Date.now() > deadline) throw new Error(`no timer of ${delayMs} ms; pending ${JSON.stringify(clock.pending)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

type Applied = [{ path: string; weights: Record<string, number>; previous: Record<string, number> }];
const nextApplied = (watcher: WeightsFileWatcher) => next<Applied>(watcher, 'applied');
const nextError = (watcher: WeightsFileWatcher) => next<[Error]>(watcher, 'error');

/** A ConfigMap volume as the kubelet writes it: `weights.json -> ..data/weights.json`,
 * `..data -> ..<timestamp>`, and an update renames a new `..data` symlink over the old one. */
function configMapVolume(dir: string, content: string): { path: string; update(content: string): void } {
  let version = 0;
  const writeVersion = (text: string): string => {
    const name = `..2026_01_01_00_00_0${version++}`;
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'weights.json'), text);
    return name;
  };
  symlinkSync(writeVersion(content), join(dir, '..data'));
  symlinkSync(join('..data', 'weights.json'), join(dir, 'weights.json'));
  return {
    path: join(dir, 'weights.json'),
    update(text: string) {
      const name = writeVersion(text);
      symlinkSync(name, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    },
  };
}

describe('weights file', () => {
  it('applies the file at start, to the next call', async (t) => {
    const r = await rig(t, { v1: 1, v2: 0 });
    const path = join(tempDir(t), 'weights.json');
    writeFileSync(path, '{ "v1": 0, "v2": 1 }\n');
    const watcher = watch(t, r.split, path);
    const [applied] = await Promise.all([nextApplied(watcher), watcher.ready]);
    assert.deepEqual(applied, [{ path, weights: { v1: 0, v2: 1 }, previous: { v1: 1, v2: 0 }, methods: {} }]);
    assert.deepEqual(await serversOf(r.client, 3), ['v2', 'v2', 'v2']);
  });

  it('applies a file that starts with a UTF-8 byte-order mark', async (t) => {
    const split = offlineSplit(t);
    const volume = configMapVolume(tempDir(t), '\ufeff{"v1": 30, "v2": 70}');
    const watcher = watchWeightsFile(split, volume.path, { pollIntervalMs: 0 });
    t.after(() => watcher.close());
    await watcher.ready;
    assert.deepEqual(split.getWeights(), { v1: 30, v2: 70 });
  });

  it('applies a file replaced by an atomic rename', async (t) => {
    const split = offlineSplit(t);
    const dir = tempDir(t);
    const path = join(dir, 'weights.json');
    writeFileSync(path, '{"v1": 90, "v2": 10}');
    const watcher = watch(t, split, path);
    await watcher.ready;
    assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    const applied = nextApplied(watcher);
    writeFileSync(join(dir, '.weights.json.tmp'), '{"v1": 10, "v2": 90}');
    renameSync(join(dir, '.weights.json.tmp'), path);
    assert.deepEqual((await applied)[0].weights, { v1: 10, v2: 90 });
    assert.deepEqual(split.getWeights(), { v1: 10, v2: 90 });
  });

  it('applies a ConfigMap update (the ..data symlink swapped by rename)', async (t) => {
    const split = offlineSplit(t);
    const volume = configMapVolume(tempDir(t), '{"v1": 90, "v2": 10}');
    const watcher = watch(t, split, volume.path);
    await watcher.ready;
    assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    for (const weights of [
      { v1: 50, v2: 50 },
      { v1: 0, v2: 100 },
    ]) {
      const applied = nextApplied(watcher);
      volume.update(JSON.stringify(weights));
      assert.deepEqual((await applied)[0].weights, weights);
      assert.deepEqual(split.getWeights(), weights);
    }
  });

  it('refuses a broken file with the validation message and keeps the weights, then applies a fixed one', async (t) => {
    const split = offlineSplit(t);
    const volume = configMapVolume(tempDir(t), '{"v1": 90, "v2": 10}');
    const errors: string[] = [];
    const watcher = watchWeightsFile(split, volume.path, {
      pollIntervalMs: 0,
      onError: (e) => errors.push(e.message),
    });
    t.after(() => watcher.close());
    await watcher.ready;
    for (const [content, message] of [
      // A string, array or object from the file is never echoed: the path may lead to a secret.
      [
        '{"v1": 90, "v2": "10"}',
        'weights.v2: expected a finite number from 0 to 1000000000, ' +
          'got a value of type string (not shown: it came from a file)',
      ],
      [
        '{"v1": 90, "v2": 10, "private_key": "-----BEGIN PRIVATE KEY-----"}',
        'weights.private_key: unknown subset (subsets: v1, v2), ' +
          'got a value of type string (not shown: it came from a file)',
      ],
      ['{"v1": 90, "v2": -1}', 'weights.v2: expected a finite number from 0 to 1000000000, got `-1` (number)'],
      ['{"v1": 90}', 'weights.v2: missing; every subset needs a weight (0 sends it no calls)'],
      [
        '{"v1": 90, "v2": 10',
        'expected JSON weights such as {"v1": 90, "v2": 10}, got 19 characters that are not valid JSON',
      ],
      [
        'SECRET=hunter2',
        'expected JSON weights such as {"v1": 90, "v2": 10}, got 14 characters that are not valid JSON',
      ],
    ] as const) {
      const error = nextError(watcher);
      volume.update(content);
      const [refused] = await error;
      assert.equal(refused.message, `${volume.path}: ${message}`);
      assert.equal((refused as Error & { code: string }).code, 'ERR_SPLIT_INVALID_CONFIG');
      assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    }
    assert.equal(errors.length, 6, 'onError saw every refusal');
    const applied = nextApplied(watcher);
    volume.update('{"v1": 20, "v2": 80}');
    assert.deepEqual((await applied)[0].weights, { v1: 20, v2: 80 });
  });

  it('rejects ready when the file is missing at start, and applies it once it appears', async (t) => {
    const split = offlineSplit(t);
    const path = join(tempDir(t), 'weights.json');
    const watcher = watchWeightsFile(split, path, { pollIntervalMs: 20 });
    t.after(() => watcher.close());
    const refused = nextError(watcher);
    await assert.rejects(watcher.ready, { message: `${path}: cannot read the weights file (ENOENT)` });
    await refused;
    const applied = nextApplied(watcher);
    writeFileSync(path, '{"v1": 3, "v2": 1}');
    assert.deepEqual((await applied)[0].weights, { v1: 3, v2: 1 });
  });

  it('stops when the split closes', async (t) => {
    const split = offlineSplit(t);
    const dir = tempDir(t);
    const path = join(dir, 'weights.json');
    writeFileSync(path, '{"v1": 1, "v2": 1}');
    const clock = new FakeClock();
    const watcher = watchWeightsFile(split, path, { clock, pollIntervalMs: 1_000 });
    t.after(() => watcher.close());
    await watcher.ready;
    split.close();
    let events = 0;
    watcher.on('applied', () => events++).on('error', () => events++);
    writeFileSync(path, '{"v1": 2, "v2": 1}');
    // Every read after the first waits for a debounce timer on the watcher's clock: a closed
    // watcher has none left and sets none, so no time that passes can make it read again.
    assert.deepEqual(clock.pending, []);
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(clock.pending, []);
    assert.equal(events, 0);
    assert.throws(() => watchWeightsFile(split, path), { name: 'TrafficSplitClosedError' });
    const open = offlineSplit(t);
    assert.throws(() => watchWeightsFile(open, ''), { message: 'path: expected a file path, got `""` (string)' });
    assert.throws(() => watchWeightsFile(open, path, { debounceMs: -1 }), {
      message: 'debounceMs: expected an integer from 0 to 2147483647, got `-1` (number)',
    });
    assert.throws(() => watchWeightsFile(open, path, { pollIntervalMs: '20' as never }), {
      message: 'pollIntervalMs: expected an integer number of milliseconds, got `"20"` (string)',
    });
    assert.throws(() => watchWeightsFile(open, path, { clock: { now: () => 0 } as never }), {
      message: 'clock.setTimeout: expected a function, got undefined',
    });
  });

  it('reads a changed file once the debounce has passed on its clock, not before', async (t) => {
    const split = offlineSplit(t);
    const dir = tempDir(t);
    const path = join(dir, 'weights.json');
    writeFileSync(path, '{"v1": 90, "v2": 10}');
    const clock = new FakeClock();
    const watcher = watchWeightsFile(split, path, { clock, debounceMs: 25, pollIntervalMs: 0 });
    t.after(() => watcher.close());
    await watcher.ready;
    let applied = 0;
    watcher.on('applied', () => applied++);
    writeFileSync(join(dir, '.tmp'), '{"v1": 10, "v2": 90}');
    renameSync(join(dir, '.tmp'), path);
    await timerSet(clock, 25);
    clock.advance(24);
    assert.deepEqual(clock.pending, [1], 'the debounce still runs');
    assert.equal(applied, 0);
    assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    const next = nextApplied(watcher);
    clock.advance(1);
    assert.deepEqual((await next)[0].weights, { v1: 10, v2: 90 });
    assert.equal(applied, 1);
  });

  it(
    'polls on its clock: a file in a directory that cannot ' +
      'be watched is applied at the first poll after it appears',
    async (t) => {
      const split = offlineSplit(t);
      // The directory does not exist yet, so it cannot be watched: only the poll can see the file.
      const dir = join(tempDir(t), 'later');
      const path = join(dir, 'weights.json');
      const clock = new FakeClock();
      const errors: string[] = [];
      const watcher = watchWeightsFile(split, path, {
        clock,
        debounceMs: 25,
        pollIntervalMs: 1_000,
        onError: (e) => errors.push(e.message),
      });
      t.after(() => watcher.close());
      await assert.rejects(watcher.ready, { message: `${path}: cannot read the weights file (ENOENT)` });
      assert.match(errors[0]!, /: cannot watch the directory \(.*\); polling only$/);
      await timerSet(clock, 1_000);
      mkdirSync(dir);
      writeFileSync(path, '{"v1": 1, "v2": 4}');
      clock.advance(999);
      assert.deepEqual(clock.pending, [1], 'the poll has not run yet');
      clock.advance(1);
      // The poll's status read sees the new file and sets the debounce; the read follows it.
      await timerSet(clock, 25);
      const applied = nextApplied(watcher);
      clock.advance(25);
      assert.deepEqual((await applied)[0].weights, { v1: 1, v2: 4 });
      assert.deepEqual(split.getWeights(), { v1: 1, v2: 4 });
    },
  );

  it(
    'refuses a FIFO and symlinks to /dev/zero and /dev/urandom without blocking ' +
      'or reading them, then applies a valid file; the process exits by itself',
    async () => {
      const run = await runFixture('weights-file-hostile', 120_000);
      assert.deepEqual([run.code, run.signal], [0, null], run.stdout);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines.at(-1), 'done');
      const results = lines.slice(0, -1).map(
        (line) =>
          JSON.parse(line) as {
            name: string;
            refusal: string;
            errors: string[];
            ms: number;
            rssGrowth: number;
            weights: unknown;
            path: string;
            read?: string;
          },
      );
      const expected: Record<string, string> = {
        fifo: 'a FIFO',
        'dev-zero': 'a character device',
        'dev-urandom': 'a character device',
      };
      for (const [name, kind] of Object.entries(expected)) {
        const result = results.find((r) => r.name === name)!;
        const message = `${result.path}: expected a regular file, got ${kind}`;
        assert.equal(result.refusal, message);
        assert.deepEqual(result.errors, [message]);
        // Reading /dev/zero used to take 605 MB; at most the 1 MiB cap may be allocated now.
        assert.ok(result.rssGrowth < 8 * 1024 * 1024, `${name}: RSS grew by ${result.rssGrowth} bytes`);
        assert.deepEqual(result.weights, { v1: 1, v2: 3 });
        console.log(`${name}: refused in ${result.ms} ms, RSS +${(result.rssGrowth / 1024).toFixed(0)} KiB`);
      }
      assert.deepEqual(
        results.find((r) => r.name === 'threadpool'),
        { name: 'threadpool', read: 'plain', sync: 'plain' },
      );
    },
  );

  it(
    'refuses a directory, a file over the 1 MiB cap and a ' +
      'half-written file, then applies the file once it is valid',
    async (t) => {
      const split = offlineSplit(t);
      const dir = tempDir(t);
      const path = join(dir, 'weights.json');
      mkdirSync(path);
      const watcher = watch(t, split, path);
      const refusals: string[] = [];
      watcher.on('error', (error) => refusals.push(error.message));
      await assert.rejects(watcher.ready, {
        name: 'TrafficSplitTypeError',
        message: `${path}: expected a regular file, got a directory`,
      });

      rmdirSync(path);
      let refused = nextError(watcher);
      writeFileSync(path, '');
      truncateSync(path, 2 * 1024 * 1024);
      assert.equal(
        (await refused)[0].message,
        `${path}: expected a weights file of at most 1048576 bytes, got 2097152 bytes`,
      );

      refused = nextError(watcher);
      writeFileSync(`${path}.tmp`, '{"v1": 5, ');
      renameSync(`${path}.tmp`, path);
      assert.match(
        (await refused)[0].message,
        new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: expected JSON weights such as`),
      );
      assert.deepEqual(split.getWeights(), { v1: 1, v2: 0 });

      const applied = nextApplied(watcher);
      writeFileSync(`${path}.tmp`, '{"v1": 5, "v2": 1}');
      renameSync(`${path}.tmp`, path);
      assert.deepEqual((await applied)[0].weights, { v1: 5, v2: 1 });
      assert.equal(refusals.length, 3, refusals.join('\n'));
    },
  );
});
