/** Intune's write budget (per app 100 writes / 20 s, per tenant 200 / 20 s), scaled so benches finish in minutes. */
import type { BudgetOptions } from '../../src/simulator/index.js';

export interface ScaledBudget {
  scale: number;
  simulator: BudgetOptions;
  /** Intune's "any request" limits (reads and writes; 1,000 / 20 s per app, 2,000 per tenant), scaled alike. */
  anySimulator: BudgetOptions;
  /** SYNC_READ_RATE_LIMIT for our reads: the default 800/20s, scaled alike. */
  ourReadRateLimit: string;
  /** Sustained writes per second the binding (per-app) bucket allows. */
  ratePerSecond: number;
  /** Requests the full bucket allows at once. */
  burst: number;
  /** SYNC_RATE_LIMIT for our workers: exactly the per-app budget. */
  ourRateLimit: string;
  describe: string;
}

const INTUNE = { perApp: 100, perTenant: 200, windowMs: 20_000, anyPerApp: 1000, anyPerTenant: 2000, ourReads: 800 };

export function scaledBudget(scale: number): ScaledBudget {
  const windowMs = INTUNE.windowMs / scale;
  return {
    scale,
    simulator: { perApp: { limit: INTUNE.perApp, windowMs }, perTenant: { limit: INTUNE.perTenant, windowMs } },
    anySimulator: { perApp: { limit: INTUNE.anyPerApp, windowMs }, perTenant: { limit: INTUNE.anyPerTenant, windowMs } },
    ourReadRateLimit: `${INTUNE.ourReads}/${Math.round(windowMs)}ms`,
    ratePerSecond: INTUNE.perApp / (windowMs / 1000),
    burst: INTUNE.perApp,
    ourRateLimit: `${INTUNE.perApp}/${Math.round(windowMs)}ms`,
    describe:
      `per app ${INTUNE.perApp} / ${windowMs / 1000} s, per tenant ${INTUNE.perTenant}` +
      ` / ${windowMs / 1000} s = ${INTUNE.perApp / (windowMs / 1000)} writes/s`,
  };
}
