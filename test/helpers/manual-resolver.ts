/**
 * A resolver scheme whose endpoint lists the test sets by hand (`manual:///<name>`), the way
 * grpc-go's manual resolver does. It answers each `updateResolution()` with the list in force,
 * and counts how often it was asked.
 */
import * as grpc from '@grpc/grpc-js';

type Endpoint = grpc.experimental.Endpoint;

const endpointsByName = new Map<string, Endpoint[]>();
const resolutionsByName = new Map<string, number>();
let registered = false;

class ManualResolver implements grpc.experimental.Resolver {
  private destroyed = false;
  constructor(
    private readonly target: grpc.experimental.GrpcUri,
    private readonly listener: grpc.experimental.ResolverListener,
  ) {}
  updateResolution(): void {
    process.nextTick(() => {
      if (this.destroyed) return;
      const name = this.target.path;
      resolutionsByName.set(name, (resolutionsByName.get(name) ?? 0) + 1);
      this.listener({ ok: true, value: endpointsByName.get(name) ?? [] }, {}, null, '');
    });
  }
  destroy(): void {
    this.destroyed = true;
  }
  static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
    return target.path;
  }
}

/** Sets the endpoints `manual:///<name>` resolves to: one endpoint per loopback port. */
export function setManualEndpoints(name: string, ports: number[]): string {
  if (!registered) {
    grpc.experimental.registerResolver('manual', ManualResolver);
    registered = true;
  }
  endpointsByName.set(
    name,
    ports.map((port) => ({ addresses: [{ host: '127.0.0.1', port }] })),
  );
  return `manual:///${name}`;
}

/** How often the resolver of `name` has been asked. */
export function manualResolutions(name: string): number {
  return resolutionsByName.get(name) ?? 0;
}
