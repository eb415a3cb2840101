/**
 * A one-time warning (per name) when two open splits share a name: the name labels logs, errors
 * and the `split=` metric label, which then cannot tell the splits apart. Through
 * `process.emitWarning` (type `TrafficSplitWarning`, code `WARN_SPLIT_DUPLICATE_NAME`).
 * @module
 */
import { emitClientWarning } from '../policy/grpc/logging.js';
import { openSplitNamed } from '../policy/balancer/resolver.js';

const warnedNames = new Set<string>();

/**
 * Warns when another open split already has `name`. Not refused: the name only labels logs,
 * errors and metrics (each split's target is unique), the default name is shared by every
 * unnamed split, and a closed split's name is free again.
 */
export function warnIfNameInUse(name: string, target: string): void {
  const other = openSplitNamed(name);
  if (other === undefined || warnedNames.has(name)) return;
  warnedNames.add(name);
  emitClientWarning(
    `split name "${name}" is already used by the open split ${other}, ` +
      `and ${target} is named "${name}" too: logs, errors ` +
      `and the split="${name}" metric label cannot tell them apart; give ` +
      `each split its own name (new TrafficSplit({ name: 'reporter', ... }))`,
    'WARN_SPLIT_DUPLICATE_NAME',
  );
}
