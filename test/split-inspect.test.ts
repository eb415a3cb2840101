import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { rig } from './helpers/rig.js';

/** The split's routing token: what lets a hint header steer a call, so it must stay out of logs. */
function tokenOf(split: object): string {
  const token = (split as unknown as { state: { token: unknown } }).state.token;
  assert.equal(typeof token, 'string');
  assert.ok((token as string).length >= 16);
  return token as string;
}

describe('what console.log and JSON.stringify show of a split', () => {
  it('shows name, target, weights and subset states, never the routing token', async (t) => {
    const { split, v1, v2 } = await rig(t, { v1: 90, v2: 10 });
    const token = tokenOf(split);
    // Without the custom view, the token is one inspect away: the check below can fail.
    assert.ok(inspect(split, { customInspect: false, depth: 10, showHidden: true }).includes(token));

    assert.equal(
      inspect(split),
      [
        'TrafficSplit {',
        "  name: 'split',",
        `  target: '${split.target}',`,
        '  closed: false,',
        '  weights: { v1: 90, v2: 10 },',
        '  subsets: {',
        `    v1: { target: '${v1.target}', state: 'READY' },`,
        `    v2: { target: '${v2.target}', state: 'READY' }`,
        '  }',
        '}',
      ].join('\n'),
    );
    assert.ok(!inspect(split, { depth: 10, showHidden: true }).includes(token));
    assert.ok(!inspect({ nested: { deeper: split } }, { depth: Infinity, showHidden: true }).includes(token));
    assert.equal(inspect({ a: { b: { c: split } } }), '{ a: { b: { c: [TrafficSplit split] } } }');

    assert.deepEqual(JSON.parse(JSON.stringify(split)), {
      name: 'split',
      target: split.target,
      closed: false,
      weights: { v1: 90, v2: 10 },
      subsets: { v1: { target: v1.target, state: 'READY' }, v2: { target: v2.target, state: 'READY' } },
    });
    split.close();
    assert.equal(split.toJSON().closed, true);
  });
});
