import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyCounts } from '../src/policy/mirror/mirror-figures.js';
import { parseMirrorOptions } from '../src/policy/mirror/mirror-options.js';
import { MirrorSession } from '../src/policy/mirror/mirror.js';

const unbounded = { reserve: () => true, release: () => {} };
const session = (percent: number, extra: object = {}) =>
  new MirrorSession(
    parseMirrorOptions({ subset: 'v2', percent, ...extra }, ['v1', 'v2']),
    1,
    -1,
    emptyCounts(),
    unbounded,
  );
const draws = (s: MirrorSession, n: number) => Array.from({ length: n }, () => s.draw());

describe('mirror session', () => {
  for (const percent of [0, 0.1, 1, 10, 33.3, 50, 99, 100]) {
    it(
      `copies ${percent}% of the decisions exactly: within one ` +
        `over every window (two when the ideal count is fractional)`,
      () => {
        const picks = draws(session(percent), 5000);
        for (const window of [10, 100, 1000]) {
          let copies = picks.slice(0, window).filter(Boolean).length;
          for (let start = 0; start + window <= picks.length; start++) {
            if (start > 0) copies += Number(picks[start + window - 1]) - Number(picks[start - 1]);
            const ideal = (window * percent) / 100;
            const bound = Math.abs(ideal - Math.round(ideal)) < 1e-9 ? 1 : 2 - 1e-9;
            assert.ok(
              Math.abs(copies - ideal) <= bound,
              `window ${window} at ${start}: ${copies} copies, ideal ${ideal}`,
            );
          }
        }
        assert.ok(Math.abs(picks.filter(Boolean).length - 50 * percent) <= 1);
      },
    );
  }

  it('accepts unary methods only, and only the listed ones when a list is given', () => {
    const unary = { path: '/a.S/M', requestStream: false, responseStream: false };
    assert.equal(session(10).accepts(unary), true);
    assert.equal(session(10).accepts({ ...unary, responseStream: true }), false);
    assert.equal(session(10).accepts({ ...unary, requestStream: true }), false);
    assert.equal(session(10, { methods: ['/a.S/Other'] }).accepts(unary), false);
    assert.equal(session(10, { methods: ['/a.S/M'] }).accepts(unary), true);
  });
});
