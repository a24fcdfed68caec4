import { parse } from 'csv-parse/sync';
import type { SeedRow } from './core.js';
import type { Collection } from './routes.js';

/**
 * The user statuses an export names, read by the simulator itself (it imports none of the client's code): a CSV with a
 * header holding configurationId and userStatusId (or id), and optionally configurationType, tenantId and
 * userPrincipalName, matched without regard to case or surrounding spaces. Rows without both ids are skipped: there
 * is nothing Graph could hold for them.
 */
export function seedRowsFromCsv(text: string): SeedRow[] {
  const records = parse<Record<string, string | undefined>>(text, {
    columns: (header: string[]) => header.map(fold),
    skip_empty_lines: true,
    relax_column_count: true,
    bom: true,
  });
  if (records.length > 0 && !('configurationid' in records[0] && ('userstatusid' in records[0] || 'id' in records[0]))) {
    throw new Error('the CSV header needs configurationId and userStatusId (or id)');
  }
  return seedRowsFrom(
    records.map((r) => ({
      configurationId: r.configurationid,
      userStatusId: r.userstatusid ?? r.id,
      configurationType: r.configurationtype,
      tenantId: r.tenantid,
      userPrincipalName: r.userprincipalname,
    })),
  );
}

/** Rows given as JSON (`POST /_sim/seed {"rows": [...]}`), with the CSV's column names. */
export function seedRowsFrom(rows: unknown[]): SeedRow[] {
  const out: SeedRow[] = [];
  for (const raw of rows) {
    if (typeof raw !== 'object' || raw === null) throw new Error('each row must be an object with configurationId and userStatusId');
    const r = raw as Record<string, unknown>;
    const configId = text(r.configurationId);
    const userStatusId = text(r.userStatusId);
    if (configId === undefined || userStatusId === undefined) continue;
    const row: SeedRow = { configId, userStatusId, collection: collectionOf(text(r.configurationType)) };
    const tenantId = text(r.tenantId);
    if (tenantId !== undefined) row.tenantId = tenantId.toLowerCase();
    const upn = text(r.userPrincipalName);
    if (upn !== undefined) row.userPrincipalName = upn;
    out.push(row);
  }
  return out;
}

const fold = (name: string) => name.trim().toLowerCase();

function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** As exports name the type; an empty type is a mobile app configuration, the common case. */
function collectionOf(type: string | undefined): Collection {
  return type !== undefined && fold(type) === 'ioslobappprovisioningconfiguration'
    ? 'iosLobAppProvisioningConfigurations'
    : 'mobileAppConfigurations';
}
