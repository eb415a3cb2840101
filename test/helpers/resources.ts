/** The handles and timers that keep the process alive, compared as counts by type. */

/** `process.getActiveResourcesInfo()` as counts by type (`TCPWRAP`, `Timeout`, ...). Lists
 * ref'd timers only. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** `''` when equal, else `TCPWRAP 2 -> 4, Timeout 1 -> 0`. */
export function diffResources(before: Map<string, number>, after: Map<string, number>): string {
  const types = [...new Set([...before.keys(), ...after.keys()])].sort();
  return types
    .filter((type) => (before.get(type) ?? 0) !== (after.get(type) ?? 0))
    .map((type) => `${type} ${before.get(type) ?? 0} -> ${after.get(type) ?? 0}`)
    .join(', ');
}
