/**
 * The environment a run's figures belong to: they mean little without the machine, the versions
 * and how busy the machine was.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, type as osType, release } from 'node:os';
import { nginxVersion } from './nginx.js';
import { cpuModelFromProc, machineBusyCpuUs } from './proc-cpu.js';

function packageVersion(relativePath: string): string {
  try {
    const json = JSON.parse(readFileSync(new URL(relativePath, import.meta.url), 'utf8')) as { version?: string };
    return json.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function gitRevision(): string {
  try {
    const options = {
      cwd: new URL('../..', import.meta.url),
      encoding: 'utf8' as const,
      stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[],
    };
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], options).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], options).trim() !== '';
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

/** Key facts, as strings for the report header. Paths are relative to `dist/benchmarks/`. */
export function describeEnvironment(nginxEnabled: boolean): Record<string, string> {
  const cores = cpus();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const nginx = nginxEnabled
    ? (nginxVersion() ?? 'not found (Debian: apt-get install nginx)')
    : 'disabled (--no-nginx)';
  return {
    node: process.version,
    '@grpc/grpc-js': packageVersion('../../node_modules/@grpc/grpc-js/package.json'),
    'grpc-traffic-split': `${packageVersion('../../package.json')} (${gitRevision()})`,
    cores: String(cores.length),
    cpu: `${cores.length} × ${cpuModelFromProc() ?? cores[0]?.model.trim() ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${osType()} ${release()}`,
    nginx,
    'load average at start (1/5/15 min)': `${load}${loadavg()[0]! > 0.5 ? ' — the machine was busy: figures are noisier than usual' : ''}`,
  };
}

/** CPU counters at the start of a run, for `describeLoadAtEnd()`. */
export interface LoadMark {
  machineUs: number | null;
  ownUs: number;
  wallMs: number;
}

/** Marks the start of a run. */
export function markLoad(): LoadMark {
  const own = process.cpuUsage();
  return { machineUs: machineBusyCpuUs(), ownUs: own.user + own.system, wallMs: Date.now() };
}

/**
 * How busy the machine was over the run: the load average at its end, and the CPU every other
 * process used meanwhile (the machine's busy time from /proc/stat less this process's), as cores.
 */
export function describeLoadAtEnd(start: LoadMark): Record<string, string> {
  const end = markLoad();
  const seconds = (end.wallMs - start.wallMs) / 1000;
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  let others = 'not measured (no /proc/stat)';
  if (start.machineUs !== null && end.machineUs !== null && seconds > 0) {
    const otherUs = end.machineUs - start.machineUs - (end.ownUs - start.ownUs);
    others =
      `${(otherUs / 1e6 / seconds).toFixed(2)} cores on average ` +
      `over ${seconds.toFixed(0)} s (the bench's own server processes and nginx included)`;
  }
  return { 'load average at end (1/5/15 min)': load, 'CPU of other processes during the run': others };
}
