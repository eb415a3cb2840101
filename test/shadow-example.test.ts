import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runShadowDemo } from '../examples/shadow/demo.js';

describe('the shadow example', () => {
  it('copies a fifth of the quotes to v2, serves every caller from v1, and reports the bulk-price mismatches', async () => {
    const lines: string[] = [];
    const { answeredBy, mirror } = await runShadowDemo({ calls: 150, log: (line) => lines.push(line) });
    assert.deepEqual(answeredBy, { v1: 150 }, lines.join('\n'));
    assert.equal(mirror.sent, 30);
    assert.deepEqual(
      [mirror.completed, mirror.failed, mirror.dropped, mirror.matched + mirror.mismatched],
      [30, 0, 0, 30],
    );
    // v2 differs exactly on quantities of 10 or more; the time stamps are ignored.
    assert.ok(mirror.mismatched > 0 && mirror.matched > 0, JSON.stringify(mirror));
    assert.equal(mirror.samples.length, Math.min(20, mirror.mismatched));
    for (const sample of mirror.samples) {
      const primary = sample.primary.response as { quantity: number; totalCents: number };
      const copy = sample.mirror.response as { totalCents: number };
      assert.ok(primary.quantity >= 10);
      assert.equal(sample.reason, `totalCents ${primary.totalCents} vs ${copy.totalCents}`);
      assert.equal(copy.totalCents, Math.round(primary.totalCents * 0.95));
    }
    assert.ok(
      lines.some((line) =>
        line.startsWith(`copies: 30 sent, ${mirror.matched} matched, ${mirror.mismatched} mismatched`),
      ),
      lines.join('\n'),
    );
  });
});
