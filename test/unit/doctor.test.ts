import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkConfiguration,
  describeTenants,
  doctorFailed,
  judgeCredentials,
  judgeGraphEndpoint,
  judgeWriteBudget,
} from '../../src/cli/doctor-checks.js';
import {
  decodeJwtPayload,
  GRAPH_APP_ID,
  judgeToken,
  judgeTokenAudience,
  judgeTokenExpiry,
  judgeTokenRoles,
  writePermissionsFor,
} from '../../src/graph/token-claims.js';
import type { TenantConfig } from '../../src/config.js';
import {
  BULLMQ_MIN_REDIS,
  compareVersions,
  judgeAof,
  judgeClockSkew,
  judgeCluster,
  judgeEvictionPolicy,
  judgeMemory,
  judgeRedisVersion,
  parseInfo,
  redisFactsFromInfo,
} from '../../src/queue/redis-health.js';
import { unsignedJwt } from '../support/jwt.js';

const jwt = unsignedJwt;

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);

describe('doctor: Redis judgments', () => {
  it('compares versions numerically, part by part', () => {
    assert.equal(compareVersions('7.10.0', '7.2.4'), 1);
    assert.equal(compareVersions('5.0', '5.0.0'), 0);
    assert.equal(compareVersions('4.0.14', '5.0.0'), -1);
    assert.equal(compareVersions('6.2.0', '6.2.1'), -1);
    assert.equal(compareVersions('8.10.0', '8.9.12'), 1);
    assert.throws(() => compareVersions('7.2.4-rc1', '7.2.4'), /not a dotted version/);
    assert.throws(() => compareVersions('', '7.2.4'), /not a dotted version/);
  });

  it('fails a Redis older than BullMQ accepts, warns below the recommended version, and passes the rest', () => {
    assert.equal(BULLMQ_MIN_REDIS, '5.0.0', "BullMQ's RedisConnection.minimumVersion");
    assert.equal(judgeRedisVersion('4.0.14').result, 'fail');
    assert.match(judgeRedisVersion('4.0.14').fix, /upgrade Redis/);
    assert.equal(judgeRedisVersion('6.0.9').result, 'warn');
    assert.equal(judgeRedisVersion('7.2.4').result, 'ok');
    assert.equal(judgeRedisVersion('unknown').result, 'warn');
  });

  it('fails any eviction policy but noeviction, naming the fix', () => {
    assert.equal(judgeEvictionPolicy('noeviction').result, 'ok');
    for (const policy of ['allkeys-lru', 'volatile-lru', 'allkeys-random', 'volatile-ttl', 'allkeys-lfu', 'unknown']) {
      const check = judgeEvictionPolicy(policy);
      assert.equal(check.result, 'fail', policy);
      assert.match(check.detail, new RegExp(policy));
      assert.match(check.fix, /maxmemory-policy noeviction/);
    }
  });

  it('warns, but does not fail, when AOF is off', () => {
    assert.equal(judgeAof(true).result, 'ok');
    assert.equal(judgeAof(false).result, 'warn');
    assert.match(judgeAof(false).fix, /appendonly yes/);
  });

  it('judges memory used against maxmemory: no limit ok, 80 % warn, 95 % fail', () => {
    const MB = 1024 * 1024;
    assert.equal(judgeMemory(500 * MB, 0).result, 'ok');
    assert.equal(judgeMemory(79 * MB, 100 * MB).result, 'ok');
    assert.equal(judgeMemory(80 * MB, 100 * MB).result, 'warn');
    assert.equal(judgeMemory(95 * MB, 100 * MB).result, 'fail');
    assert.equal(judgeMemory(120 * MB, 100 * MB).result, 'fail');
    assert.match(judgeMemory(95 * MB, 100 * MB).detail, /95\.0 MB used of maxmemory 100\.0 MB \(95 %\)/);
  });

  it('fails a Redis Cluster node named by REDIS_URL (SYNC_REDIS_CLUSTER is how a cluster is used)', () => {
    assert.equal(judgeCluster(false).result, 'ok');
    assert.equal(judgeCluster(true).result, 'fail');
  });

  it('warns when the clocks differ by more than 2 s either way', () => {
    assert.equal(judgeClockSkew(NOW, NOW).result, 'ok');
    assert.equal(judgeClockSkew(NOW + 2000, NOW).result, 'ok');
    assert.equal(judgeClockSkew(NOW + 2001, NOW).result, 'warn');
    assert.equal(judgeClockSkew(NOW - 5000, NOW).result, 'warn');
    assert.match(judgeClockSkew(NOW - 5000, NOW).detail, /5\.000 s behind/);
    assert.match(judgeClockSkew(NOW + 3000, NOW).detail, /3\.000 s ahead of/);
  });

  it('reads the settings it judges from INFO, with CRLF line ends and section headers', () => {
    const info = parseInfo(
      '# Server\r\nredis_version:7.2.4\r\n\r\n# ' +
        'Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n# ' +
        'Persistence\r\naof_enabled:1\r\n# Cluster\r\ncluster_enabled:0\r\n',
    );
    assert.deepEqual(redisFactsFromInfo(info), {
      version: '7.2.4',
      maxmemoryPolicy: 'allkeys-lru',
      aofEnabled: true,
      usedMemory: 1048576,
      maxmemory: 0,
      clusterEnabled: false,
    });
  });
});

