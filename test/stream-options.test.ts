import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Metadata,
  PickResultType,
  Status,
  type PickResult,
  type SubchannelInterface,
} from '../src/policy/grpc/grpc.js';
import { SubsetCounters } from '../src/policy/call/counters.js';
import { StreamBook, StreamPin } from '../src/algorithms/streams/stream-book.js';
import { pickForStream } from '../src/policy/balancer/stream-pick.js';
import { seededRandom } from '../src/algorithms/random.js';
import { TrafficSplit } from '../src/index.js';

const SUBSETS = { v1: 'ipv4:127.0.0.1:1', v2: 'ipv4:127.0.0.1:2' };

describe('stream options and counting', () => {
  it('refuses bad stream options with the field path, and a bad setWeights() option changes nothing', (t) => {
    const cases: [object, string][] = [
      [
        { rebalanceStreams: { withinMs: -1 } },
        'rebalanceStreams.withinMs: expected an integer from 0 to 2147483647, got `-1` (number)',
      ],
      [
        { rebalanceStreams: { within: 10 } },
        'rebalanceStreams.within: unknown option (known: withinMs), got `10` (number)',
      ],
      [{ rebalanceStreams: true }, 'rebalanceStreams: expected an object { withinMs } or false, got `true` (boolean)'],
      [{ maxStreamAgeMs: 0 }, 'maxStreamAgeMs: expected an integer from 1 to 2147483647, got `0` (number)'],
      [
        { maxStreamAgeMs: '1000' },
        'maxStreamAgeMs: expected an integer number of milliseconds, got `"1000"` (string)',
      ],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => new TrafficSplit({ subsets: SUBSETS, weights: { v1: 1, v2: 1 }, ...options }),
        { message },
        JSON.stringify(options),
      );
    }
    const split = new TrafficSplit({ subsets: SUBSETS, weights: { v1: 90, v2: 10 } });
    t.after(() => split.close());
    assert.throws(() => split.setWeights({ v1: 10, v2: 90 }, { rebalanceStreams: { withinMs: 1.5 } }), {
      message: 'options.rebalanceStreams.withinMs: expected an integer from 0 to 2147483647, got `1.5` (number)',
    });
    assert.throws(() => split.setWeights({ v1: 10, v2: 90 }, { rebalance: true } as never), {
      message: 'options.rebalance: unknown option (known: rebalanceStreams, methods), got `true` (boolean)',
    });
    assert.deepEqual(split.getWeights(), { v1: 90, v2: 10 });
    split.setWeights({ v1: 10, v2: 90 }, { rebalanceStreams: false });
    assert.deepEqual(split.getWeights(), { v1: 10, v2: 90 });
  });

  it("counts an attempt the split ended in rebalanced, and one whose own status won the race as the server's", () => {
    const counters = new SubsetCounters(2);
    const book = new StreamBook(2, seededRandom(1), () => 0);
    const child: PickResult = {
      pickResultType: PickResultType.COMPLETE,
      subchannel: {} as SubchannelInterface,
      status: null,
      onCallStarted: null,
      onCallEnded: null,
    };
    const run = (endedBySplit: string | null, code: Status, details: string) => {
      const record = book.newRecord(() => {});
      const result = pickForStream(book, record, 0, StreamPin.Keyless, counters.attach(0, child, undefined));
      assert.equal(book.openOn(0), 1, 'counted from the pick');
      result.onCallStarted!();
      record.endedBySplit = endedBySplit;
      result.onCallEnded!(code, details, new Metadata());
      assert.equal(book.openOn(0), 0);
    };
    const ours = 'traffic_split: stream rebalanced to follow new weights (v1 -> v2)';
    run(ours, Status.UNAVAILABLE, ours);
    // The split chose it, but the server's OK arrived first: the server's answer.
    run(ours, Status.OK, '');
    run(null, Status.UNAVAILABLE, ours);
    assert.equal(counters.rebalanced[0], 1);
    assert.equal(counters.finished[0], 2);
    assert.equal(counters.inFlight(0), 0);
    // A queued pick holds no place.
    const record = book.newRecord(() => {});
    pickForStream(book, record, 1, StreamPin.Keyless, counters.attach(1, child, undefined));
    assert.equal(book.openOn(1), 1);
    const queued: PickResult = { ...child, pickResultType: PickResultType.QUEUE, subchannel: null };
    assert.equal(pickForStream(book, record, 1, StreamPin.Keyless, queued), queued);
    assert.equal(book.openOn(1), 0);
  });
});
