import type { SyncConfig, TenantConfig } from '../config.js';
import { DEFAULT_TENANT_LABEL } from '../domain/tenant-label.js';
import { createTokenSource, type TokenSource } from '../graph/auth.js';
import { UserStatusWriter } from '../graph/client.js';
import type { RedisClient } from '../interfaces.js';
import { PermissionBreaker } from '../pacing/breaker.js';
import { readBudget, writeBudget, type BudgetClock, type RateBudget } from '../pacing/budget.js';
import { RefusalBreaker } from '../pacing/refusal-breaker.js';
import { createPatchQueue, type PatchQueue } from '../queue/queues.js';
import { DEFAULT_TENANT, patchQueueName } from '../redis-layout.js';

/** The parts of the configuration every tenant shares (the key prefix, the Graph API version, the request timeout). */
export type SharedTenantConfig = Pick<SyncConfig, 'prefix' | 'apiVersion' | 'requestTimeoutMs'>;

/** What tells one tenant from another: its credentials, cloud, Graph host and budgets. */
type TenantSettings = Pick<TenantConfig, 'cloud' | 'graphBaseUrl' | 'authorityHost' | 'credentials' | 'rateLimit' | 'readRateLimit'> &
  Partial<Pick<TenantConfig, 'accessTokenEnv'>>;

/** For tests: token sources to use instead of the tenants' own credentials. */
export interface TokenOverrides {
  /** The default tenant's token source. */
  tokens?: TokenSource;
  /** A tenant's of the tenants file, by its entry. */
  tenantTokens?: (tenant: TenantConfig) => TokenSource;
}

/**
 * One tenant: the default tenant (rows without tenantId, described by the environment variables) or one of
 * SYNC_TENANTS_FILE. Everything a tenant owns in Redis and in Graph is made here, from its own settings, so no caller
 * tells the default tenant from the others: its queue, write and read budgets, permission and refusal breakers, token
 * source and Graph client. The key layout (src/redis-layout.ts) keeps the default tenant's keys where they were
 * before tenants existed (P:budget, P:breaker, queue `patch-user-status`).
 */
export class Tenant {
  constructor(
    /** '' for the default tenant (DEFAULT_TENANT, the key layout's id for it), else the tenant's lower-case GUID. */
    readonly id: string,
    private readonly settings: TenantSettings,
    private readonly shared: SharedTenantConfig,
    /** The tenants file's entry; none for the default tenant. */
    readonly fileEntry?: TenantConfig,
  ) {}

  get isDefault(): boolean {
    return this.id === DEFAULT_TENANT;
  }

  /** How status, the runs API, pauses and metrics name it: `default`, else its GUID. */
  get label(): string {
    return this.isDefault ? DEFAULT_TENANT_LABEL : this.id;
  }

  get rateLimit(): TenantConfig['rateLimit'] {
    return this.settings.rateLimit;
  }

  get readRateLimit(): TenantConfig['readRateLimit'] {
    return this.settings.readRateLimit;
  }

  get cloud(): TenantConfig['cloud'] {
    return this.settings.cloud;
  }

  /** Where its requests go: GRAPH_BASE_URL for the default tenant, a tenant's own graphBaseUrl or its cloud's host. */
  get graphBaseUrl(): string {
    return this.settings.graphBaseUrl;
  }

  /** Its BullMQ queue's name. */
  get queueName(): string {
    return patchQueueName(this.id);
  }

  /** Its token source: the one a test gave, else from its own credentials (shared per app, tenant and cloud). */
  tokens(overrides: TokenOverrides = {}): TokenSource {
    const given = this.fileEntry ? overrides.tenantTokens?.(this.fileEntry) : overrides.tokens;
    return given ?? createTokenSource(this.fileEntry ?? this.settings);
  }

  /** A Graph client sending with its credentials to its Graph host. */
  writer(tokens: TokenSource): UserStatusWriter {
    const { apiVersion, requestTimeoutMs } = this.shared;
    return new UserStatusWriter({ graphBaseUrl: this.graphBaseUrl, cloud: this.cloud, apiVersion, requestTimeoutMs }, tokens);
  }

  queue(redis: RedisClient): PatchQueue {
    return createPatchQueue(redis, this.shared.prefix, {}, this.id);
  }

  writeBudget(redis: RedisClient, clock?: BudgetClock): RateBudget {
    return writeBudget(redis, this.shared.prefix, this.rateLimit, this.id, clock);
  }

  readBudget(redis: RedisClient): RateBudget {
    return readBudget(redis, this.shared.prefix, this.readRateLimit, this.id);
  }

  /** Its 403 breaker (P:breaker for the default tenant, P:tenant:T:breaker otherwise). */
  breaker(redis: RedisClient): PermissionBreaker {
    return new PermissionBreaker(redis, this.shared.prefix, undefined, this.id);
  }

  /** Its breaker for the same 400 on many rows. */
  refusals(redis: RedisClient): RefusalBreaker {
    return new RefusalBreaker(redis, this.shared.prefix, this.id);
  }
}

const sharedOf = (config: SharedTenantConfig): SharedTenantConfig => ({
  prefix: config.prefix,
  apiVersion: config.apiVersion,
  requestTimeoutMs: config.requestTimeoutMs,
});

/** Every tenant of a configuration, the default tenant first, then the tenants file's in the file's order. */
export function tenantsOf(config: SharedTenantConfig & TenantSettings & Pick<SyncConfig, 'tenants'>): Tenant[] {
  const shared = sharedOf(config);
  return [defaultTenantOf(config), ...config.tenants.map((t) => new Tenant(t.tenantId, t, shared, t))];
}

/**
 * The default tenant alone (tenantsOf(config)[0]), for what concerns only it: the queue a CLI command or a scheduled
 * import hands rows to (PatchQueues routes each row to its tenant's), and doctor's checks of the configured credentials.
 */
export function defaultTenantOf(config: SharedTenantConfig & TenantSettings): Tenant {
  return new Tenant(DEFAULT_TENANT, config, sharedOf(config));
}
