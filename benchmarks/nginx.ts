/**
 * An nginx `grpc_pass` proxy with a weighted upstream, run in the foreground from a temp dir
 * (its own config, pid and logs; nothing outside the dir is touched), for comparison benches.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One upstream server and its nginx `weight=`. */
export interface NginxUpstream {
  port: number;
  weight: number;
}

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/usr/bin/nginx'];
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** The nginx binary, or null when none is installed (`apt-get install nginx` on Debian). */
export function findNginx(): string | null {
  return CANDIDATES.find((path) => existsSync(path)) ?? null;
}

/**
 * The nginx binary a bench should use, or null with the reason to print in its place: disabled
 * by the caller (`--no-nginx`, the smoke test) or not installed.
 */
export function nginxFor(enabled: boolean | undefined): { bin: string | null; absent: string } {
  if (enabled === false) return { bin: null, absent: 'nginx comparisons disabled (--no-nginx)' };
  return {
    bin: findNginx(),
    absent: 'nginx not found (Debian: apt-get install nginx), so its figures are not measured',
  };
}

/** `nginx/1.22.1`, or null when nginx is absent. */
export function nginxVersion(): string | null {
  const bin = findNginx();
  if (bin === null) return null;
  // `nginx -v` prints "nginx version: nginx/1.22.1" to stderr.
  const result = spawnSync(bin, ['-v'], { encoding: 'utf8', timeout: 5_000 });
  return /nginx\/[\w.]+/.exec(`${result.stderr ?? ''}${result.stdout ?? ''}`)?.[0] ?? null;
}

/**
 * The whole config. One worker, so the weighted round robin is one sequence (with several
 * workers each runs its own). HTTP/2 on the listener (gRPC needs it), upstream keepalive so
 * nginx reuses backend connections, and request limits raised so that neither side's
 * connection is recycled every 1000 requests (the nginx default) in the middle of a bench.
 */
export function nginxConfig(dir: string, listenPort: number, upstreams: readonly NginxUpstream[]): string {
  const servers = upstreams.map((u) => `    server 127.0.0.1:${u.port} weight=${u.weight};`).join('\n');
  return `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  keepalive_requests 100000000;
  http2_max_concurrent_streams 1024;
  upstream backends {
${servers}
    keepalive 64;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:${listenPort} http2;
    location / { grpc_pass grpc://backends; }
  }
}
`;
}

/** A running nginx master (in the foreground, a child of this process). */
export class NginxProxy {
  /** Stops nginx if this process exits without `stop()` (a failed bench, Ctrl-C). */
  private readonly exitGuard = (): void => {
    // SIGTERM, not SIGKILL: the master must live long enough to stop its workers.
    this.child.kill('SIGTERM');
  };

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly confPath: string,
    /** The port nginx listens on, 127.0.0.1. */
    readonly port: number,
  ) {
    process.once('exit', this.exitGuard);
  }

  /** The master's process id (its workers are its children). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** `ipv4:127.0.0.1:<port>`. */
  get target(): string {
    return `ipv4:127.0.0.1:${this.port}`;
  }

  /** Writes the config and starts nginx; resolves once it accepts connections. */
  static async start(bin: string, upstreams: readonly NginxUpstream[]): Promise<NginxProxy> {
    const dir = await mkdtemp(join(tmpdir(), 'bench-nginx-'));
    // Run as root, nginx's workers switch to an unprivileged user that must reach the dir.
    await chmod(dir, 0o755);
    const port = await freePort();
    const confPath = join(dir, 'nginx.conf');
    await writeFile(confPath, nginxConfig(dir, port, upstreams));
    const child = spawn(bin, ['-p', dir, '-e', join(dir, 'error.log'), '-c', confPath, '-g', 'daemon off;'], {
      stdio: 'ignore',
    });
    const proxy = new NginxProxy(child, dir, confPath, port);
    try {
      await waitForPort(port, child, START_TIMEOUT_MS);
    } catch (error) {
      const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
      await proxy.stop();
      throw new Error(`nginx did not start: ${(error as Error).message}\n${log}`, { cause: error });
    }
    return proxy;
  }

  /**
   * Rewrites the upstream weights and signals the master (SIGHUP, what `nginx -s reload` does).
   * Returns at once: nginx starts new workers and drains the old ones on its own schedule,
   * which is exactly what a bench of reload lag wants to observe.
   */
  async reload(upstreams: readonly NginxUpstream[]): Promise<void> {
    await writeFile(this.confPath, nginxConfig(this.dir, this.port, upstreams));
    this.child.kill('SIGHUP');
  }

  /** Fast shutdown (SIGTERM), SIGKILL after a timeout; removes the temp dir. */
  async stop(): Promise<void> {
    process.removeListener('exit', this.exitGuard);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls a TCP connect to 127.0.0.1:port until it succeeds, the child exits, or time runs out. */
async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}
