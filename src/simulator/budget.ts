import type { BucketLimit, BudgetOptions } from './options.js';

/**
 * Continuous-refill bucket. It may go down to -limit because Graph charges refused
 * requests too, so a client that keeps hammering pushes its own recovery further out.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly perMs: number;

  constructor(
    private readonly limit: number,
    windowMs: number,
    now: number,
  ) {
    this.tokens = limit;
    this.updatedAt = now;
    this.perMs = limit / windowMs;
  }

  /** Takes one token and returns the balance afterwards. */
  take(now: number): number {
    this.refill(now);
    this.tokens = Math.max(this.tokens - 1, -this.limit);
    return this.tokens;
  }

  /** Milliseconds until the bucket holds at least one whole token again. */
  msUntilOneToken(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.perMs;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.limit, this.tokens + elapsed * this.perMs);
    this.updatedAt = now;
  }
}

export type BudgetDecision = { throttled: false } | { throttled: true; retryAfterMs: number; scope: 'app' | 'tenant' };

/** Intune's write budget: one bucket per (tenant, app) and one per tenant, both charged on every write. */
export class WriteBudget {
  private readonly appBuckets = new Map<string, TokenBucket>();
  private readonly tenantBuckets = new Map<string, TokenBucket>();

  constructor(private readonly limits: BudgetOptions | false) {}

  take(tenantId: string, appId: string, now: number): BudgetDecision {
    if (this.limits === false) return { throttled: false };
    const app = bucketFor(this.appBuckets, `${tenantId}\u0000${appId}`, this.limits.perApp, now);
    const tenant = bucketFor(this.tenantBuckets, tenantId, this.limits.perTenant, now);
    // Both are charged before deciding, so neither bucket is spared by the other refusing.
    const appBalance = app.take(now);
    const tenantBalance = tenant.take(now);

    const appWait = appBalance < 0 ? app.msUntilOneToken(now) : 0;
    const tenantWait = tenantBalance < 0 ? tenant.msUntilOneToken(now) : 0;
    if (appWait === 0 && tenantWait === 0) return { throttled: false };
    return appWait >= tenantWait
      ? { throttled: true, retryAfterMs: appWait, scope: 'app' }
      : { throttled: true, retryAfterMs: tenantWait, scope: 'tenant' };
  }
}

function bucketFor(map: Map<string, TokenBucket>, key: string, limit: BucketLimit, now: number): TokenBucket {
  let bucket = map.get(key);
  if (!bucket) {
    bucket = new TokenBucket(limit.limit, limit.windowMs, now);
    map.set(key, bucket);
  }
  return bucket;
}

/**
 * Retry-After as Graph sends it: whole seconds, rounded up so a client that waits exactly that long always finds a
 * token. `fractional` (kinder, finer than Graph) keeps one fractional digit instead.
 */
export function formatRetryAfterSeconds(ms: number, fractional = false): string {
  if (!fractional) return String(Math.max(1, Math.ceil(ms / 1000 - 1e-9)));
  // The epsilon keeps float noise (e.g. 300.0000000001 ms) from adding a whole tenth.
  const tenths = Math.max(1, Math.ceil(ms / 100 - 1e-9));
  return String(tenths / 10);
}
