/**
 * A resolver scheme for the scale bench: `bench-fanout:///<key>` resolves to an address list
 * registered under `key`, so a channel or a subset can be handed 10,000 endpoints without DNS.
 * @module
 */
import * as grpc from '@grpc/grpc-js';

type Resolver = grpc.experimental.Resolver;
type ResolverListener = grpc.experimental.ResolverListener;
type GrpcUri = grpc.experimental.GrpcUri;
type Endpoint = grpc.experimental.Endpoint;

/** The scheme registered by `fanoutTarget`. */
export const FANOUT_SCHEME = 'bench-fanout';

const lists = new Map<string, Endpoint[]>();
let registered = false;
let nextKey = 1;

/**
 * Like grpc-js's DNS resolver (`grpc.dns_min_time_between_resolutions_ms`, 30 s), answers at most
 * once per this interval. Without the limit, every refused connect asks for re-resolution, the
 * answer replaces the 10,000-endpoint list, and a channel spends its time re-resolving.
 */
const MIN_INTERVAL_MS = 30_000;

class FanoutResolver implements Resolver {
  private destroyed = false;
  private lastReportMs = -Infinity;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly target: GrpcUri,
    private readonly listener: ResolverListener,
  ) {}

  updateResolution(): void {
    if (this.timer !== null) return;
    // Never synchronously (the Resolver contract), and not sooner than the interval allows.
    const delayMs = Math.max(0, this.lastReportMs + MIN_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.destroyed) return;
      this.lastReportMs = Date.now();
      const endpoints = lists.get(this.target.path);
      if (endpoints === undefined) {
        const error = {
          code: grpc.status.UNAVAILABLE,
          details: `no fanout list ${this.target.path}`,
          metadata: new grpc.Metadata(),
        };
        this.listener({ ok: false, error }, {}, null, '');
      } else {
        this.listener({ ok: true, value: endpoints }, {}, null, '');
      }
    }, delayMs);
    this.timer.unref();
  }

  destroy(): void {
    this.destroyed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  static getDefaultAuthority(target: GrpcUri): string {
    return target.path;
  }
}

/**
 * Registers `addresses` (each its own endpoint) and returns a target that resolves to them.
 * Call `releaseFanout(target)` when done.
 */
export function fanoutTarget(addresses: readonly { host: string; port: number }[]): string {
  if (!registered) {
    grpc.experimental.registerResolver(FANOUT_SCHEME, FanoutResolver);
    registered = true;
  }
  const key = `list-${nextKey++}`;
  lists.set(
    key,
    addresses.map((a) => ({ addresses: [{ host: a.host, port: a.port }] })),
  );
  return `${FANOUT_SCHEME}:///${key}`;
}

/** Forgets a list registered by `fanoutTarget`. */
export function releaseFanout(target: string): void {
  lists.delete(target.slice(`${FANOUT_SCHEME}:///`.length));
}

/**
 * `count` loopback addresses: the live server first, then `127.1.x.y:<port>`. Nothing listens on
 * 127.1.x.y, so the kernel refuses those connects at once: real endpoints that cost a connect
 * attempt each, without a single packet leaving the machine.
 */
export function loopbackAddresses(livePort: number, count: number): { host: string; port: number }[] {
  const out = [{ host: '127.0.0.1', port: livePort }];
  for (let i = 1; i < count; i++) out.push({ host: `127.1.${(i >> 8) & 255}.${i & 255}`, port: livePort });
  return out;
}
