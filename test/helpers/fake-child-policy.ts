/**
 * A child policy whose state the test drives, registered into grpc-js under FAKE_CHILD_POLICY.
 * Each subset points at its own `ipv4:127.0.0.1:<port>` target (resolved in process, nothing
 * connects), and the fake child that receives that port is found with `fakeChild(port)`. Its
 * picker answers COMPLETE with a fake subchannel labelled by the port's subset name, so picks
 * read as subset names (see `picksFrom`).
 */
import * as grpc from '@grpc/grpc-js';

const { registerLoadBalancerType, PickResultType, QueuePicker } = grpc.experimental;
type Helper = grpc.experimental.ChannelControlHelper;
type Picker = grpc.experimental.Picker;
type PickResult = grpc.experimental.PickResult;

export const FAKE_CHILD_POLICY = 'traffic_split_test_fake_child';

class FakeChildConfig implements grpc.experimental.TypedLoadBalancingConfig {
  getLoadBalancerName(): string {
    return FAKE_CHILD_POLICY;
  }
  toJsonObject(): object {
    return { [FAKE_CHILD_POLICY]: {} };
  }
  static createFromJson(): FakeChildConfig {
    return new FakeChildConfig();
  }
}

/** A subchannel stand-in: the picker only hands it back, so a label is all it needs. */
export interface FakeSubchannel {
  readonly label: string;
}

/** A picker whose every pick completes on one fake subchannel. */
export function completingPicker(label: string): Picker {
  const subchannel = { label } as unknown as grpc.experimental.SubchannelInterface;
  const result: PickResult = {
    pickResultType: PickResultType.COMPLETE,
    subchannel,
    status: null,
    onCallStarted: null,
    onCallEnded: null,
  };
  return { pick: () => result };
}

export class FakeChildPolicy implements grpc.experimental.LoadBalancer {
  port = -1;
  destroyed = false;
  exitIdleCalls = 0;
  constructor(private readonly helper: Helper) {}

  updateAddressList(endpoints: grpc.experimental.StatusOr<grpc.experimental.Endpoint[]>): boolean {
    if (!endpoints.ok) return false;
    const address = endpoints.value[0]?.addresses[0] as { port?: number } | undefined;
    if (address?.port === undefined) return false;
    this.port = address.port;
    children.set(this.port, this);
    return true;
  }

  /** Reports `state` to the subset: READY with a completing picker labelled `label`. */
  report(state: grpc.connectivityState, label = `port ${this.port}`, errorMessage: string | null = null): void {
    const picker: Picker =
      state === grpc.connectivityState.READY
        ? completingPicker(label)
        : state === grpc.connectivityState.TRANSIENT_FAILURE
          ? new grpc.experimental.UnavailablePicker({
              code: grpc.status.UNAVAILABLE,
              details: errorMessage ?? 'fake failure',
            })
          : new QueuePicker(this);
    this.helper.updateState(state, picker, errorMessage);
  }

  exitIdle(): void {
    this.exitIdleCalls++;
  }
  resetBackoff(): void {}
  destroy(): void {
    this.destroyed = true;
    if (children.get(this.port) === this) children.delete(this.port);
  }
  getTypeName(): string {
    return FAKE_CHILD_POLICY;
  }
}

const children = new Map<number, FakeChildPolicy>();
let registered = false;

/** Registers the fake child policy (once per process). */
export function registerFakeChildPolicy(): void {
  if (registered) return;
  registered = true;
  registerLoadBalancerType(FAKE_CHILD_POLICY, FakeChildPolicy, FakeChildConfig);
}

/**
 * The fake child that received `port`, once its subset's resolver has answered (the ipv4:
 * resolver answers on a later tick). Rejects after `maxTicks` event-loop turns: a hang guard that
 * counts turns, not time.
 */
export async function fakeChild(port: number, maxTicks = 1_000): Promise<FakeChildPolicy> {
  for (let tick = 0; tick < maxTicks; tick++) {
    const child = children.get(port);
    if (child !== undefined) return child;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`no fake child received port ${port} after ${maxTicks} event-loop turns`);
}

/** Whether some live fake child holds `port`. */
export function hasFakeChild(port: number): boolean {
  return children.has(port);
}

/**
 * `n` picks from `picker`, each as a word: the subchannel's label for COMPLETE, `QUEUE`, or
 * `DROP: <details>` / `TRANSIENT_FAILURE: <details>`.
 */
export function picksFrom(
  picker: Picker,
  n: number,
  metadata: () => grpc.Metadata = () => new grpc.Metadata(),
): string[] {
  const picks: string[] = [];
  for (let i = 0; i < n; i++) {
    const result = picker.pick({ metadata: metadata(), extraPickInfo: {} });
    switch (result.pickResultType) {
      case PickResultType.COMPLETE:
        picks.push((result.subchannel as unknown as FakeSubchannel).label);
        break;
      case PickResultType.QUEUE:
        picks.push('QUEUE');
        break;
      case PickResultType.DROP:
        picks.push(`DROP: ${result.status?.details}`);
        break;
      default:
        picks.push(`TRANSIENT_FAILURE: ${result.status?.details}`);
    }
  }
  return picks;
}

/** How many times each word occurs in `picks`. */
export function tally(picks: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const pick of picks) counts[pick] = (counts[pick] ?? 0) + 1;
  return counts;
}
