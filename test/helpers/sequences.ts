/** Pure helpers to judge a sequence of subset names against weights. */

/** The largest |count - window * share| over every sliding window and every subset. */
export function maxWindowDeviation(
  sequence: readonly string[],
  weights: Record<string, number>,
  window: number,
): number {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  const names = Object.keys(weights);
  const counts = new Map(names.map((n) => [n, 0]));
  let worst = 0;
  for (let t = 0; t < sequence.length; t++) {
    counts.set(sequence[t]!, (counts.get(sequence[t]!) ?? 0) + 1);
    if (t >= window) counts.set(sequence[t - window]!, counts.get(sequence[t - window]!)! - 1);
    if (t < window - 1) continue;
    for (const name of names) {
      worst = Math.max(worst, Math.abs(counts.get(name)! - (window * weights[name]!) / total));
    }
  }
  return worst;
}

/** How often each name occurs. */
export function countOf(sequence: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of sequence) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}
