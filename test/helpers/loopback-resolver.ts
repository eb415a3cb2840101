/**
 * `loopback:///<host>:<port>` resolves to 127.0.0.1:<port> while its default authority (and so
 * the TLS name a plain channel checks) is `<host>:<port>`: a plain grpc-js channel that behaves
 * like `dns:///good.test:<port>` without asking DNS. Like grpc-js's own `ipv4:` resolver it
 * answers once; a resolver that answered every request at once would make a plain channel whose
 * connections fail re-resolve in a tight loop (grpc-js resets its resolution backoff on every
 * answer).
 */
import * as grpc from '@grpc/grpc-js';

let registered = false;

class LoopbackResolver implements grpc.experimental.Resolver {
  private answered = false;
  constructor(
    private readonly target: grpc.experimental.GrpcUri,
    private readonly listener: grpc.experimental.ResolverListener,
  ) {}
  updateResolution(): void {
    if (this.answered) return;
    this.answered = true;
    const port = Number(this.target.path.split(':').pop());
    process.nextTick(() =>
      this.listener({ ok: true, value: [{ addresses: [{ host: '127.0.0.1', port }] }] }, {}, null, ''),
    );
  }
  destroy(): void {}
  static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
    return target.path;
  }
}

/** `loopback:///<host>:<port>`. */
export function loopbackTarget(host: string, port: number): string {
  if (!registered) {
    grpc.experimental.registerResolver('loopback', LoopbackResolver);
    registered = true;
  }
  return `loopback:///${host}:${port}`;
}