describe('doctor: token judgments', () => {
  const GRAPH = 'https://graph.microsoft.com';

  it('reads the payload of a JWT, and nothing from what is not one', () => {
    assert.deepEqual(decodeJwtPayload(jwt({ aud: GRAPH, roles: ['a'], exp: 5, appid: 'app', tid: 't' })), {
      aud: GRAPH,
      roles: ['a'],
      scp: undefined,
      exp: 5,
      appid: 'app',
      tid: 't',
    });
    for (const notJwt of [
      'sim-token',
      '',
      'a.b',
      'a.b.c.d',
      '..',
      'eyJ.@@@.x',
      `x.${Buffer.from('[1,2]').toString('base64url')}.y`,
      `x.${Buffer.from('not json').toString('base64url')}.y`,
    ]) {
      assert.equal(decodeJwtPayload(notJwt), undefined, notJwt);
    }
    assert.deepEqual(decodeJwtPayload(jwt({ roles: 'not-an-array', aud: 7 })), {
      aud: undefined,
      roles: undefined,
      scp: undefined,
      exp: undefined,
      appid: undefined,
      tid: undefined,
    });
  });

  it("passes a token for the cloud's Graph host (or Graph's app id) and fails one for another audience", () => {
    assert.equal(judgeTokenAudience({ aud: GRAPH }, GRAPH).result, 'ok');
    assert.equal(judgeTokenAudience({ aud: `${GRAPH}/` }, GRAPH).result, 'ok');
    assert.equal(judgeTokenAudience({ aud: GRAPH_APP_ID }, GRAPH).result, 'ok');
    const usgov = judgeTokenAudience({ aud: 'https://graph.microsoft.us' }, GRAPH);
    assert.equal(usgov.result, 'fail');
    assert.match(usgov.detail, /graph\.microsoft\.us.*not for https:\/\/graph\.microsoft\.com/);
    assert.match(usgov.fix, /GRAPH_CLOUD/);
    assert.equal(judgeTokenAudience({}, GRAPH).result, 'fail');
  });

  it('passes a token with either write permission and fails one without, naming the permission to grant', () => {
    assert.equal(judgeTokenRoles({ roles: ['DeviceManagementApps.ReadWrite.All'] }).result, 'ok');
    assert.equal(judgeTokenRoles({ roles: ['User.Read.All', 'DeviceManagementConfiguration.ReadWrite.All'] }).result, 'ok');
    assert.equal(judgeTokenRoles({ scp: 'openid DeviceManagementApps.ReadWrite.All' }).result, 'ok');
    const readOnly = judgeTokenRoles({ roles: ['DeviceManagementApps.Read.All'] });
    assert.equal(readOnly.result, 'fail');
    assert.match(readOnly.detail, /neither DeviceManagementConfiguration\.ReadWrite\.All nor DeviceManagementApps\.ReadWrite\.All; /);
    assert.match(readOnly.detail, /; it has "DeviceManagementApps\.Read\.All"/);
    assert.match(readOnly.fix, /DeviceManagementApps\.ReadWrite\.All/);
    assert.match(judgeTokenRoles({}).detail, /no roles at all/);
  });

  it('judges permissions by API version: under v1.0 only DeviceManagementApps.ReadWrite.All counts, as its v1.0 reference lists', () => {
    assert.deepEqual(writePermissionsFor('v1.0'), ['DeviceManagementApps.ReadWrite.All']);
    assert.deepEqual([...writePermissionsFor('beta')].sort(), [
      'DeviceManagementApps.ReadWrite.All',
      'DeviceManagementConfiguration.ReadWrite.All',
    ]);
    const configOnly = { roles: ['DeviceManagementConfiguration.ReadWrite.All'] };
    assert.equal(judgeTokenRoles(configOnly, 'beta').result, 'ok');
    const v1 = judgeTokenRoles(configOnly, 'v1.0');
    assert.equal(v1.result, 'fail');
    assert.match(v1.detail, /only the beta API accepts.*GRAPH_API_VERSION v1\.0.*DeviceManagementApps\.ReadWrite\.All/);
    assert.match(v1.fix, /DeviceManagementApps\.ReadWrite\.All.*GRAPH_API_VERSION=beta/);
    assert.equal(judgeTokenRoles({ roles: ['DeviceManagementApps.ReadWrite.All'] }, 'v1.0').result, 'ok');
    assert.equal(judgeTokenRoles({ scp: 'DeviceManagementConfiguration.ReadWrite.All' }, 'v1.0').result, 'fail');
    const none = judgeTokenRoles({ roles: ['User.Read.All'] }, 'v1.0');
    assert.match(
      none.detail,
      /does not grant DeviceManagementApps\.ReadWrite\.All, the one permission GRAPH_API_VERSION v1\.0 accepts; it has "User\.Read\.All"/,
    );
    // judgeToken passes the version through.
    const token = jwt({ aud: GRAPH, roles: ['DeviceManagementConfiguration.ReadWrite.All'], exp: NOW / 1000 + 3600 });
    assert.equal(judgeToken(token, GRAPH, NOW, 'v1.0').find((c) => c.name === 'credentials.permission')?.result, 'fail');
    assert.equal(judgeToken(token, GRAPH, NOW, 'beta').find((c) => c.name === 'credentials.permission')?.result, 'ok');
  });

  it('shows hostile claims as bounded, quoted text', () => {
    const check = judgeTokenRoles({ roles: ['\u001b[31mred\nline', 'x'.repeat(500)] });
    assert.doesNotMatch(check.detail, /\u001b|\n/);
    assert.ok(check.detail.length < 400);
  });

  it('fails an expired token and warns about one that expires within 10 minutes', () => {
    assert.equal(judgeTokenExpiry({ exp: NOW / 1000 - 1 }, NOW).result, 'fail');
    assert.equal(judgeTokenExpiry({ exp: NOW / 1000 + 300 }, NOW).result, 'warn');
    assert.equal(judgeTokenExpiry({ exp: NOW / 1000 + 3600 }, NOW).result, 'ok');
    assert.equal(judgeTokenExpiry({}, NOW).result, 'ok');
  });

  it("warns that a token that is not a JWT (the simulator's) cannot have its roles checked", () => {
    const checks = judgeToken('sim-token', GRAPH, NOW);
    assert.deepEqual(
      checks.map((c) => [c.name, c.result]),
      [['credentials.permission', 'warn']],
    );
    assert.match(checks[0].detail, /roles cannot be checked/);
    const good = judgeToken(jwt({ aud: GRAPH, roles: ['DeviceManagementApps.ReadWrite.All'], exp: NOW / 1000 + 3600 }), GRAPH, NOW);
    assert.deepEqual(
      good.map((c) => c.result),
      ['ok', 'ok', 'ok'],
    );
  });
});

