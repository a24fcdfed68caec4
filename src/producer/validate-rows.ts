import { createColumnMapper, type CanonicalColumn } from '../domain/columns.js';
import { fingerprint } from '../domain/fingerprint.js';
import { recordKey } from '../domain/key.js';
import { toCanonicalFields, validateRow } from '../domain/validate.js';
import { makeVersion } from '../domain/version.js';
import type { FieldError, RawRow, RowResult, UserStatusRecord } from '../interfaces.js';

export interface CheckedRow {
  line: number;
  key: string;
  record?: UserStatusRecord;
  fingerprint: string;
  version: string;
  errors?: FieldError[];
}

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
  ) {
    this.mapColumn = createColumnMapper(renames);
  }

  check(raw: RawRow, sequence: number): CheckedRow {
    if (raw.problem) return { line: raw.line, key: '', fingerprint: '', version: '', errors: [raw.problem] };
    for (const name of Object.keys(raw.fields)) {
      if (!this.mapColumn(name) && !this.unknownSeen.has(name)) {
        this.unknownSeen.add(name);
        this.onUnknownColumn(name);
      }
    }
    const { fields, errors: conflicts } = toCanonicalFields(raw.fields, this.mapColumn);
    const result = validateRow(fields);
    const partialKey = [fields.configurationType || 'mobileAppConfiguration', fields.configurationId ?? '', fields.userStatusId ?? ''].map(String).join('/');
    if (!result.ok || conflicts.length > 0) {
      return { line: raw.line, key: partialKey, fingerprint: '', version: '', errors: [...conflicts, ...(result.ok ? [] : result.errors)] };
    }
    const record = result.record;
    return {
      line: raw.line,
      key: recordKey(record),
      record,
      fingerprint: fingerprint(record.properties),
      version: makeVersion(record.properties.lastReportedDateTime, sequence),
    };
  }
}

export function rejectedRow(row: CheckedRow): RowResult {
  return { line: row.line, key: row.key, state: 'rejected', reason: describeErrors(row.errors ?? []), errors: row.errors };
}
