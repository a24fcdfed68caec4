import {
  COMPLIANCE_STATUSES,
  CONFIGURATION_TYPES,
  type ComplianceStatusValue,
  type ConfigurationType,
  type FieldError,
  type UserStatusProperties,
  type ValidationResult,
} from '../interfaces.js';
import type { CanonicalColumn } from './columns.js';
import { quoteValue } from './quote.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const MAX_ID_LENGTH = 256;
const MAX_STRING_LENGTH = 1024;

// Graph's DateTimeOffset: a full date-time with seconds, up to 7 fractional digits, and a zone of at most ±14:00.
const DATE_TIME_WITH_ZONE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,7})?(Z|[+-](\d{2}):(\d{2}))$/;

const MIN_DATE_TIME_MS = Date.parse('0001-01-01T00:00:00Z');
const MAX_DATE_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');

const STATUS_BY_FOLDED = new Map(COMPLIANCE_STATUSES.map((s) => [s.toLowerCase(), s]));
const TYPE_BY_FOLDED = new Map(CONFIGURATION_TYPES.map((t) => [t.toLowerCase(), t]));

/** Empty cells, and nulls in NDJSON, mean "not provided": PATCH leaves the property unchanged. */
function isAbsent(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

function asText(value: unknown, column: string, errors: FieldError[]): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  errors.push({ column, reason: `must be text, got ${Array.isArray(value) ? 'an array' : typeof value}` });
  return undefined;
}

