import type { RedisClient } from '../interfaces.js';
import { redisKeys } from '../redis-layout.js';

/** A Retry-After pause holding one budget of one tenant now, as `status --json` (fleetPauses) and `doctor` show it. */
export interface FleetPause {
  /** 'default' for the default tenant (rows without tenantId), else the tenant's GUID. */
  tenant: string;
  /** Which budget the pause holds: writes (PATCH) or reads (GET pages). */
  budget: 'write' | 'read';
  /** When it ends (ISO 8601, UTC). */
  until: string;
  remainingMs: number;
}

/** The pause in force, if any: pauseUntil (µs, the budget hash's field) still ahead of now (µs). Pure. */
export function pauseInForce(pauseUntilUs: number | undefined, nowUs: number): { untilMs: number; remainingMs: number } | undefined {
  if (pauseUntilUs === undefined || !Number.isFinite(pauseUntilUs) || pauseUntilUs <= nowUs) return undefined;
  return { untilMs: Math.floor(pauseUntilUs / 1000), remainingMs: Math.ceil((pauseUntilUs - nowUs) / 1000) };
}

/**
 * Every pause in force, for the tenants given (tenantsOf(config): `id` picks the keys, `label` names it), write and
 * read budgets alike. Read against Redis's TIME, the clock the budget scripts keep pauseUntil in.
 */
export async function readFleetPauses(
  redis: RedisClient,
  prefix: string,
  tenants: ReadonlyArray<{ id: string; label: string }>,
): Promise<FleetPause[]> {
  const keys = redisKeys(prefix);
  const budgets = tenants.flatMap((tenant) => [
    { tenant: tenant.label, budget: 'write' as const, key: keys.budgetOf(tenant.id) },
    { tenant: tenant.label, budget: 'read' as const, key: keys.readBudgetOf(tenant.id) },
  ]);
  const [[seconds, micros], ...untils] = await Promise.all([redis.time(), ...budgets.map((b) => redis.hget(b.key, 'pauseUntil'))]);
  const nowUs = Number(seconds) * 1e6 + Number(micros);
  const pauses: FleetPause[] = [];
  budgets.forEach((b, i) => {
    const held = pauseInForce(untils[i] === null ? undefined : Number(untils[i]), nowUs);
    if (held) {
      pauses.push({ tenant: b.tenant, budget: b.budget, until: new Date(held.untilMs).toISOString(), remainingMs: held.remainingMs });
    }
  });
  return pauses;
}
