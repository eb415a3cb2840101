/**
 * A small pricing service in two versions. v2 "fixes" bulk pricing: 10 or more items get 5% off,
 * which v1 never gave. Both stamp each quote with the time it was made, so their answers differ
 * in that field on every call: a comparison must ignore it.
 */
import * as grpc from '@grpc/grpc-js';
import { jsonUnaryMethod } from '../shared/json-method.js';

export interface QuoteRequest {
  sku: string;
  quantity: number;
}

export interface Quote {
  sku: string;
  quantity: number;
  totalCents: number;
  /** When the quote was made: differs between any two answers. */
  quotedAt: string;
}

export const quoteMethod = jsonUnaryMethod('/shop.Pricing/Quote');
const service = { quote: quoteMethod } satisfies grpc.ServiceDefinition;
/** v1's prices: a total of quantity x unit price, always. */
export const UNIT_PRICE_CENTS: Record<string, number> = { apple: 40, pear: 55, plum: 30 };

/** Starts one version on 127.0.0.1 (port chosen by the system). */
export async function startPricing(version: 'v1' | 'v2'): Promise<{ target: string; stop(): void }> {
  const server = new grpc.Server();
  server.addService(service, {
    quote: (call: grpc.ServerUnaryCall<QuoteRequest, Quote>, callback: grpc.sendUnaryData<Quote>) => {
      const { sku, quantity } = call.request;
      const unit = UNIT_PRICE_CENTS[sku];
      if (unit === undefined) return callback({ code: grpc.status.NOT_FOUND, details: `unknown sku ${sku}` });
      const bulk = version === 'v2' && quantity >= 10 ? 0.95 : 1;
      callback(null, {
        sku,
        quantity,
        totalCents: Math.round(unit * quantity * bulk),
        quotedAt: new Date().toISOString(),
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  return { target: `ipv4:127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

/** A client of the pricing service for `target` with `options`. */
export function pricingClient(target: string, options: grpc.ClientOptions) {
  const Client = grpc.makeGenericClientConstructor(service, 'shop.Pricing');
  const client = new Client(target, grpc.credentials.createInsecure(), options);
  const quote = (request: QuoteRequest): Promise<Quote> =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        quoteMethod.path,
        quoteMethod.requestSerialize,
        quoteMethod.responseDeserialize,
        request,
        (error, reply) => (error ? reject(error) : resolve(reply as Quote)),
      ),
    );
  return { quote, close: () => client.close() };
}
