import { createColumnMapper, type CanonicalColumn } from '../domain/columns.js';
import { fingerprint } from '../domain/fingerprint.js';
import { recordKey } from '../domain/key.js';
import { toCanonicalFields, validateRow } from '../domain/validate.js';
import { MAX_QUOTED_CHARS, quoteValue } from '../domain/quote.js';
import { reportedTicks, versionOf } from '../domain/version.js';
import type { FieldError, RawRow, RowResult, UserStatusRecord } from '../interfaces.js';
import type { GraphVerdict } from '../results/store.js';

export interface CheckedRow {
  line: number;
  key: string;
  record?: UserStatusRecord;
  fingerprint: string;
  version: string;
  errors?: FieldError[];
}

/** A checked row before it has an arrival number: `reportedTicks` is the first part of its version ('' when rejected). */
export interface UnversionedRow extends Omit<CheckedRow, 'version'> {
  reportedTicks: string;
  /** Set by import --reconcile before admission. */
  graph?: GraphVerdict;
}

/** Which tenants rows may name (src/config.ts tenantDirectory): the tenants file's, and the default tenant's GUID. */
export interface TenantDirectory {
  known: ReadonlySet<string>;
  defaultTenantId?: string;
}

export interface RowCheckerOptions {
  /** Without it, a row naming any tenant is rejected (no SYNC_TENANTS_FILE). */
  tenants?: TenantDirectory;
  /** Under v1.0 Graph has no iosLobAppProvisioningConfigurations, so such rows are refused rather than sent to certain failure. */
  apiVersion?: 'beta' | 'v1.0';
}

export const IOS_UNDER_V1_REASON =
  'iosLobAppProvisioningConfiguration does not exist in Graph v1.0 ' +
  '(GRAPH_API_VERSION=v1.0), so this row could only fail; use ' +
  'GRAPH_API_VERSION=beta for these rows';

export function describeErrors(errors: FieldError[]): string {
  return errors.map((e) => (e.column === '(row)' ? `row ${e.reason}` : `column ${e.column}: ${e.reason}`)).join('; ');
}

/** Turns raw source rows into validated records with their key, fingerprint and newest-wins version. */
export class RowChecker {
  readonly mapColumn: (name: string) => CanonicalColumn | undefined;
  private readonly unknownSeen = new Set<string>();

  constructor(
    renames: Record<string, string> = {},
    private readonly onUnknownColumn: (name: string) => void = () => undefined,
    private readonly options: RowCheckerOptions = {},
  ) {
    this.mapColumn = createColumnMapper(renames);
  }

  check(raw: RawRow, sequence: number): CheckedRow {
    const { reportedTicks: ticks, ...row } = this.checkUnversioned(raw);
    return { ...row, version: row.record ? versionOf(ticks, sequence) : '' };
  }

  /** Everything but the arrival number, so rows can be checked while the previous batch is still in Redis. */
  checkUnversioned(raw: RawRow): UnversionedRow {
    if (raw.problem) return { line: raw.line, key: '', fingerprint: '', reportedTicks: '', errors: [raw.problem] };
    // for...in rather than Object.keys: no array per row (rows are plain objects from JSON.parse or csv-parse).
    for (const name in raw.fields) {
      if (!this.mapColumn(name) && !this.unknownSeen.has(name)) {
        this.unknownSeen.add(name);
        this.onUnknownColumn(name);
      }
    }
    const { fields, errors: conflicts } = toCanonicalFields(raw.fields, this.mapColumn);
    const result = validateRow(fields);
    if (!result.ok || conflicts.length > 0) {
      // Cut like any quoted value: a rejected row's key is stored and printed, and its ids may be megabytes long.
      const partialKey = [fields.configurationType || 'mobileAppConfiguration', fields.configurationId ?? '', fields.userStatusId ?? '']
        .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)).slice(0, MAX_QUOTED_CHARS))
        .join('/');
      return {
        line: raw.line,
        key: partialKey,
        fingerprint: '',
        reportedTicks: '',
        errors: [...conflicts, ...(result.ok ? [] : result.errors)],
      };
    }
    let record = result.record;
    if (record.tenantId !== undefined) {
      const directory = this.options.tenants;
      if (record.tenantId === directory?.defaultTenantId) {
        // The default tenant named by its GUID is still the default tenant: the same keys as its rows without tenantId.
        const { tenantId: _default, ...rest } = record;
        record = rest;
      } else if (!directory?.known.has(record.tenantId)) {
        const reason =
          directory && directory.known.size > 0
            ? 'is not a tenant of SYNC_TENANTS_FILE'
            : 'names a tenant, but SYNC_TENANTS_FILE is not set (only the default tenant is known)';
        return {
          line: raw.line,
          key: recordKey(record),
          fingerprint: '',
          reportedTicks: '',
          errors: [{ column: 'tenantId', reason: `${quoteValue(record.tenantId)} ${reason}` }],
        };
      }
    }
    if (this.options.apiVersion === 'v1.0' && record.configurationType === 'iosLobAppProvisioningConfiguration') {
      return {
        line: raw.line,
        key: recordKey(record),
        fingerprint: '',
        reportedTicks: '',
        errors: [{ column: 'configurationType', reason: IOS_UNDER_V1_REASON }],
      };
    }
    return {
      line: raw.line,
      key: recordKey(record),
      record,
      fingerprint: fingerprint(record.properties),
      reportedTicks: reportedTicks(record.properties.lastReportedDateTime),
    };
  }
}

export function rejectedRow(row: Pick<CheckedRow, 'line' | 'key' | 'errors'>): RowResult {
  return { line: row.line, key: row.key, state: 'rejected', reason: describeErrors(row.errors ?? []), errors: row.errors };
}
