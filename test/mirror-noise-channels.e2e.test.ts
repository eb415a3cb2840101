/**
 * The baseline copy of `noise` made as the mirror's copy is: on a copy channel of its own (to the
 * baseline subset; never through the primaries' channel), kept while the mirror keeps that
 * baseline, and with its request and its answer in the `maxBufferedBytes` bound.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { TrafficSplit, type MirrorOptions } from '../src/index.js';
import { callEcho, echoClient, type EchoClientInstance } from './helpers/echo-service.js';
import { copiesSettled, startRecordingServer, type Answer, type RecordingServer } from './helpers/mirror-rig.js';
import { startServer, type TestServer } from './helpers/servers.js';
import { closeAfter, connect, eventually, waitForSubsetsReady } from './helpers/split-helpers.js';

const CALLS = 6;

/** Resolves once the mirror holds no byte (the answers go once their comparison is counted). */
const released = (split: TrafficSplit): Promise<void> =>
  eventually(
    () => split.stats().mirror!.bufferedBytes === 0,
    () => JSON.stringify(split.stats().mirror),
  );

async function calls(client: EchoClientInstance, text: string, count = CALLS): Promise<void> {
  for (let i = 0; i < count; i++) await callEcho(client, { text });
}

describe('the baseline copy on copy channels', () => {
  it(
    'goes on a copy channel of its own to the baseline, kept ' +
      'while the mirror keeps that baseline and closed when it stops',
    async (t: TestContext) => {
      const servers: TestServer[] = await Promise.all(['v1', 'v2', 'base'].map((name) => startServer(name)));
      const [v1, v2, base] = servers as [TestServer, TestServer, TestServer];
      const split = new TrafficSplit({
        subsets: { v1: v1.target, v2: v2.target, base: base.target },
        weights: { v1: 100, v2: 0, base: 0 },
      });
      const client = echoClient(split.target, split.channelOptions);
      t.after(() => {
        client.close();
        split.close();
        for (const server of servers) void server.kill();
      });
      connect(client);
      await waitForSubsetsReady(split);
      // The primaries' channel: one connection per subset, the weight-0 ones included.
      await eventually(
        () => v1.open() === 1 && v2.open() === 1 && base.open() === 1,
        () => `v1 ${v1.open()}, v2 ${v2.open()}, base ${base.open()}`,
      );
      const withBaseline: MirrorOptions = { subset: 'v2', percent: 100, noise: { subset: 'base' } };
      split.setMirror(withBaseline);
      await calls(client, 'a');
      await copiesSettled(split);
      const noise = split.stats().mirror!.noise!;
      assert.deepEqual([noise.baselineSent, noise.compared, noise.withoutBaseline], [CALLS, CALLS, 0]);
      // A connection of the copies' own to each: the baseline's copies did not go through the
      // primaries' channel (which would have left `base` at one connection).
      assert.deepEqual([v1.open(), v2.open(), base.open()], [1, 2, 2]);

      // The same baseline under a new configuration: its copy channel stays (only the copies'
      // connection would be made again otherwise, and the same one is still in use).
      const acceptedBefore = base.accepted();
      split.setMirror({ ...withBaseline, maxSamples: 10 });
      await calls(client, 'b');
      await copiesSettled(split);
      assert.equal(split.stats().mirror!.noise!.baselineSent, CALLS);
      assert.deepEqual(
        [base.open(), base.accepted()],
        [2, acceptedBefore],
        'the baseline copy channel was kept, not made again',
      );

      // No baseline any more: its copy channel closes (the mirror's own stays). Fire and forget,
      // so that no sample holds bytes at the end.
      split.setMirror({ subset: 'v2', percent: 100 });
      await eventually(
        () => base.open() === 1,
        () => `base ${base.open()} connections`,
      );
      await calls(client, 'c');
      await copiesSettled(split);
      assert.deepEqual([v2.open(), base.open()], [2, 1]);
      await released(split);
    },
  );
});