/** Ids go into a URL path; anything that could change the path's shape is refused outright rather than escaped. */
export function idProblem(id: string): string | undefined {
  if (id.length > MAX_ID_LENGTH) return `is longer than ${MAX_ID_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return 'contains a control character';
  if (/\s/.test(id)) return 'contains whitespace';
  const bad = /[/?#%\\]/.exec(id);
  if (bad) return `contains "${bad[0]}", which is not allowed in an id`;
  // `.` and `..` are path segments that URL resolution removes: the PATCH would reach another path.
  if (/^\.+$/.test(id)) return 'is made only of dots, which is not allowed in an id';
  if (id.includes('..')) return 'contains "..", which is not allowed in an id';
  // Zero-width and bidirectional controls (category Cf) make two different ids look the same.
  const invisible = /\p{Cf}/u.exec(id);
  if (invisible)
    return (
      `contains the invisible character ` +
      `U+${invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}, ` +
      `which is not allowed in an id`
    );
  return undefined;
}

function validateId(value: unknown, column: string, errors: FieldError[]): string | undefined {
  if (isAbsent(value)) {
    errors.push({ column, reason: 'is required' });
    return undefined;
  }
  const text = asText(value, column, errors);
  if (text === undefined) return undefined;
  const problem = idProblem(text);
  if (problem) {
    errors.push({ column, reason: problem });
    return undefined;
  }
  return text;
}

export function parseDevicesCount(value: unknown): number | string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return `must be a whole number (Int32), got ${value}`;
  } else if (typeof value === 'string') {
    if (!/^\s*[+-]?\d+\s*$/.test(value)) return `must be a whole number (Int32), got ${quoteValue(value)}`;
  } else {
    return `must be a whole number (Int32), got ${typeof value}`;
  }
  const n = Number(value);
  if (n < INT32_MIN || n > INT32_MAX) return `${quoteValue(String(value).trim())} is outside the Int32 range`;
  return n;
}

export function dateTimeProblem(value: string): string | undefined {
  const m = DATE_TIME_WITH_ZONE.exec(value);
  if (!m) return `${quoteValue(value)} is not an ISO 8601 date-time with a zone, e.g. 2024-05-01T10:00:00Z`;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999, and 0001-01-01 is .NET's minimum date.
  const probe = new Date(0);
  probe.setUTCFullYear(year, month - 1, day);
  if (
    year < 1 ||
    probe.getUTCFullYear() !== year ||
    probe.getUTCMonth() !== month - 1 ||
    probe.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return `${quoteValue(value)} is not a real calendar date-time`;
  }
  if (m[9] !== undefined) {
    const offsetMinutes = Number(m[9]) * 60 + Number(m[10]);
    if (Number(m[10]) > 59 || offsetMinutes > 14 * 60) return `${quoteValue(value)} has a zone offset beyond ±14:00, which Graph refuses`;
    // DateTimeOffset also needs its UTC time within years 0001-9999 (versions count ticks from 0001-01-01 UTC).
    const utcMs = probe.setUTCHours(hour, minute, second, 0) - (m[8][0] === '-' ? -1 : 1) * offsetMinutes * 60_000;
    if (utcMs < MIN_DATE_TIME_MS || utcMs > MAX_DATE_TIME_MS)
      return `${quoteValue(value)} falls outside years 0001-9999 once converted to UTC`;
  }
  return undefined;
}

/**
 * Validates one row, already keyed by canonical column names, against Graph's types.
 * Every problem in the row is reported, not just the first, so a user can fix a row in one go.
 */
export function validateRow(fields: Partial<Record<CanonicalColumn, unknown>>): ValidationResult {
  const errors: FieldError[] = [];

  let configurationType: ConfigurationType = 'mobileAppConfiguration';
  if (!isAbsent(fields.configurationType)) {
    const text = asText(fields.configurationType, 'configurationType', errors);
    const found = text === undefined ? undefined : TYPE_BY_FOLDED.get(text.trim().toLowerCase());
    if (found) configurationType = found;
    else if (text !== undefined)
      errors.push({ column: 'configurationType', reason: `${quoteValue(text)} is not one of ${CONFIGURATION_TYPES.join(', ')}` });
  }
  const configurationId = validateId(fields.configurationId, 'configurationId', errors);
  const userStatusId = validateId(fields.userStatusId, 'userStatusId', errors);

  const properties: UserStatusProperties = {};
  for (const column of ['userDisplayName', 'userPrincipalName'] as const) {
    if (isAbsent(fields[column])) continue;
    const text = asText(fields[column], column, errors);
    if (text === undefined) continue;
    if (text.length > MAX_STRING_LENGTH) errors.push({ column, reason: `is longer than ${MAX_STRING_LENGTH} characters` });
    else if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text)) errors.push({ column, reason: 'contains a control character' });
    else properties[column] = text;
  }
  if (!isAbsent(fields.devicesCount)) {
    const count = parseDevicesCount(fields.devicesCount);
    if (typeof count === 'string') errors.push({ column: 'devicesCount', reason: count });
    else properties.devicesCount = count;
  }
  if (!isAbsent(fields.status)) {
    const text = asText(fields.status, 'status', errors);
    const status: ComplianceStatusValue | undefined = text === undefined ? undefined : STATUS_BY_FOLDED.get(text.trim().toLowerCase());
    if (status) properties.status = status;
    else if (text !== undefined)
      errors.push({ column: 'status', reason: `${quoteValue(text)} is not one of ${COMPLIANCE_STATUSES.join(', ')}` });
  }
  if (!isAbsent(fields.lastReportedDateTime)) {
    const text = asText(fields.lastReportedDateTime, 'lastReportedDateTime', errors);
    if (text !== undefined) {
      const problem = dateTimeProblem(text.trim());
      if (problem) errors.push({ column: 'lastReportedDateTime', reason: problem });
      else properties.lastReportedDateTime = text.trim();
    }
  }

  let tenantId: string | undefined;
  if (!isAbsent(fields.tenantId)) {
    const text = asText(fields.tenantId, 'tenantId', errors)?.trim();
    if (text !== undefined) {
      if (GUID.test(text)) tenantId = text.toLowerCase();
      else
        errors.push({ column: 'tenantId', reason: `${quoteValue(text)} is not a tenant GUID (e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47)` });
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  if (Object.keys(properties).length === 0) {
    return { ok: false, errors: [{ column: '(row)', reason: 'has no properties to change: every property cell is empty' }] };
  }
  return {
    ok: true,
    record: {
      ...(tenantId ? { tenantId } : {}),
      configurationType,
      configurationId: configurationId!,
      userStatusId: userStatusId!,
      properties,
    },
  };
}

/** Maps a source row onto canonical columns; `id` and `userStatusId` may both be present but must agree. */
export function toCanonicalFields(
  raw: Record<string, unknown>,
  mapColumn: (sourceName: string) => CanonicalColumn | undefined,
): { fields: Partial<Record<CanonicalColumn, unknown>>; errors: FieldError[] } {
  const fields: Partial<Record<CanonicalColumn, unknown>> = {};
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const column = mapColumn(name);
    if (!column) continue;
    const earlier = fields[column];
    if (!isAbsent(earlier) && !isAbsent(value) && earlier !== value) {
      errors.push({ column, reason: `two columns give different values (${quoteValue(earlier)} and ${quoteValue(value)})` });
    }
    if (isAbsent(earlier)) fields[column] = value;
  }
  return { fields, errors };
}
