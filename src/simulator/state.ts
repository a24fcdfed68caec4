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
    this.objects.set(key, stored);
    this.lastApplied.set(key, fingerprint);
    return { stored: { ...stored }, identicalToPrevious, stale };
  }

  snapshot(): Record<string, Record<string, unknown>> {
    return Object.fromEntries([...this.objects].map(([key, value]) => [key, { ...value }]));
  }

  clear(): void {
    this.objects.clear();
    this.lastApplied.clear();
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
