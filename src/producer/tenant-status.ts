import type { RedisClient } from '../interfaces.js';
import type { SyncConfig } from '../config.js';
import type { RunStatus } from '../interfaces.js';
import { PermissionBreaker } from '../pacing/breaker.js';
import { readFleetPauses, type FleetPause } from '../pacing/pauses.js';
import { DEFAULT_TENANT } from '../redis-layout.js';
import { isoBeside } from '../domain/iso-times.js';
import type { ResultStore } from '../results/store.js';

/** The name `status` and the runs API give the default tenant (rows without tenantId) in byTenant and blockedTenants. */
export const DEFAULT_TENANT_LABEL = 'default';
const label = (tenant: string) => (tenant === DEFAULT_TENANT ? DEFAULT_TENANT_LABEL : tenant);

export interface BlockedTenant {
  tenant: string;
  reason: string;
  trippedAt?: number;
  /** trippedAt as ISO 8601 UTC. */
  trippedAtIso?: string;
}

export interface TenantFigures {
  /** The run's rows per tenant and state. */
  byTenant: Record<string, Record<string, number>>;
  /** Tenants whose permission breaker holds their rows now (fleet-wide); `resume <runId>` lets them go. */
  blockedTenants: BlockedTenant[];
  /** Retry-After pauses in force now (fleet-wide, per tenant and budget), and when each ends. */
  fleetPauses: FleetPause[];
}

/** What `status --json` and GET /v1/runs/:id add to a run's status for tenants. */
export async function tenantFigures(config: Pick<SyncConfig, 'prefix' | 'tenants'>, redis: RedisClient, store: ResultStore, status: RunStatus): Promise<TenantFigures> {
  const blockedTenants: BlockedTenant[] = [];
  for (const tenant of [DEFAULT_TENANT, ...config.tenants.map((t) => t.tenantId)]) {
    const breaker = await new PermissionBreaker(redis, config.prefix, 3, tenant).state();
    if (breaker.tripped) blockedTenants.push({ tenant: label(tenant), reason: breaker.reason ?? 'blocked', ...(breaker.trippedAt ? { trippedAt: breaker.trippedAt, ...isoBeside('trippedAt', breaker.trippedAt) } : {}) });
  }
  // Counted under the names of the run's own counters (`pending` for queued rows, as status has it), so a tenant's
  // counts add up to the run's. Without a tenants file every row is the default tenant's: its counts are the run's,
  // with no pass over the rows.
  const byTenant: Record<string, Record<string, number>> =
    config.tenants.length === 0
      ? { [DEFAULT_TENANT_LABEL]: { rejected: status.rejected, pending: status.pending, succeeded: status.succeeded, failed: status.failed, unchanged: status.unchanged, superseded: status.superseded, ...(status.cancelled ? { cancelled: status.cancelled } : {}) } }
      : Object.fromEntries(
          Object.entries(await store.countByTenant(status.runId)).map(([tenant, { queued, ...rest }]) => [label(tenant), { ...rest, ...(queued !== undefined ? { pending: queued } : {}) }]),
        );
  const fleetPauses = await readFleetPauses(redis, config.prefix, config.tenants.map((t) => t.tenantId), DEFAULT_TENANT_LABEL);
  return { byTenant, blockedTenants, fleetPauses };
}
