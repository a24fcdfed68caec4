import type { RedisClient } from '../interfaces.js';
import type { RunStatus } from '../interfaces.js';
import { readFleetPauses, type FleetPause } from '../pacing/pauses.js';
import { isoBeside } from '../domain/iso-times.js';
import type { ResultStore } from '../results/store.js';
import type { Tenant } from '../tenants/tenant.js';

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

/** What `status --json` and GET /v1/runs/:id add to a run's status for tenants: `fleet.tenants` is tenantsOf(config). */
export async function tenantFigures(
  fleet: { prefix: string; tenants: readonly Tenant[] },
  redis: RedisClient,
  store: ResultStore,
  status: RunStatus,
): Promise<TenantFigures> {
  const { tenants } = fleet;
  const labelOf = new Map(tenants.map((t) => [t.id, t.label]));
  // A run's row may name a tenant no longer configured: it is still counted, under its own id.
  const label = (tenant: string) => labelOf.get(tenant) ?? tenant;
  const blockedTenants: BlockedTenant[] = [];
  for (const tenant of tenants) {
    const breaker = await tenant.breaker(redis).state();
    if (!breaker.tripped) continue;
    const when = breaker.trippedAt ? { trippedAt: breaker.trippedAt, ...isoBeside('trippedAt', breaker.trippedAt) } : {};
    blockedTenants.push({ tenant: tenant.label, reason: breaker.reason ?? 'blocked', ...when });
  }
  // Counted under the names of the run's own counters (`pending` for queued rows, as status has it), so a tenant's
  // counts add up to the run's. Without a tenants file every row is the default tenant's: its counts are the run's,
  // with no pass over the rows.
  const byTenant: Record<string, Record<string, number>> = tenants.length === 1
    ? {
        [tenants[0].label]: {
          rejected: status.rejected,
          pending: status.pending,
          succeeded: status.succeeded,
          failed: status.failed,
          unchanged: status.unchanged,
          superseded: status.superseded,
          ...(status.cancelled ? { cancelled: status.cancelled } : {}),
        },
      }
    : Object.fromEntries(
        Object.entries(await store.countByTenant(status.runId)).map(([tenant, { queued, ...rest }]) => [
          label(tenant),
          { ...rest, ...(queued !== undefined ? { pending: queued } : {}) },
        ]),
      );
  const fleetPauses = await readFleetPauses(redis, fleet.prefix, tenants);
  return { byTenant, blockedTenants, fleetPauses };
}
