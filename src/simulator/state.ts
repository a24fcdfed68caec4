import { parseZonedDateTime } from './datetime.js';
import { ODATA_TYPE } from './validation.js';

export interface ApplyOutcome {
  stored: Record<string, unknown>;
  /** Same body as the previous write applied to this key: a retry of something that already landed. */
  identicalToPrevious: boolean;
  /** The write carries an older lastReportedDateTime than what is stored; Graph applies it anyway. */
  stale: boolean;
}

/** The userStatus objects, keyed `${collection}/${configId}/${userStatusId}`. */
export class UserStatusStore {
  private readonly objects = new Map<string, Record<string, unknown>>();
  private readonly lastApplied = new Map<string, string>();
  /** Keys per list (`${collection}/${configId}/`) in creation order, so a page costs its size, not the store's. */
  private readonly lists = new Map<string, string[]>();

  get(key: string): Record<string, unknown> | undefined {
    const stored = this.objects.get(key);
    return stored && { ...stored };
  }

  apply(key: string, userStatusId: string, patch: Record<string, unknown>): ApplyOutcome {
    const previous = this.objects.get(key);
    const fingerprint = canonicalJson(patch);
    const identicalToPrevious = this.lastApplied.get(key) === fingerprint;
    const stale = isOlder(patch.lastReportedDateTime, previous?.lastReportedDateTime);

    const stored = { '@odata.type': ODATA_TYPE, id: userStatusId, ...previous, ...patch };
    this.put(key, stored);
    this.lastApplied.set(key, fingerprint);
    return { stored: { ...stored }, identicalToPrevious, stale };
  }

  /** Values the service sets itself on an object that exists (simulator option serviceSets); not a write by our client. */
  setByService(key: string, values: Record<string, unknown>): void {
    const current = this.objects.get(key);
    if (current) this.objects.set(key, { ...current, ...values });
  }

  /**
   * Sets values as someone else would (the portal, Intune itself, another tool): not a write by our client,
   * so it leaves `lastApplied` alone. `values: null` deletes the object.
   */
  setBehindClientsBack(listPrefix: string, userStatusId: string, values: Record<string, unknown> | null): void {
    const key = `${listPrefix}${userStatusId}`;
    if (values === null) {
      if (this.objects.delete(key)) {
        const keys = this.lists.get(listPrefix) ?? [];
        keys.splice(keys.indexOf(key), 1);
      }
      return;
    }
    this.put(key, { '@odata.type': ODATA_TYPE, id: userStatusId, ...this.objects.get(key), ...values });
  }

  /** One page of a list: the objects from `offset` on, and whether more follow. */
  page(listPrefix: string, offset: number, size: number): { items: Record<string, unknown>[]; more: boolean } {
    const keys = this.lists.get(listPrefix) ?? [];
    const items = keys.slice(offset, offset + size).map((k) => ({ ...this.objects.get(k)! }));
    return { items, more: offset + size < keys.length };
  }

  private put(key: string, stored: Record<string, unknown>): void {
    if (!this.objects.has(key)) {
      const listPrefix = key.slice(0, key.length - String(stored.id).length);
      let keys = this.lists.get(listPrefix);
      if (!keys) this.lists.set(listPrefix, (keys = []));
      keys.push(key);
    }
    this.objects.set(key, stored);
  }

  snapshot(): Record<string, Record<string, unknown>> {
    return Object.fromEntries([...this.objects].map(([key, value]) => [key, { ...value }]));
  }

  clear(): void {
    this.objects.clear();
    this.lastApplied.clear();
    this.lists.clear();
  }
}

function isOlder(incoming: unknown, current: unknown): boolean {
  if (typeof incoming !== 'string' || typeof current !== 'string') return false;
  const a = parseZonedDateTime(incoming);
  const b = parseZonedDateTime(current);
  return a !== undefined && b !== undefined && a < b;
}

// Bodies are flat objects of primitives, so sorting top-level keys is enough to ignore key order.
function canonicalJson(value: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}
