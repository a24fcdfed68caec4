import type { SyncConfig } from '../config.js';

/** The `tenant` label of the default tenant's series (rows without tenantId, or naming AZURE_TENANT_ID). */
export const DEFAULT_TENANT_LABEL = 'default';
/** The `tenant` label under which every tenant past the limit, and any tenant not in the tenants file, is summed. */
export const OTHER_TENANTS_LABEL = 'other';

export interface TenantLabelOptions {
  /** The tenants file's GUIDs, in the file's order (SyncConfig.tenants). */
  configured: readonly string[];
  /** SYNC_METRICS_TENANTS: how many of them get a series of their own; the rest are summed under `other`. */
  limit: number;
  /** AZURE_TENANT_ID, when set: rows naming it belong to the default tenant. */
  defaultTenantId?: string;
}

/**
 * The `tenant` label of a tenant's metric series: `default` for the default tenant, the GUID of one of the first
 * `limit` tenants of the tenants file, else `other`. Which tenants are named comes from the file's order, not from
 * which tenant a process saw first, so every server replica and worker names the same ones; and a tenant id never
 * seen in the file (a hostile or mistyped row) is never echoed into a label. A scrape thus holds at most limit + 2
 * values of the label, however many tenants or rows there are.
 */
export function tenantLabeller(options: TenantLabelOptions): (tenant: string) => string {
  const limit = Number.isInteger(options.limit) && options.limit > 0 ? options.limit : 0;
  const named = new Set(options.configured.slice(0, limit).map((id) => id.toLowerCase()));
  const defaultId = options.defaultTenantId?.toLowerCase();
  return (tenant) => {
    if (tenant === '' || (defaultId !== undefined && tenant.toLowerCase() === defaultId)) return DEFAULT_TENANT_LABEL;
    const id = tenant.toLowerCase();
    return named.has(id) ? id : OTHER_TENANTS_LABEL;
  };
}

/** The labels a scrape can hold, in a stable order: `default`, the named tenants, then `other` when some tenants are not named. */
export function tenantLabels(options: TenantLabelOptions): string[] {
  const label = tenantLabeller(options);
  const labels = options.configured.map(label);
  const named = labels.filter((l) => l !== OTHER_TENANTS_LABEL && l !== DEFAULT_TENANT_LABEL);
  return [DEFAULT_TENANT_LABEL, ...new Set(named), ...(labels.includes(OTHER_TENANTS_LABEL) ? [OTHER_TENANTS_LABEL] : [])];
}

/** The labelling options of a configuration: the tenants file's tenants, SYNC_METRICS_TENANTS and AZURE_TENANT_ID. */
export function tenantLabelOptions(config: Pick<SyncConfig, 'tenants' | 'metricsTenantLimit' | 'defaultTenantId'>): TenantLabelOptions {
  return {
    configured: config.tenants.map((t) => t.tenantId),
    limit: config.metricsTenantLimit,
    ...(config.defaultTenantId ? { defaultTenantId: config.defaultTenantId } : {}),
  };
}