describe('the baseline copy in the byte bound', () => {
  /** v1, v2 and a baseline answering `answer`, `answer` and `baselineAnswer`; one client. */
  async function rig(
    t: TestContext,
    baselineAnswer: (text: string) => Answer,
  ): Promise<{ split: TrafficSplit; client: EchoClientInstance; v2: RecordingServer; base: RecordingServer }> {
    const answer = (request: { text?: string }): Answer => ({ reply: { text: request.text } });
    const v1 = await startRecordingServer('v1', answer);
    const v2 = await startRecordingServer('v2', answer);
    const base = await startRecordingServer('base', (request) => baselineAnswer(request.text!));
    const split = new TrafficSplit({
      subsets: { v1: v1.target, v2: v2.target, base: base.target },
      weights: { v1: 100, v2: 0, base: 0 },
    });
    const client = echoClient(split.target, split.channelOptions);
    closeAfter(t, client, split, v1, v2, base);
    connect(client);
    await waitForSubsetsReady(split);
    return { split, client, v2, base };
  }

  const dropped = async (split: TrafficSplit, count: number): Promise<void> =>
    eventually(
      () => split.stats().mirror!.inFlight === 0 && split.stats().mirror!.dropped === count,
      () => JSON.stringify(split.stats().mirror),
    );

  it(
    "reserves the baseline's request with the copy's: a call " +
      'whose two requests would pass maxBufferedBytes is not copied',
    async (t) => {
      const { split, client, v2, base } = await rig(t, (text) => ({ reply: { text } }));
      const text = 'x'.repeat(1_000);
      const requestBytes = Buffer.byteLength(JSON.stringify({ text }));
      // One request fits, two do not.
      split.setMirror({
        subset: 'v2',
        percent: 100,
        noise: { subset: 'base' },
        maxBufferedBytes: Math.floor(1.5 * requestBytes),
      });
      await calls(client, text);
      await dropped(split, CALLS);
      const mirror = split.stats().mirror!;
      assert.deepEqual(
        [
          mirror.sent,
          mirror.droppedBy.maxBufferedBytes,
          mirror.noise!.baselineSent,
          v2.received.length,
          base.received.length,
        ],
        [0, CALLS, 0, 0, 0],
      );
      assert.equal(mirror.bufferedBytes, 0);

      // The default bound: every call is copied and compared.
      split.setMirror({ subset: 'v2', percent: 100, noise: { subset: 'base' } });
      await calls(client, text);
      await copiesSettled(split);
      const after = split.stats().mirror!;
      assert.deepEqual(
        [after.sent, after.matched, after.dropped, after.noise!.compared, base.received.length],
        [CALLS, CALLS, 0, CALLS, CALLS],
      );
      await released(split);
    },
  );

  it("reserves the baseline's answer: one that does not fit drops the copy, and every byte is given back", async (t) => {
    const big = 'y'.repeat(4_000);
    const { split, client, v2, base } = await rig(t, () => ({ reply: { text: big } }));
    // The requests and the primary's and the copy's answers fit; the baseline's 4 KB answer does not.
    split.setMirror({ subset: 'v2', percent: 100, noise: { subset: 'base' }, maxBufferedBytes: 2_000 });
    await calls(client, 'small');
    await dropped(split, CALLS);
    const mirror = split.stats().mirror!;
    assert.deepEqual(
      [
        mirror.sent,
        mirror.completed,
        mirror.droppedBy.maxBufferedBytes,
        mirror.noise!.baselineSent,
        mirror.noise!.compared,
        v2.received.length,
        base.received.length,
      ],
      [CALLS, 0, CALLS, CALLS, 0, CALLS, CALLS],
    );
    assert.equal(mirror.bufferedBytes, 0);

    // With room for it, the same baseline answer is compared (a whole-body difference on the
    // baseline's side only: noise, never a regression).
    split.setMirror({ subset: 'v2', percent: 100, noise: { subset: 'base' } });
    await calls(client, 'small');
    await copiesSettled(split);
    const after = split.stats().mirror!;
    assert.deepEqual([after.completed, after.matched, after.dropped, after.noise!.compared], [CALLS, CALLS, 0, CALLS]);
    await released(split);
  });
});
