/**
 * CPU time from Linux's /proc: of another process and its children (nginx's master and
 * workers), and of the whole machine, so a report can say how busy the machine was besides the
 * bench. Everything returns null where /proc is not there (macOS): the report then says so.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc counts CPU time in ticks of 1/100 s on every common architecture. */
const TICKS_PER_SECOND = 100;

/** utime + stime of one process, in µs; null when it is gone or /proc is absent. */
function processCpuUs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Ids of the processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // The process ended while the list was read.
    }
  }
  return children;
}

/**
 * A reader of the CPU time of `pid` and of the children it has now (read them once the process
 * has started its workers), in µs; null without /proc.
 */
export function processTreeCpu(pid: number): (() => number) | null {
  if (processCpuUs(pid) === null) return null;
  const pids = [pid, ...childrenOf(pid)];
  return () => pids.reduce((sum, p) => sum + (processCpuUs(p) ?? 0), 0);
}

/** Busy CPU time of the whole machine (every core, every process), in µs; null without /proc. */
export function machineBusyCpuUs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (
      (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1e6) /
      TICKS_PER_SECOND
    );
  } catch {
    return null;
  }
}

/** The CPU model from /proc/cpuinfo, or null. */
export function cpuModelFromProc(): string | null {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? null;
  } catch {
    return null;
  }
}
