import { parseZonedDateTime } from './datetime.js';

export const ENTITY_TYPE = 'microsoft.graph.managedDeviceMobileAppConfigurationUserStatus';
export const ODATA_TYPE = `#${ENTITY_TYPE}`;

export const USER_STATUS_VALUES = [
  'unknown',
  'notApplicable',
  'compliant',
  'remediated',
  'nonCompliant',
  'error',
  'conflict',
  'notAssigned',
] as const;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export type ParsedBody = { ok: true; value: unknown } | { ok: false; message: string };
export type PatchValidation = { ok: true; patch: Record<string, unknown> } | { ok: false; message: string };

/** Parses the raw request text; kept separate so a malformed body can still be logged verbatim. */
export function parseJsonBody(raw: string | undefined): ParsedBody {
  if (raw === undefined || raw.trim() === '') {
    return { ok: false, message: 'Empty Payload. JSON content expected.' };
  }
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch (err) {
    return { ok: false, message: `Invalid JSON. ${(err as Error).message}` };
  }
}

// Each rule returns a description of what was expected, or undefined when the value fits.
const PROPERTY_RULES: Record<string, (value: unknown) => string | undefined> = {
  '@odata.type': (v) => (typeof v === 'string' ? undefined : 'a string'),
  id: (v) => (typeof v === 'string' ? undefined : 'Edm.String'),
  userDisplayName: (v) => (v === null || typeof v === 'string' ? undefined : 'Edm.String or null'),
  userPrincipalName: (v) => (v === null || typeof v === 'string' ? undefined : 'Edm.String or null'),
  devicesCount: (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX
      ? undefined
      : `Edm.Int32 (a JSON number that is an integer from ${INT32_MIN} to ${INT32_MAX})`,
  status: (v) =>
    typeof v === 'string' && (USER_STATUS_VALUES as readonly string[]).includes(v)
      ? undefined
      : `one of the microsoft.graph.complianceStatus members: ${USER_STATUS_VALUES.join(', ')}`,
  lastReportedDateTime: (v) =>
    typeof v === 'string' && parseZonedDateTime(v) !== undefined
      ? undefined
      : 'Edm.DateTimeOffset (ISO 8601 date-time with a zone, e.g. 2024-05-01T12:00:00Z)',
};

/** Graph's rules for a userStatus PATCH body, reported in the order Graph reports them. */
export function validateUserStatusPatch(body: unknown, userStatusId: string): PatchValidation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, message: `The request body must be a JSON object of type '${ENTITY_TYPE}'.` };
  }
  const entries = Object.entries(body);

  for (const [key] of entries) {
    if (!Object.hasOwn(PROPERTY_RULES, key)) {
      return {
        ok: false,
        message:
          `Property '${key}' does not exist on type '${ENTITY_TYPE}'. Make sure to only use property names ` +
          'that are defined by the type or mark the type as open type.',
      };
    }
  }

  for (const [key, value] of entries) {
    const expected = PROPERTY_RULES[key](value);
    if (expected !== undefined) {
      return {
        ok: false,
        message: `Invalid value ${describe(value)} for property '${key}' on type '${ENTITY_TYPE}': expected ${expected}.`,
      };
    }
  }

  const record = body as Record<string, unknown>;
  if ('@odata.type' in record && record['@odata.type'] !== ODATA_TYPE) {
    return {
      ok: false,
      message: `A type named '${String(record['@odata.type'])}' could not be resolved; property '@odata.type' must be '${ODATA_TYPE}'.`,
    };
  }
  if ('id' in record && record.id !== userStatusId) {
    return {
      ok: false,
      message: `The value of property 'id' ('${String(record.id)}') does not match the key in the request URI ('${userStatusId}').`,
    };
  }
  return { ok: true, patch: { ...record } };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
