import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runStreamsDemo } from '../examples/streams/demo.js';

describe('the streams example', () => {
  it(
    'moves 16 of 20 subscriptions from v1 to v2 after a live ' +
      'change from 90/10 to 10/90, every one re-opened by the client',
    async () => {
      const lines: string[] = [];
      const report = await runStreamsDemo({ log: (line) => lines.push(line), withinMs: 500 });
      assert.deepEqual(report.before, { v1: 18, v2: 2 }, lines.join('\n'));
      assert.deepEqual(report.after, { v1: 2, v2: 18 }, lines.join('\n'));
      assert.equal(report.rebalanced.length, 16);
      assert.ok(
        report.rebalanced.every(
          (details) => details === 'traffic_split: stream rebalanced to follow new weights (v1 -> v2)',
        ),
        report.rebalanced.join('\n'),
      );
      assert.deepEqual(report.failures, []);
      assert.equal(report.gaps, 0);
      assert.deepEqual(report.stats, {
        v1: { openStreams: 2, rebalanced: 16 },
        v2: { openStreams: 18, rebalanced: 0 },
      });
      assert.deepEqual(lines.slice(0, 2), [
        '20 subscriptions open at 90/10: v1 18, v2 2',
        'setWeights({ v1: 10, v2: 90 }) with rebalanceStreams: { withinMs: 500 }',
      ]);
    },
  );
});
