/**
 * Replica processes for the fleet tests (test/fixtures/fleet-replica.ts), each forked with an
 * IPC channel: the test sends commands and waits on what replicas report, never on time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ReplicaCommand, ReplicaInit, ReplicaReport } from '../fixtures/fleet-replica.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/fleet-replica.js', import.meta.url));

export type Applied = Extract<ReplicaReport, { type: 'applied' }>;
export type LeaderReport = Extract<ReplicaReport, { type: 'leader' }>;

export class ReplicaProcess {
  readonly reports: ReplicaReport[] = [];
  readonly exited: Promise<unknown>;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private watchers = new Set<() => void>();

  constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    this.exited = once(child, 'exit');
    child.on('message', (report: ReplicaReport) => {
      if (report.type === 'reply') {
        const waiting = this.pending.get(report.id);
        this.pending.delete(report.id);
        if (report.error !== undefined) waiting?.reject(new Error(`${this.id}: ${report.error}`));
        else waiting?.resolve(report.result);
        return;
      }
      this.reports.push(report);
      for (const watcher of this.watchers) watcher();
    });
    void this.exited.then(() => {
      for (const { reject } of this.pending.values()) reject(new Error(`${this.id} exited`));
      this.pending.clear();
      for (const watcher of this.watchers) watcher();
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a command; resolves with its result (bounded: a hang guard, not a timing). */
  request<T>(command: ReplicaCommand, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.id}: no answer to ${command.cmd} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ ...command, id });
    });
  }

  /** Resolves with the first report (past or future) `matches` accepts; fails after `timeoutMs`. */
  waitFor<R extends ReplicaReport = ReplicaReport>(
    matches: (report: ReplicaReport) => boolean,
    what: string,
    timeoutMs = 30_000,
  ): Promise<R> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.reports.find(matches);
        if (found === undefined) return false;
        done();
        resolve(found as R);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${this.id}: ${what} not reported within ${timeoutMs} ms; ` +
              `last reports: ${JSON.stringify(this.reports.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const watcher = (): void => {
        if (!check() && !this.alive) {
          done();
          reject(new Error(`${this.id} exited before reporting ${what}`));
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
      };
      this.watchers.add(watcher);
      watcher();
    });
  }

  applied(): Applied[] {
    return this.reports.filter((report): report is Applied => report.type === 'applied');
  }

  /** Resolves once this replica applied `revision`. */
  appliedRevision(revision: string, timeoutMs = 30_000): Promise<Applied> {
    return this.waitFor<Applied>(
      (report) => report.type === 'applied' && report.revision === revision,
      `revision ${revision} applied`,
      timeoutMs,
    );
  }

  count(type: ReplicaReport['type']): number {
    return this.reports.filter((report) => report.type === type).length;
  }

  /** The last leader report. */
  leader(): LeaderReport | undefined {
    return this.reports.filter((report): report is LeaderReport => report.type === 'leader').at(-1);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** Leaves the fleet and exits; SIGKILLed if it does not within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGCONT');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    this.request({ cmd: 'leave' }, timeoutMs).catch(() => undefined);
    await this.exited;
    clearTimeout(killer);
  }
}

/** Forks `count` replicas named `<prefix>-r<i>` and resolves once all joined the fleet. */
export async function startReplicas(
  count: number,
  init: Omit<ReplicaInit, 'replicaId'>,
  names = Array.from({ length: count }, (_, i) => `r${i}`),
): Promise<ReplicaProcess[]> {
  const replicas: ReplicaProcess[] = [];
  // One after the other: the first seeds the weights and leads, which the tests rely on knowing.
  for (const name of names) {
    const child = fork(SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const replica = new ReplicaProcess(name, child);
    replicas.push(replica);
    child.send({ ...init, replicaId: name } satisfies ReplicaInit);
    await replica.waitFor((report) => report.type === 'ready' || report.type === 'failed', 'ready', 60_000);
    const failed = replica.reports.find((report) => report.type === 'failed');
    if (failed !== undefined) throw new Error(`${name} failed to join: ${(failed as { message: string }).message}`);
  }
  return replicas;
}

export async function stopReplicas(replicas: readonly ReplicaProcess[]): Promise<void> {
  await Promise.all(replicas.map((replica) => replica.stop()));
}

/** The p-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}
