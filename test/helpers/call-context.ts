/**
 * Call contexts and the split's pipeline for tests that play the picker or the channel: a
 * context as the split's pipeline makes it, metadata carrying it, and the pipeline over fake parts.
 */
import * as grpc from '@grpc/grpc-js';
import { StreamBook } from '../../src/algorithms/streams/stream-book.js';
import { CallContext, contextOf, withContext, type ContextOrigin } from '../../src/policy/call/call-context.js';
import { createCallPipeline } from '../../src/policy/call/call-pipeline.js';
import type { SubsetCounters } from '../../src/policy/call/counters.js';
import type { InterceptorContext } from '../../src/policy/call/route-options.js';

const NOBODY: ContextOrigin = { token: 'test-token', splitName: 'test' };

/** The context of a keyless call, as the split's pipeline makes it (seen by the pipeline). */
export function newRecord(otherSubset = false, origin: ContextOrigin = NOBODY): CallContext {
  const context = new CallContext(origin, false, otherSubset);
  context.intercepted = true;
  return context;
}

/** The context of a call routed to `subset` by `split.route()` of the split `origin`. */
export function routedTo(origin: ContextOrigin, subset: string, otherSubset = false): CallContext {
  const context = new CallContext({ ...origin, subset }, false, otherSubset);
  context.intercepted = true;
  return context;
}

/** Fresh metadata carrying `context`. */
export function metadataWith(context: CallContext, metadata = new grpc.Metadata()): grpc.Metadata {
  return withContext(metadata, context);
}

/** The context `metadata` carries; throws when it has none. */
export function contextIn(metadata: grpc.Metadata | null): CallContext {
  const context = metadata === null ? undefined : contextOf(metadata);
  if (context === undefined) throw new Error('the metadata carries no call context');
  return context;
}

/** The split's pipeline over `counters`, without telemetry or mirror (as a split without them). */
export function testPipeline(owner: InterceptorContext, counters: SubsetCounters, subsets = 2): grpc.Interceptor {
  return createCallPipeline({
    owner,
    counters,
    streams: new StreamBook(
      subsets,
      () => 0,
      () => 0,
    ),
    telemetry: { callObserver: null },
    mirror: () => {
      throw new Error('no call is copied in this test');
    },
  });
}
