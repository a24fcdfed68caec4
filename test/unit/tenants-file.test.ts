import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseTenantsFile, tenantDirectory } from '../../src/config.js';
import { recordKey } from '../../src/domain/key.js';
import { RowChecker } from '../../src/producer/validate-rows.js';
import { patchQueueName, redisKeys, tenantOfRecordKey, untenantedRecordKey } from '../../src/redis-layout.js';
import { parseRow } from '../../src/results/store.js';

const A = 'abcdef12-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const DEFAULTS = { file: 'tenants.json', rateLimit: { limit: 100, windowMs: 20_000 }, readRateLimit: { limit: 800, windowMs: 20_000 } };
const parse = (json: unknown, env: NodeJS.ProcessEnv = {}) => parseTenantsFile(JSON.stringify(json), env, DEFAULTS);
/** Asserts a ConfigError whose message matches every pattern and never contains `secret`. */
const refuses = (fn: () => unknown, patterns: RegExp[], secret?: string) =>
  assert.throws(fn, (err: Error) => {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${err.name}: ${err.message}`);
    for (const p of patterns) assert.match(err.message, p);
    if (secret) assert.ok(!err.message.includes(secret), `the message must not print the secret: ${err.message}`);
    return true;
  });

describe('tenants file (SYNC_TENANTS_FILE)', () => {
  it(
    "sends a tenant's requests to its own graphBaseUrl (a proxy, the simulator), else " +
      "to its cloud's Graph host, never to GRAPH_BASE_URL",
    () => {
      const tenants = parseTenantsFile(
        JSON.stringify({
          tenants: {
            [A]: { accessToken: 'x', graphBaseUrl: 'https://graph-proxy.example.com/tenant-a/' },
            [B]: { accessToken: 'y', cloud: 'china' },
            '33333333-3333-4333-8333-333333333333': { accessToken: 'z', graphBaseUrl: '${SIM_URL}' },
          },
        }),
        { SIM_URL: 'http://127.0.0.1:8080' },
        DEFAULTS,
      );
      assert.deepEqual(
        tenants.map((t) => t.graphBaseUrl),
        ['https://graph-proxy.example.com/tenant-a', 'https://microsoftgraph.chinacloudapi.cn', 'http://127.0.0.1:8080'],
      );
      // Tokens are still requested for the cloud's Graph host, whatever graphBaseUrl says.
      assert.equal(tenants[0].cloud, 'global');
      assert.equal(tenants[0].authorityHost, 'https://login.microsoftonline.com');
      for (const bad of [
        'graph.example.com',
        'ftp://graph.example.com',
        'https://graph.example.com/?x=1',
        'https://graph.example.com/#f',
        '',
      ]) {
        refuses(
          () => parse({ tenants: { [A]: { accessToken: 'x', graphBaseUrl: bad } } }),
          [/tenant "abcdef12/, /field "graphBaseUrl"/, /http\(s\) URL/],
        );
      }
      refuses(() => parse({ tenants: { [A]: { accessToken: 'x', graphBaseUrl: 42 } } }), [/field "graphBaseUrl"/]);
    },
  );

  it('reads the three kinds of credential, ${NAME} from the environment, and per-tenant budgets', () => {
    const tenants = parse(
      {
        tenants: {
          [A.toUpperCase()]: { cloud: 'usgov', clientId: 'app-a', clientSecret: '${TENANT_A_SECRET}' },
          [B]: { clientId: 'app-b', clientCertificatePath: '/secrets/b.pem', rateLimit: '50/10s', readRateLimit: '400/20s' },
          '33333333-3333-4333-8333-333333333333': { accessToken: '${TENANT_C_TOKEN}' },
        },
      },
      { TENANT_A_SECRET: 's3cret-a', TENANT_C_TOKEN: 'token-c' },
    );
    assert.equal(tenants.length, 3);
    assert.equal(tenants[0].tenantId, A, 'GUIDs are kept in lower case');
    assert.deepEqual(tenants[0].credentials, { kind: 'clientSecret', tenantId: A, clientId: 'app-a', clientSecret: 's3cret-a' });
    assert.equal(tenants[0].cloud, 'usgov');
    assert.equal(tenants[0].graphBaseUrl, 'https://graph.microsoft.us');
    assert.equal(tenants[0].authorityHost, 'https://login.microsoftonline.us');
    assert.deepEqual(tenants[0].rateLimit, { limit: 100, windowMs: 20_000 }, 'default write budget: 100/20s');
    assert.deepEqual(tenants[1].credentials, {
      kind: 'clientCertificate',
      tenantId: B,
      clientId: 'app-b',
      certificatePath: '/secrets/b.pem',
    });
    assert.deepEqual(tenants[1].rateLimit, { limit: 50, windowMs: 10_000 });
    assert.deepEqual(tenants[1].readRateLimit, { limit: 400, windowMs: 20_000 });
    assert.deepEqual(tenants[2].credentials, { kind: 'accessToken', token: 'token-c' });
    assert.equal(tenants[2].accessTokenEnv, 'TENANT_C_TOKEN', 'a 401 re-reads the variable the token came from');
  });

  it('names the tenant, the field and the variable when ${NAME} is not set', () => {
    refuses(
      () => parse({ tenants: { [A]: { clientId: 'x', clientSecret: '${MISSING_SECRET}' } } }),
      [/tenant "abcdef12-1111-4111-8111-111111111111"/, /field "clientSecret"/, /MISSING_SECRET is not set/],
    );
  });

  it('refuses a tenant id that is not a GUID', () => {
    refuses(
      () => parse({ tenants: { 'contoso.onmicrosoft.com': { accessToken: 'x' } } }),
      [/tenant "contoso.onmicrosoft.com"/, /not a GUID/],
    );
  });

  it('refuses a bad rateLimit, naming tenant, field and value', () => {
    refuses(
      () => parse({ tenants: { [A]: { accessToken: 'x', rateLimit: 'fast' } } }),
      [/tenant "abcdef12/, /field "rateLimit"/, /"fast" is not of the form/],
    );
    refuses(() => parse({ tenants: { [A]: { accessToken: 'x', readRateLimit: '0/s' } } }), [/field "readRateLimit"/]);
  });

  it('refuses an unknown field (a typo must not silently drop a setting)', () => {
    refuses(
      () => parse({ tenants: { [A]: { accessToken: 'x', clientSecrett: 'oops' } } }),
      [/tenant "abcdef12/, /field "clientSecrett"/, /not a known field/],
    );
    refuses(() => parse({ tenants: {}, extra: 1 }), [/field "extra"/]);
  });

  it('refuses missing or mixed credentials without printing a secret', () => {
    refuses(() => parse({ tenants: { [A]: { cloud: 'global' } } }), [/field "clientId"/, /required/]);
    refuses(() => parse({ tenants: { [A]: { clientId: 'app' } } }), [/field "clientSecret"/, /required/]);
    refuses(
      () => parse({ tenants: { [A]: { accessToken: 'very-secret-token', clientSecret: 'other-secret' } } }),
      [/field "accessToken"/, /one kind of credential/],
      'very-secret-token',
    );
    refuses(() => parse({ tenants: { [A]: { accessToken: 42 } } }), [/field "accessToken"/]);
    refuses(() => parse({ tenants: { [A]: { accessToken: 'x', cloud: 'mars' } } }), [/field "cloud"/]);
  });

  it('refuses a tenant listed twice (in two cases) and the default tenant', () => {
    refuses(
      () => parseTenantsFile(`{"tenants":{"${A}":{"accessToken":"x"},"${A.toUpperCase()}":{"accessToken":"y"}}}`, {}, DEFAULTS),
      [/listed twice/],
    );
    refuses(
      () => parseTenantsFile(JSON.stringify({ tenants: { [A]: { accessToken: 'x' } } }), {}, { ...DEFAULTS, defaultTenantId: A }),
      [/default tenant/],
    );
  });

  it('refuses a file that is not JSON or has no tenants object', () => {
    refuses(() => parseTenantsFile('{', {}, DEFAULTS), [/tenants\.json/, /not valid JSON/]);
    refuses(() => parse({ tenants: [] }), [/"tenants": must be an object/]);
  });

  it('loadConfig reads the file SYNC_TENANTS_FILE names, and refuses one it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'csync-tenants-'));
    const file = join(dir, 'tenants.json');
    writeFileSync(file, JSON.stringify({ tenants: { [A]: { accessToken: '${TOKEN_A}' } } }));
    const config = loadConfig({ SYNC_TENANTS_FILE: file, TOKEN_A: 'a', SYNC_RATE_LIMIT: '10/s', GRAPH_BASE_URL: 'http://127.0.0.1:1' });
    assert.equal(config.tenants.length, 1);
    assert.deepEqual(config.tenants[0].rateLimit, { limit: 10, windowMs: 1000 }, 'a tenant without rateLimit gets SYNC_RATE_LIMIT');
    assert.equal(config.graphBaseUrl, 'http://127.0.0.1:1');
    assert.equal(
      config.tenants[0].graphBaseUrl,
      'https://graph.microsoft.com',
      "GRAPH_BASE_URL is the default tenant's only: a tenant without graphBaseUrl goes to its cloud's Graph host",
    );
    assert.deepEqual(loadConfig({}).tenants, []);
    refuses(() => loadConfig({ SYNC_TENANTS_FILE: join(dir, 'absent.json') }), [/absent\.json/, /cannot be read/]);
  });
});

describe('tenant rows and keys', () => {
  const directory = tenantDirectory({ tenants: parse({ tenants: { [A]: { accessToken: 'x' } } }), defaultTenantId: B });
  const row = (fields: Record<string, string>, line = 2) =>
    new RowChecker({}, () => undefined, { tenants: directory }).check(
      { line, fields: { configurationId: 'cfg', userStatusId: 'u1', status: 'compliant', ...fields } },
      1,
    );

  it('a row of a tenant of the file carries it, in lower case, and its key names it', () => {
    const checked = row({ tenantId: A.toUpperCase() });
    assert.equal(checked.errors, undefined);
    assert.equal(checked.record?.tenantId, A);
    assert.equal(checked.key, `${A}/mobileAppConfiguration/cfg/u1`);
    assert.equal(tenantOfRecordKey(checked.key), A);
    assert.equal(untenantedRecordKey(checked.key), 'mobileAppConfiguration/cfg/u1');
  });

  it('a row without tenantId, or naming the default tenant, keeps the keys of a single-tenant deployment', () => {
    assert.equal(row({}).key, 'mobileAppConfiguration/cfg/u1');
    const named = row({ tenantId: B });
    assert.equal(named.key, 'mobileAppConfiguration/cfg/u1');
    assert.equal(named.record?.tenantId, undefined);
    assert.equal(tenantOfRecordKey(named.key), '');
  });

  it('a row naming an unknown tenant, or no GUID, is rejected with its column and reason', () => {
    const unknown = row({ tenantId: '99999999-9999-4999-8999-999999999999' }, 7);
    assert.equal(unknown.line, 7);
    assert.deepEqual(unknown.errors, [
      { column: 'tenantId', reason: '"99999999-9999-4999-8999-999999999999" is not a tenant of SYNC_TENANTS_FILE' },
    ]);
    const bad = row({ tenantId: 'contoso' });
    assert.equal(bad.errors?.[0].column, 'tenantId');
    assert.match(bad.errors[0].reason, /not a tenant GUID/);
    const none = new RowChecker().check(
      { line: 3, fields: { configurationId: 'c', userStatusId: 'u', status: 'compliant', tenantId: A } },
      1,
    );
    assert.match(none.errors![0].reason, /SYNC_TENANTS_FILE is not set/);
  });

  it('the default tenant keeps every key and queue of today; another tenant gets its own', () => {
    const k = redisKeys('P');
    assert.equal(k.budgetOf(''), 'P:budget');
    assert.equal(k.readBudgetOf(''), 'P:budget:read');
    assert.equal(k.breakerOf(''), 'P:breaker');
    assert.equal(k.snapshotOf('', 'mobileAppConfiguration/cfg'), 'P:snapshot:mobileAppConfiguration/cfg');
    assert.equal(patchQueueName(''), 'patch-user-status');
    assert.equal(
      recordKey({ configurationType: 'mobileAppConfiguration', configurationId: 'c', userStatusId: 'u' }),
      'mobileAppConfiguration/c/u',
    );
    assert.equal(k.budgetOf(A), `P:tenant:${A}:budget`);
    assert.equal(k.readBudgetOf(A), `P:tenant:${A}:budget:read`);
    assert.equal(k.breakerOf(A), `P:tenant:${A}:breaker`);
    assert.equal(k.snapshotOf(A, 'mobileAppConfiguration/cfg'), `P:snapshot:${A}/mobileAppConfiguration/cfg`);
    assert.equal(patchQueueName(A), `patch-user-status-${A}`);
    assert.equal(k.patchJob(A, 'r:2:0'), `P:patch-user-status-${A}:r:2:0`);
  });

  it('a tenant’s waiting row names its tenant in the rows hash, so its job is found in that tenant’s queue', () => {
    assert.deepEqual(parseRow(`q|2|${A}`, 5), { line: 5, state: 'queued', generation: 2, tenantId: A });
    assert.deepEqual(parseRow('q|2', 5), { line: 5, state: 'queued', generation: 2 });
  });
});