describe('doctor: configuration judgments', () => {
  it("warns about a write budget above Intune's 100 per 20 s", () => {
    assert.equal(judgeWriteBudget({ limit: 100, windowMs: 20_000 }).result, 'ok');
    assert.equal(judgeWriteBudget({ limit: 5, windowMs: 1000 }).result, 'ok');
    const high = judgeWriteBudget({ limit: 1000, windowMs: 1000 });
    assert.equal(high.result, 'warn');
    assert.match(high.fix, /SYNC_RATE_LIMIT=100\/20s/);
  });

  it('warns when GRAPH_BASE_URL would carry the token in cleartext to another machine', () => {
    assert.equal(judgeGraphEndpoint({ cloud: 'global', graphBaseUrl: 'https://graph.microsoft.com', apiVersion: 'beta' }).result, 'ok');
    assert.equal(judgeGraphEndpoint({ cloud: 'global', graphBaseUrl: 'http://127.0.0.1:8080', apiVersion: 'beta' }).result, 'ok');
    assert.equal(judgeGraphEndpoint({ cloud: 'global', graphBaseUrl: 'https://proxy.internal', apiVersion: 'v1.0' }).result, 'ok');
    const clear = judgeGraphEndpoint({ cloud: 'global', graphBaseUrl: 'http://simulator:8080', apiVersion: 'beta' });
    assert.equal(clear.result, 'warn');
    assert.match(clear.detail, /cleartext to http:\/\/simulator:8080\/beta/);
  });

  it('fails an invalid configuration naming each variable but never its value', () => {
    const secret = 'TopSecretValue-not-to-be-shown';
    const { config, checks } = checkConfiguration({
      GRAPH_BASE_URL: `not a url ${secret}`,
      GRAPH_CLOUD: 'mars',
      AZURE_CLIENT_SECRET: secret,
    });
    assert.equal(config, undefined);
    assert.equal(checks.length, 1);
    assert.equal(checks[0].result, 'fail');
    assert.match(checks[0].detail, /GRAPH_CLOUD.*GRAPH_BASE_URL|GRAPH_BASE_URL.*GRAPH_CLOUD/);
    assert.doesNotMatch(JSON.stringify(checks), new RegExp(secret));
    assert.ok(doctorFailed(checks));
  });

  it('fails when no credentials are configured, and passes a complete configuration', () => {
    const none = checkConfiguration({});
    assert.deepEqual(
      none.checks.filter((c) => c.result === 'fail').map((c) => c.name),
      ['config.credentials'],
    );
    const full = checkConfiguration({ GRAPH_ACCESS_TOKEN: 'sim-token', GRAPH_CLOUD: 'usgov' });
    assert.ok(!doctorFailed(full.checks));
    assert.match(full.checks[0].detail, /cloud usgov/);
    assert.doesNotMatch(JSON.stringify(full.checks), /sim-token/);
  });
});

