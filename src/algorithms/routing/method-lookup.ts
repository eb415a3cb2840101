/**
 * Which method-weight override applies to a call: the longest key that matches its full method
 * name, where a key is either a full name (`/pkg.Service/Method`, exact) or a service prefix
 * (`/pkg.Service/`). A full name is always longer than its service's prefix, so "exact, else the
 * service" is the longest match.
 * @module
 */

/** Distinct method names whose answer is remembered. Method names come from the application's
 * clients (a generic client can send any), so the memo is bounded, in names and in their length
 * (no key is longer than MAX_METHOD_KEY_LENGTH); past it, names are looked up with one slice each. */
const MAX_REMEMBERED = 1_024;

export class MethodLookup {
  private readonly exact = new Map<string, number>();
  private readonly services = new Map<string, number>();
  private readonly remembered = new Map<string, number>();

  /** `keys[i]` is override i's key; keys are valid (see parseMethodKey) and distinct. */
  constructor(keys: readonly string[]) {
    keys.forEach((key, i) => (key.endsWith('/') ? this.services : this.exact).set(key, i));
  }

  /** The index of the override for `method`, or -1 (the split's weights apply). */
  indexOf(method: string): number {
    const known = this.remembered.get(method);
    if (known !== undefined) return known;
    const found = this.find(method);
    if (this.remembered.size < MAX_REMEMBERED && method.length <= MAX_METHOD_KEY_LENGTH)
      this.remembered.set(method, found);
    return found;
  }

  private find(method: string): number {
    const exact = this.exact.get(method);
    if (exact !== undefined) return exact;
    if (this.services.size === 0) return -1;
    // The service ends at the second slash (a service name has none): `/svc/a/b`, which a
    // generic client can send, is of service `/svc/`, as a rule's or a rollout's prefix sees it.
    const slash = method.indexOf('/', 1);
    return slash <= 0 ? -1 : (this.services.get(method.slice(0, slash + 1)) ?? -1);
  }
}

/** A full method name: `/service/method`, each part non-empty, without spaces or further slashes. */
export const METHOD_NAME = /^\/[^/\s]+\/[^/\s]+$/;
/** A service prefix: `/service/`. */
export const SERVICE_PREFIX = /^\/[^/\s]+\/$/;
/** Longest key accepted: gRPC method names are short; a longer one is a mistake or an attack. */
export const MAX_METHOD_KEY_LENGTH = 512;
