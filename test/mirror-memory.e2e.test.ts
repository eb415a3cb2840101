/**
 * The mirror holds no more than `maxBufferedBytes`, whatever the copies answer and however long
 * their primaries take: copies answering 10 MB while their primaries are held by their server
 * (until the test lets them go, no timer), with `maxInFlight: 1`. Measured twice: the mirror's
 * own account of the bytes it holds, and the process's memory after forced garbage collections
 * (so a reference the account misses would show).
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { TrafficSplit } from '../src/index.js';
import { sampleBytes } from '../src/policy/mirror/mirror-figures.js';
import { copyChannelOptions, GRPC_DEFAULT_MAX_RECEIVE_BYTES } from '../src/policy/mirror/mirror-channels.js';
import {
  callEcho,
  echoClient,
  type EchoClientInstance,
  type EchoReply,
  type EchoRequest,
} from './helpers/echo-service.js';
import { median, runCalls, scriptedServer, type RunResult, type ScriptedAnswer } from './helpers/isolation-rig.js';
import type { EchoServerMessage } from './fixtures/echo-server.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;

/** Heap and buffer memory after collecting everything unreachable. */
function retainedBytes(): number {
  for (let i = 0; i < 4; i++) gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** The server of test/fixtures/big-answer-server.ts in a child process. */
async function startBigAnswerServer(bytes: number): Promise<{ target: string; kill(): void }> {
  const child = fork(fileURLToPath(new URL('./fixtures/big-answer-server.js', import.meta.url)), [String(bytes)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [message] = (await once(child, 'message')) as [EchoServerMessage];
  assert.equal(message.type, 'ready');
  return { target: `ipv4:127.0.0.1:${(message as { port: number }).port}`, kill: () => child.kill('SIGKILL') };
}

const mb = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** `{"text":"yyyy..."}` of `size` bytes, serialized once: the server sends it as it is. */
function bigAnswer(size: number): Buffer {
  return Buffer.from(JSON.stringify({ text: 'y'.repeat(size - 11) }));
}

describe('the mirror within maxBufferedBytes', () => {
  it(
    'holds at most 16 MiB while 6 copies answer 10 MB each and ' +
      'their primaries wait: the excess is dropped and counted',
    async (t) => {
      const big = bigAnswer(10_000_000);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const v1 = await scriptedServer((request) =>
        held.then((): ScriptedAnswer => ({ reply: { text: request.text } })),
      );
      const v2 = await scriptedServer((): ScriptedAnswer => ({ raw: big }));
      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
      const client = echoClient(
        split.target,
        split.withChannelOptions({ 'grpc.max_receive_message_length': 64 * MiB }),
      );
      closeAfter(t, client, split, v1, v2);
      connect(client);
      await waitForSubsetsReady(split);
      split.setMirror({
        subset: 'v2',
        percent: 100,
        compare: true,
        maxInFlight: 1,
        maxBufferedBytes: 16 * MiB,
        timeoutMs: 60_000,
      });
      const before = retainedBytes();

      // One primary at a time, each started once the copy of the one before ended: every copy
      // gets the slot, and every answer arrives while all the primaries are still held.
      const primaries: Promise<EchoReply>[] = [];
      for (let i = 0; i < 6; i++) {
        const primary = callEcho(client, { text: `req-${i}` }, undefined, { deadline: Date.now() + 60_000 });
        // Awaited below; if the test fails first, their cancellation at close is no news.
        primary.catch(() => {});
        primaries.push(primary);
        await eventually(
          () => split.stats().mirror!.sent === i + 1 && split.stats().mirror!.inFlight === 0,
          () => JSON.stringify(split.stats().mirror),
          20_000,
        );
      }
      const during = retainedBytes();
      const mirror = split.stats().mirror!;
      t.diagnostic(
        `retained after gc: before ${mb(before)}, with 6 copies answered ` +
          `and their primaries held ${mb(during)} (+${mb(during - before)})`,
      );
      t.diagnostic(
        `mirror: ${JSON.stringify({ sent: mirror.sent, dropped: mirror.dropped, droppedBy: mirror.droppedBy, bufferedBytes: mirror.bufferedBytes, completed: mirror.completed })}`,
      );
      assert.equal(v1.inFlight(), 6, 'every primary is still held');
      // The first answer is kept for its primary; each later one would pass 16 MiB.
      assert.equal(mirror.bufferedBytes, big.length);
      assert.deepEqual(
        [mirror.sent, mirror.dropped, mirror.droppedBy.maxBufferedBytes, mirror.completed],
        [6, 5, 5, 0],
      );
      assert.ok(
        during - before <= 16 * MiB,
        `the process holds ${mb(during - before)} more than before the copies (bound 16 MiB)`,
      );

      release();
      assert.deepEqual(
        await Promise.all(primaries),
        Array.from({ length: 6 }, (_, i) => ({ text: `req-${i}` })),
      );
      await eventually(
        () => split.stats().mirror!.completed === 1,
        () => JSON.stringify(split.stats().mirror),
      );
      const settled = split.stats().mirror!;
      assert.deepEqual([settled.completed, settled.mismatched, settled.dropped], [1, 1, 5]);
      // The answers are let go once compared; only the sample stays.
      assert.equal(settled.bufferedBytes, sampleBytes(settled.samples[0]!));
      const after = retainedBytes();
      t.diagnostic(`retained after gc once compared: ${mb(after)} (+${mb(after - before)})`);
      assert.ok(after - before <= 4 * MiB, `the process still holds ${mb(after - before)} more than before`);
    },
  );

  it('copy channels refuse a compared answer over the byte bound at its header: dropped, not failed', async (t) => {
    const answer = bigAnswer(2 * MiB);
    const v1 = await scriptedServer((request): ScriptedAnswer => ({ reply: { text: request.text } }));
    const v2 = await scriptedServer((): ScriptedAnswer => ({ raw: answer }));
    const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
    const client = echoClient(split.target, split.withChannelOptions({ 'grpc.max_receive_message_length': 64 * MiB }));
    closeAfter(t, client, split, v1, v2);
    connect(client);
    await waitForSubsetsReady(split);
    const copies = async (compare: boolean): Promise<void> => {
      split.setMirror({ subset: 'v2', percent: 100, compare, maxInFlight: 1, maxBufferedBytes: MiB, timeoutMs: 30e3 });
      for (let i = 0; i < 4; i++) {
        assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
        await eventually(
          () => split.stats().mirror!.inFlight === 0,
          () => JSON.stringify(split.stats().mirror),
        );
      }
    };
    await copies(true);
    const compared = split.stats().mirror!;
    // Ended by grpc-js at the answer's 5-byte header (RESOURCE_EXHAUSTED), not received and then
    // dropped by the mirror (it would have ended OK): counted as the byte bound's drop.
    const { sent, droppedBy, failed, codes } = compared;
    assert.deepEqual([sent, droppedBy.maxBufferedBytes, failed, codes], [4, 4, 0, { RESOURCE_EXHAUSTED: 4 }]);
    assert.equal(compared.bufferedBytes, 0);
    // Not compared, an answer is never kept: the client channel's own limit (64 MiB) applies.
    await copies(false);
    const forgotten = split.stats().mirror!;
    assert.deepEqual([forgotten.sent, forgotten.dropped, forgotten.codes], [4, 0, { OK: 4 }]);
  });

  it('with noise, a baseline answer over the byte bound is refused the same way: the copy is dropped', async (t) => {
    const v1 = await scriptedServer((request): ScriptedAnswer => ({ reply: { text: request.text } }));
    const v2 = await scriptedServer((request): ScriptedAnswer => ({ reply: { text: request.text } }));
    const base = await scriptedServer((): ScriptedAnswer => ({ raw: bigAnswer(2 * MiB) }));
    const subsets = { v1: v1.target, v2: v2.target, base: base.target };
    const split = new TrafficSplit({ subsets, weights: { v1: 100, v2: 0, base: 0 } });
    const client = echoClient(split.target, split.withChannelOptions({ 'grpc.max_receive_message_length': 64 * MiB }));
    closeAfter(t, client, split, v1, v2, base);
    connect(client);
    await waitForSubsetsReady(split);
    split.setMirror({
      subset: 'v2',
      percent: 100,
      maxInFlight: 1,
      maxBufferedBytes: MiB,
      timeoutMs: 30e3,
      noise: { subset: 'base' },
    });
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(await callEcho(client, { text: `req-${i}` }), { text: `req-${i}` });
      await eventually(
        () => split.stats().mirror!.inFlight === 0,
        () => JSON.stringify(split.stats().mirror),
      );
    }
    const mirror = split.stats().mirror!;
    const figures = [mirror.sent, mirror.droppedBy.maxBufferedBytes, mirror.completed, mirror.noise!.baselineSent];
    assert.deepEqual(figures, [4, 4, 0, 4]);
    assert.equal(mirror.bufferedBytes, 0);
  });

  it("a copy channel receives at most the byte bound, or the client channel's own limit if lower", () => {
    const limit = (options: grpc.ChannelOptions, bound: number | null): unknown =>
      copyChannelOptions(options, bound)['grpc.max_receive_message_length'];
    const unlimited = { 'grpc.max_receive_message_length': -1 };
    assert.deepEqual(
      [limit({}, null), limit({}, MiB), limit({}, 64 * MiB), limit(unlimited, 64 * MiB), limit(unlimited, null)],
      [GRPC_DEFAULT_MAX_RECEIVE_BYTES, MiB, GRPC_DEFAULT_MAX_RECEIVE_BYTES, 64 * MiB, -1],
    );
  });

  it(
    'copies answering 10 MB from another process: primaries ' +
      'fail as without them, comparisons and hashes go in slices',
    async (t) => {
      const v1 = await scriptedServer((request): ScriptedAnswer => ({ reply: { text: request.text } }));
      const v2 = await startBigAnswerServer(10_000_000);
      const split = new TrafficSplit({ subsets: { v1: v1.target, v2: v2.target }, weights: { v1: 100, v2: 0 } });
      const client = echoClient(
        split.target,
        split.withChannelOptions({ 'grpc.max_receive_message_length': 64 * MiB }),
      );
      closeAfter(t, client, split, v1, v2);
      connect(client);
      await waitForSubsetsReady(split);
      // The floor of any copy made in this process: the caller itself sends each call to v2 too,
      // on a plain grpc-js channel, at most 2 at a time, and drops the answers.
      const plainV2 = echoClient(v2.target, { 'grpc.max_receive_message_length': 64 * MiB });
      closeAfter(t, plainV2);
      let handInFlight = 0;
      const withHandMadeCopies = {
        echo: (
          request: EchoRequest,
          metadata: grpc.Metadata,
          options: grpc.CallOptions,
          done: grpc.requestCallback<EchoReply>,
        ) => {
          const call = client.echo(request, metadata, options, done);
          if (handInFlight < 2) {
            handInFlight++;
            setImmediate(() => plainV2.echo(request, () => handInFlight--));
          }
          return call;
        },
      } as unknown as EchoClientInstance;
      // Rounds with and without the mirror, interleaved, so that both see the same machine.
      const without: RunResult[] = [];
      const mirrored: RunResult[] = [];
      const handMade: RunResult[] = [];
      const delay = monitorEventLoopDelay({ resolution: 1 });
      for (let round = 0; round < 5; round++) {
        split.setMirror(null);
        without.push(await runCalls(client, 10, (i) => ({ text: `plain-${round}-${i}` })));
        handMade.push(await runCalls(withHandMadeCopies, 10, (i) => ({ text: `hand-${round}-${i}` })));
        await eventually(
          () => handInFlight === 0,
          () => `${handInFlight} hand-made copies in flight`,
          30_000,
        );
        split.setMirror({ subset: 'v2', percent: 100, compare: true, maxInFlight: 2, timeoutMs: 60_000 });
        delay.enable();
        mirrored.push(await runCalls(client, 10, (i) => ({ text: `copied-${round}-${i}` })));
        await eventually(
          () =>
            split.stats().mirror!.inFlight === 0 &&
            split.stats().mirror!.completed + split.stats().mirror!.dropped === 10,
          () => JSON.stringify(split.stats().mirror),
          30_000,
        );
        delay.disable();
        const mirror = split.stats().mirror!;
        // The answers differ in size: each compared copy is a mismatch, its 10 MB hashed for the sample.
        assert.deepEqual(
          [
            mirror.matched,
            mirror.failed,
            mirror.mismatched + mirror.droppedBy.maxInFlight + mirror.droppedBy.maxBufferedBytes,
          ],
          [0, 0, 10],
        );
        assert.ok(mirror.mismatched >= 1, JSON.stringify(mirror));
        assert.equal(mirror.samples.at(-1)!.mirror.bytes, 10_000_000);
        assert.equal(
          mirror.bufferedBytes,
          mirror.samples.reduce((sum, sample) => sum + sampleBytes(sample), 0),
          'only the samples are held',
        );
      }
      const p50 = (runs: RunResult[]): string => median(runs.flatMap((run) => run.latenciesMs)).toFixed(2);
      t.diagnostic(
        `primary p50 over 5 interleaved rounds of 10 calls: ` +
          `without mirror ${p50(without)} ms, with ${p50(mirrored)} ms, ` +
          `with hand-made copies on a plain channel ${p50(handMade)} ms`,
      );
      t.diagnostic(
        `event loop delay during the mirrored rounds: max ${(delay.max / 1e6).toFixed(1)} ` +
          `ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`,
      );
      assert.deepEqual([without.flatMap((run) => run.failures), mirrored.flatMap((run) => run.failures)], [[], []]);
    },
  );
});
