/**
 * Real etcd servers for the fleet tests: one member or a cluster of three, on ephemeral loopback
 * ports, each with a data directory of its own, stopped, killed and restarted as a test needs.
 * The `etcd` binary comes from PATH (Debian: `apt-get install etcd-server`), or `ETCD_BIN`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, rmSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The etcd binary: `ETCD_BIN`, or `etcd` from PATH. */
const ETCD = process.env['ETCD_BIN'] ?? 'etcd';

/** What to install, in one line. */
export const ETCD_MISSING = `${ETCD} not found: install etcd (Debian/Ubuntu: apt-get install etcd-server) to run the fleet tests`;

/** Whether the etcd binary runs here. */
export function etcdAvailable(): boolean {
  const probe = spawnSync(ETCD, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  return probe.error === undefined && probe.status === 0;
}

/**
 * The `skip` option of the fleet suites: false when etcd is here; the line saying what to install
 * when it is not, except under CI (CI=true), where the suites run and fail on the missing binary.
 */
export function skipWithoutEtcd(): string | false {
  if (etcdAvailable()) return false;
  if (process.env['CI'] === 'true') return false;
  return ETCD_MISSING;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class EtcdMember {
  process: ChildProcess | null = null;
  private log: number | null = null;

  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    private readonly initialCluster: string,
  ) {}

  get clientUrl(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.process !== null && this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Starts the member (again: its data directory keeps the cluster's data). */
  start(): void {
    if (!etcdAvailable()) throw new Error(ETCD_MISSING);
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.log ??= openSync(join(this.dataDir, '..', `${this.name}.log`), 'a');
    this.process = spawn(
      ETCD,
      [
        '--name',
        this.name,
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        this.clientUrl,
        '--advertise-client-urls',
        this.clientUrl,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        this.initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        'fleet-test',
        '--heartbeat-interval',
        '100',
        '--election-timeout',
        '1000',
        '--logger',
        'zap',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', this.log, this.log] },
    );
  }

  /** Stops the member with `signal` and waits for it to exit (SIGKILL: a crash). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.process;
    if (child === null || !this.running) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  closeLog(): void {
    if (this.log !== null) closeSync(this.log);
    this.log = null;
  }
}

export class EtcdCluster {
  private constructor(
    readonly members: EtcdMember[],
    private readonly root: string,
  ) {}

  /** Starts `size` members on loopback and waits until the cluster answers. */
  static async start(size = 1): Promise<EtcdCluster> {
    const root = mkdtempSync(join(tmpdir(), 'gts-etcd-'));
    const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
    const names = Array.from({ length: size }, (_, i) => `m${i}`);
    const initialCluster = names.map((name, i) => `${name}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
    const members = names.map(
      (name, i) => new EtcdMember(name, ports[2 * i]!, ports[2 * i + 1]!, join(root, name), initialCluster),
    );
    const cluster = new EtcdCluster(members, root);
    for (const member of members) member.start();
    await cluster.healthy();
    return cluster;
  }

  /** The client URLs of every member (for `new Etcd3({ hosts })`). */
  get hosts(): string[] {
    return this.members.map((member) => member.clientUrl);
  }

  /** Resolves once every running member reports healthy (the cluster has a leader). */
  async healthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const member of this.members.filter((each) => each.running)) {
      for (;;) {
        try {
          const response = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
          const body = (await response.json()) as { health?: string };
          if (body.health === 'true') break;
        } catch {
          // Not listening yet.
        }
        if (Date.now() > deadline) throw new Error(`etcd member ${member.name} not healthy after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async stopAll(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await Promise.all(this.members.map((member) => member.stop(signal)));
  }

  async startAll(): Promise<void> {
    for (const member of this.members) if (!member.running) member.start();
    await this.healthy();
  }

  async close(): Promise<void> {
    await this.stopAll('SIGKILL');
    for (const member of this.members) member.closeLog();
    rmSync(this.root, { recursive: true, force: true });
  }
}
