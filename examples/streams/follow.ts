/**
 * How an application keeps a subscription open across rebalancing: a stream that ends with
 * UNAVAILABLE is opened again (after a short pause, longer on repeated failures), resuming after
 * the last message it saw. The split places the new stream where the open streams are short of
 * the weights. Any other status ends the subscription for good.
 */
import * as grpc from '@grpc/grpc-js';
import type { PricesClient, Quote } from './prices.js';

export interface Subscription {
  readonly symbol: string;
  /** The version serving it now (null between streams). */
  version: string | null;
  lastSequence: number;
  /** How many times the stream was re-opened, and why. */
  readonly reopened: string[];
  /** Set when it ended for good. */
  failure: string | null;
  stop(): void;
}

export function follow(
  client: PricesClient,
  symbol: string,
  onQuote: (quote: Quote) => void = () => {},
): Subscription {
  let call: grpc.ClientReadableStream<Quote> | null = null;
  let stopped = false;
  let failuresInARow = 0;
  const subscription: Subscription = {
    symbol,
    version: null,
    lastSequence: 0,
    reopened: [],
    failure: null,
    stop: () => {
      stopped = true;
      call?.cancel();
    },
  };
  const open = (): void => {
    call = client.subscribe({ symbol, after: subscription.lastSequence });
    call.on('data', (quote: Quote) => {
      failuresInARow = 0;
      subscription.version = quote.version;
      subscription.lastSequence = quote.sequence;
      onQuote(quote);
    });
    call.on('error', (error: grpc.ServiceError) => {
      subscription.version = null;
      if (stopped) return;
      if (error.code !== grpc.status.UNAVAILABLE) {
        subscription.failure = `${grpc.status[error.code]}: ${error.details}`;
        return;
      }
      // UNAVAILABLE: the split moved the stream (details say so), or the server went away.
      // Re-open at once the first time, then back off up to a second.
      subscription.reopened.push(error.details);
      const delayMs = Math.min(1000, 50 * 2 ** failuresInARow++) - 50;
      setTimeout(open, delayMs).unref();
    });
  };
  open();
  return subscription;
}
