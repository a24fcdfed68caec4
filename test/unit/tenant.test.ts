import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, parseTenantsFile, type SyncConfig, type TenantConfig } from '../../src/config.js';
import type { TokenSource } from '../../src/graph/auth.js';
import type { RedisClient } from '../../src/interfaces.js';
import { patchQueueName } from '../../src/redis-layout.js';
import { defaultTenantOf, tenantsOf } from '../../src/tenants/tenant.js';

const A = 'abcdef12-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
/** Never called: building a breaker or a budget sends nothing. */
const noRedis = {} as RedisClient;
const tokenSource = (name: string): TokenSource => ({ getToken: () => Promise.resolve(name) }) as TokenSource;

function configWithTenants(): SyncConfig {
  const base = loadConfig({ GRAPH_BASE_URL: 'http://127.0.0.1:9/default', SYNC_RATE_LIMIT: '5/1s', SYNC_READ_RATE_LIMIT: '40/1s' });
  const tenants = parseTenantsFile(
    JSON.stringify({
      tenants: {
        [A.toUpperCase()]: { accessToken: 'a', graphBaseUrl: 'http://127.0.0.1:9/tenant-a', rateLimit: '2/1s' },
        [B]: { accessToken: 'b', cloud: 'usgov' },
      },
    }),
    {},
    { file: 'tenants.json', rateLimit: base.rateLimit, readRateLimit: base.readRateLimit },
  );
  return { ...base, tenants };
}

describe('tenantsOf: every tenant built in one place, the default tenant like the others', () => {
  it('lists the default tenant first, then the tenants file in its order, each with its own settings', () => {
    const config = configWithTenants();
    const [main, a, b] = tenantsOf(config);
    assert.deepEqual(
      tenantsOf(config).map((t) => [t.id, t.label, t.isDefault, t.queueName]),
      [
        ['', 'default', true, patchQueueName('')],
        [A, A, false, patchQueueName(A)],
        [B, B, false, patchQueueName(B)],
      ],
    );
    assert.equal(main.graphBaseUrl, 'http://127.0.0.1:9/default');
    assert.equal(a.graphBaseUrl, 'http://127.0.0.1:9/tenant-a', "a tenant's own graphBaseUrl, never GRAPH_BASE_URL");
    assert.equal(b.cloud, 'usgov');
    assert.notEqual(b.graphBaseUrl, main.graphBaseUrl);
    assert.deepEqual([main.rateLimit, a.rateLimit, b.rateLimit], [config.rateLimit, { limit: 2, windowMs: 1000 }, config.rateLimit]);
    assert.deepEqual(
      [main, a, b].map((t) => t.readRateLimit),
      [config.readRateLimit, config.readRateLimit, config.readRateLimit],
    );
  });

  it("makes each tenant's breakers and budgets its own", () => {
    for (const tenant of tenantsOf(configWithTenants())) {
      assert.equal(tenant.breaker(noRedis).tenant, tenant.id);
      assert.equal(tenant.refusals(noRedis).tenant, tenant.id);
      assert.deepEqual(tenant.writeBudget(noRedis).rate, tenant.rateLimit);
      assert.deepEqual(tenant.readBudget(noRedis).rate, tenant.readRateLimit);
    }
  });

  it("gives a test's token sources to the tenant they are for, and each tenant its own credentials otherwise", async () => {
    const asked: TenantConfig[] = [];
    const overrides = { tokens: tokenSource('default'), tenantTokens: (t: TenantConfig) => (asked.push(t), tokenSource(t.tenantId)) };
    const tokens = await Promise.all(tenantsOf(configWithTenants()).map((t) => t.tokens(overrides).getToken()));
    assert.deepEqual(tokens, ['default', A, B]);
    assert.deepEqual(
      asked.map((t) => t.tenantId),
      [A, B],
    );
    // Without overrides, a file tenant's static accessToken is its own, not the default tenant's.
    const [, a] = tenantsOf(configWithTenants());
    assert.equal(await a.tokens().getToken(), 'a');
  });

  it('builds the default tenant alone as tenantsOf does', () => {
    const config = configWithTenants();
    const alone = defaultTenantOf(config);
    const [first] = tenantsOf(config);
    assert.deepEqual(
      [alone.id, alone.label, alone.graphBaseUrl, alone.rateLimit],
      [first.id, first.label, first.graphBaseUrl, first.rateLimit],
    );
  });
});