describe('doctor: which credential', () => {
  const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const APP = '11111111-2222-3333-4444-555555555555';
  const SECRET = 'very-secret-value';

  it('fails when GRAPH_ACCESS_TOKEN and AZURE_* app credentials are both set, naming the variables and never a value', () => {
    const both = judgeCredentials({
      GRAPH_ACCESS_TOKEN: 'tok-123',
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: APP,
      AZURE_CLIENT_SECRET: SECRET,
    });
    assert.equal(both.name, 'config.credentials');
    assert.equal(both.result, 'fail');
    assert.match(both.detail, /both GRAPH_ACCESS_TOKEN and AZURE_CLIENT_ID, AZURE_CLIENT_SECRET are set/);
    assert.match(both.fix, /unset GRAPH_ACCESS_TOKEN/);
    assert.doesNotMatch(JSON.stringify(both), /tok-123|very-secret/);
    assert.equal(judgeCredentials({ GRAPH_ACCESS_TOKEN: 't', AZURE_CLIENT_CERTIFICATE_PATH: '/certs/a.pem' }).result, 'fail');
    // Through checkConfiguration, as `doctor` runs it: the run would silently use the token, so doctor fails.
    assert.ok(
      doctorFailed(
        checkConfiguration({ GRAPH_ACCESS_TOKEN: 't', AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: APP, AZURE_CLIENT_SECRET: SECRET }).checks,
      ),
    );
  });

  it('accepts AZURE_TENANT_ID beside a token (it names the default tenant of rows) and empty variables as unset', () => {
    assert.equal(judgeCredentials({ GRAPH_ACCESS_TOKEN: 't', AZURE_TENANT_ID: TENANT }).result, 'ok');
    assert.equal(judgeCredentials({ GRAPH_ACCESS_TOKEN: 't', AZURE_CLIENT_ID: '', AZURE_CLIENT_SECRET: '' }).result, 'ok');
  });

  it('names the credential in use and the variable it comes from', () => {
    assert.match(judgeCredentials({ GRAPH_ACCESS_TOKEN: 't' }).detail, /fixed bearer token from GRAPH_ACCESS_TOKEN/);
    const secret = judgeCredentials({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: APP, AZURE_CLIENT_SECRET: SECRET });
    assert.equal(secret.result, 'ok');
    assert.match(
      secret.detail,
      new RegExp(`client secret in AZURE_CLIENT_SECRET for app ${APP} \\(AZURE_CLIENT_ID\\) in tenant ${TENANT}`),
    );
    assert.doesNotMatch(secret.detail, /very-secret/);
    const cert = judgeCredentials({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: APP, AZURE_CLIENT_CERTIFICATE_PATH: '/certs/app.pem' });
    assert.equal(cert.result, 'ok');
    assert.match(cert.detail, /client certificate \/certs\/app\.pem \(AZURE_CLIENT_CERTIFICATE_PATH\)/);
  });

  it('fails a secret and a certificate given together, and incomplete AZURE_* naming what is missing', () => {
    assert.equal(
      judgeCredentials({
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: APP,
        AZURE_CLIENT_SECRET: SECRET,
        AZURE_CLIENT_CERTIFICATE_PATH: '/c.pem',
      }).result,
      'fail',
    );
    const partial = judgeCredentials({ AZURE_CLIENT_ID: APP, AZURE_CLIENT_SECRET: SECRET });
    assert.equal(partial.result, 'fail');
    assert.match(partial.detail, /incomplete: AZURE_TENANT_ID is not set/);
    assert.match(
      judgeCredentials({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: APP }).detail,
      /neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH/,
    );
    assert.equal(judgeCredentials({}).detail, 'no Graph credentials are configured');
  });

  it('a production configuration names the credential and the Graph host of its cloud', () => {
    const { checks } = checkConfiguration({
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: APP,
      AZURE_CLIENT_SECRET: SECRET,
      GRAPH_CLOUD: 'usgov',
    });
    assert.ok(!doctorFailed(checks));
    assert.match(checks.find((c) => c.name === 'config.graph')!.detail, /requests go to https:\/\/graph\.microsoft\.us\/beta/);
    assert.match(checks.find((c) => c.name === 'config.credentials')!.detail, /AZURE_CLIENT_SECRET/);
    assert.doesNotMatch(JSON.stringify(checks), /very-secret/);
  });

  it("lists each tenant of the tenants file with its kind of credential and its Graph host, never a credential's value", () => {
    const tenant = (tenantId: string, graphBaseUrl: string, credentials: TenantConfig['credentials']): TenantConfig => ({
      tenantId,
      cloud: 'global',
      graphBaseUrl,
      authorityHost: 'https://login.microsoftonline.com',
      credentials,
      rateLimit: { limit: 100, windowMs: 20_000 },
      readRateLimit: { limit: 800, windowMs: 20_000 },
    });
    assert.deepEqual(describeTenants([]), []);
    const [check] = describeTenants([
      tenant(TENANT, 'https://graph.microsoft.com', { kind: 'clientSecret', tenantId: TENANT, clientId: APP, clientSecret: SECRET }),
      tenant(APP, 'http://127.0.0.1:8080', { kind: 'accessToken', token: 'tok-123' }),
    ]);
    assert.equal(check.result, 'ok');
    assert.match(
      check.detail,
      new RegExp(`${TENANT}: clientSecret -> https://graph\\.microsoft\\.com; ${APP}: accessToken -> http://127\\.0\\.0\\.1:8080`),
    );
    assert.doesNotMatch(check.detail, /very-secret|tok-123/);
  });
});
