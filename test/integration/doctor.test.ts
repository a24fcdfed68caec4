import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { DoctorCheck } from '../../src/interfaces.js';
import { defaultTokens, startSimulator, type GraphSimulator } from '../../src/simulator/index.js';
import { lastJsonLine, REDIS_URL, runCli } from '../support/harness.js';
import { unsignedJwt } from '../support/jwt.js';
import { freePort } from '../support/server-helpers.js';
import { PrivateRedis } from '../support/private-redis.js';

const GOOD_REDIS = ['--appendonly', 'yes', '--maxmemory-policy', 'noeviction'];
const GRAPH = 'https://graph.microsoft.com';
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

let sim: GraphSimulator;
let good: PrivateRedis;
const servers: PrivateRedis[] = [];

before(async () => {
  sim = await startSimulator({ budget: false });
  good = await PrivateRedis.start({ args: GOOD_REDIS });
  servers.push(good);
});

after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await sim?.close();
});

/** The demo's environment: the simulator, its token, the project's default budget. */
function demoEnv(redisUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    GRAPH_BASE_URL: sim.url,
    GRAPH_ACCESS_TOKEN: 'sim-token',
    SYNC_RATE_LIMIT: '100/20s',
    SYNC_PREFIX: 'doctor-test',
    SYNC_LOG_LEVEL: 'warn',
    ...extra,
  };
}

async function doctor(
  env: Record<string, string>,
  args: string[] = ['--json'],
): Promise<{ code: number; checks: DoctorCheck[]; stdout: string; stderr: string }> {
  const out = await runCli(['doctor', ...args], env);
  return {
    code: out.code,
    checks: args.includes('--json') ? lastJsonLine<{ checks: DoctorCheck[] }>(out.stdout).checks : [],
    stdout: out.stdout,
    stderr: out.stderr,
  };
}

const find = (checks: DoctorCheck[], name: string): DoctorCheck => {
  const check = checks.find((c) => c.name === name);
  assert.ok(check, `a ${name} check in ${JSON.stringify(checks.map((c) => c.name))}`);
  return check;
};

const failures = (checks: DoctorCheck[]) => checks.filter((c) => c.result === 'fail').map((c) => c.name);

describe('doctor', { concurrency: 1 }, () => {
  it(
    'passes the demo set-up (simulator + a Redis with AOF and noeviction), warning ' +
      'only that the simulator token has no roles to check',
    async () => {
      const { code, checks, stderr } = await doctor(demoEnv(good.url));
      assert.equal(code, 0, stderr);
      assert.deepEqual(failures(checks), []);
      for (const c of checks) {
        assert.deepEqual(Object.keys(c), ['name', 'result', 'detail', 'fix']);
        assert.ok(['ok', 'warn', 'fail'].includes(c.result));
        assert.equal(c.fix === '', c.result === 'ok', `${c.name}: a fix exactly when not ok`);
      }
      for (const name of [
        'config',
        'config.graph',
        'config.write-budget',
        'redis.connection',
        'redis.version',
        'redis.maxmemory-policy',
        'redis.aof',
        'redis.memory',
        'redis.cluster',
        'clock',
        'credentials.token',
      ]) {
        assert.equal(find(checks, name).result, 'ok', name);
      }
      assert.deepEqual(
        checks.filter((c) => c.result === 'warn').map((c) => c.name),
        ['credentials.permission'],
      );
      assert.match(find(checks, 'credentials.permission').detail, /roles cannot be checked/);
    },
  );

  it('--probe reads the configuration once through the read budget, proving host, token and permission, and sends no PATCH', async () => {
    sim.reset();
    const { code, checks, stderr } = await doctor(demoEnv(good.url, { SYNC_PREFIX: `doctor-probe-${process.pid}` }), [
      '--json',
      '--probe',
      'cfg-probe',
    ]);
    assert.equal(code, 0, stderr);
    const probe = find(checks, 'graph.probe');
    assert.equal(probe.result, 'ok', probe.detail);
    assert.match(
      probe.detail,
      /^read mobileAppConfiguration cfg-probe from http:\/\/127\.0\.0\.1:\d+ \(beta\): it lists no user status yet; /,
    );
    assert.match(probe.detail, /; host, token and permission work end to end$/);
    const counters = sim.counters();
    assert.deepEqual(
      [counters.reads, counters.requests],
      [1, 0],
      'one GET, no PATCH (the simulator counts PATCHes as requests, GETs as reads)',
    );
    assert.deepEqual(
      sim.requestLog().map((e) => `${e.method} ${e.path}`),
      ['GET /beta/deviceAppManagement/mobileAppConfigurations/cfg-probe/userStatuses'],
    );
  });

  it('--probe fails with the fix for a configuration Graph does not have (404) and for a token without the permission (403)', async () => {
    sim.configure({
      missingConfigurations: ['gone-cfg'],
      tokens: {
        'sim-token': { tenantId: 'sim-tenant', appId: 'sim-app', permissions: ['DeviceManagementApps.ReadWrite.All'] },
        'no-permission': { tenantId: 'sim-tenant', appId: 'other-app', permissions: [] },
      },
    });
    try {
      const missing = await doctor(demoEnv(good.url), [
        '--json',
        '--probe',
        'gone-cfg',
        '--probe-type',
        'iosLobAppProvisioningConfiguration',
      ]);
      assert.equal(missing.code, 1);
      const notFound = find(missing.checks, 'graph.probe');
      assert.equal(notFound.result, 'fail');
      assert.match(notFound.detail, /^reading the user statuses of iosLobAppProvisioningConfiguration gone-cfg from .* failed: .*404/);
      assert.match(
        notFound.fix,
        /^Graph has no iosLobAppProvisioningConfiguration gone-cfg under GRAPH_API_VERSION beta: check the configuration id/,
      );

      const forbidden = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: 'no-permission' }), ['--json', '--probe', 'cfg-probe']);
      assert.equal(forbidden.code, 1);
      const denied = find(forbidden.checks, 'graph.probe');
      assert.equal(denied.result, 'fail');
      assert.match(denied.fix, /grant the app DeviceManagementConfiguration\.ReadWrite\.All or DeviceManagementApps\.ReadWrite\.All/);
      assert.ok(!JSON.stringify(forbidden.checks).includes('no-permission'), 'the token is never printed');
    } finally {
      sim.configure({ missingConfigurations: [], tokens: defaultTokens() });
    }
  });

  it('--probe refuses an id that could change the request path, before any request (exit 2)', async () => {
    sim.reset();
    for (const id of ['..', 'a/b', 'x\u200by']) {
      const { code, stderr } = await doctor(demoEnv(good.url), ['--probe', id]);
      assert.equal(code, 2, id);
      assert.match(stderr, /^error: --probe: /, id);
    }
    assert.deepEqual([sim.counters().reads, sim.counters().requests], [0, 0]);
  });

  it('passes against the shared demo Redis too, where AOF is off: a warning, not a failure', async () => {
    const { code, checks } = await doctor(demoEnv(REDIS_URL));
    assert.equal(code, 0);
    assert.equal(find(checks, 'redis.aof').result, 'warn');
  });

  it('prints one line per check without --json, with a fix under each that is not ok', async () => {
    const { code, stdout } = await doctor(demoEnv(good.url), []);
    assert.equal(code, 0);
    assert.match(stdout, /^ok {4}redis\.maxmemory-policy +maxmemory-policy is noeviction/m);
    assert.match(stdout, /^warn {2}credentials\.permission .*\n {6}fix: /m);
    assert.doesNotMatch(stdout, /^\{/m);
  });

  it('fails a Redis with allkeys-lru, saying to set noeviction', async () => {
    const lru = await PrivateRedis.start({ args: ['--appendonly', 'yes', '--maxmemory-policy', 'allkeys-lru'] });
    servers.push(lru);
    const { code, checks } = await doctor(demoEnv(lru.url));
    assert.equal(code, 1);
    assert.deepEqual(failures(checks), ['redis.maxmemory-policy']);
    const check = find(checks, 'redis.maxmemory-policy');
    assert.match(check.detail, /allkeys-lru/);
    assert.match(check.fix, /maxmemory-policy noeviction/);
  });

  it('warns about a Redis without AOF but still exits 0', async () => {
    const noAof = await PrivateRedis.start({ args: ['--appendonly', 'no', '--maxmemory-policy', 'noeviction'] });
    servers.push(noAof);
    const { code, checks } = await doctor(demoEnv(noAof.url));
    assert.equal(code, 0);
    const check = find(checks, 'redis.aof');
    assert.equal(check.result, 'warn');
    assert.match(check.fix, /appendonly yes/);
  });

  it('warns when Redis memory is over 80 % of maxmemory and fails over 95 %', async () => {
    const full = await PrivateRedis.start({ args: GOOD_REDIS });
    servers.push(full);
    const admin = new Redis(full.url);
    try {
      const used = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
      // 16 MB of data, so that the connections doctor itself opens (a few tens of KB each) cannot move the share
      // across a threshold between this measurement and doctor's.
      // Written by a script, so that no 16 MB command sits in a query buffer while memory is measured.
      await admin.eval("for i = 1, 16000 do redis.call('SET', 'ballast:' .. i, string.rep('x', 1000)) end", 0);
      await admin.config('SET', 'maxmemory', String(Math.floor((await used()) / 0.85)));
      const warned = await doctor(demoEnv(full.url));
      assert.equal(find(warned.checks, 'redis.memory').result, 'warn', find(warned.checks, 'redis.memory').detail);
      assert.equal(warned.code, 0);
      await admin.config('SET', 'maxmemory', String(Math.floor((await used()) / 0.97)));
      const failed = await doctor(demoEnv(full.url));
      assert.equal(find(failed.checks, 'redis.memory').result, 'fail', find(failed.checks, 'redis.memory').detail);
      assert.match(find(failed.checks, 'redis.memory').fix, /raise maxmemory/);
      assert.equal(failed.code, 1);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }
  });

  it('fails a Redis Cluster node named by REDIS_URL, pointing to SYNC_REDIS_CLUSTER', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csync-doctor-cluster-'));
    const cluster = await PrivateRedis.start({
      args: [...GOOD_REDIS, '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')],
    });
    servers.push(cluster);
    try {
      const { code, checks } = await doctor(demoEnv(cluster.url));
      assert.equal(code, 1);
      assert.deepEqual(failures(checks), ['redis.cluster']);
      assert.match(find(checks, 'redis.cluster').fix, /SYNC_REDIS_CLUSTER/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails within seconds when Redis is unreachable, and still checks the rest', async () => {
    const started = Date.now();
    const { code, checks } = await doctor(demoEnv(`redis://:hunter2-redis-password@127.0.0.1:${await freePort()}`));
    assert.equal(code, 1);
    assert.ok(Date.now() - started < 20_000);
    const check = find(checks, 'redis.connection');
    assert.equal(check.result, 'fail');
    assert.match(check.fix, /REDIS_URL/);
    assert.doesNotMatch(JSON.stringify(checks), /hunter2/);
    assert.equal(find(checks, 'credentials.token').result, 'ok');
  });

  it('passes a JWT for Graph with the write permission, and never prints the token', async () => {
    const token = unsignedJwt({
      aud: GRAPH,
      roles: ['DeviceManagementApps.ReadWrite.All'],
      exp: inAnHour(),
      appid: 'app-1',
      tid: 'tenant-1',
    });
    const { code, checks, stdout, stderr } = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: token }));
    assert.equal(code, 0);
    for (const name of ['credentials.audience', 'credentials.permission', 'credentials.expiry'])
      assert.equal(find(checks, name).result, 'ok', name);
    assert.ok(!stdout.includes(token.split('.')[1]) && !stderr.includes(token.split('.')[1]));
  });

  it('fails a token without either write permission, naming the permission to grant', async () => {
    const token = unsignedJwt({ aud: GRAPH, roles: ['DeviceManagementApps.Read.All'], exp: inAnHour() });
    const { code, checks } = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: token }));
    assert.equal(code, 1);
    assert.deepEqual(failures(checks), ['credentials.permission']);
    const check = find(checks, 'credentials.permission');
    assert.match(check.detail, /neither DeviceManagementConfiguration\.ReadWrite\.All nor DeviceManagementApps\.ReadWrite\.All/);
    assert.match(check.fix, /DeviceManagementApps\.ReadWrite\.All/);
  });

  it(
    'judges the permission by GRAPH_API_VERSION: ' + 'DeviceManagementConfiguration.ReadWrite.All passes under beta, not under v1.0',
    async () => {
      const token = unsignedJwt({ aud: GRAPH, roles: ['DeviceManagementConfiguration.ReadWrite.All'], exp: inAnHour() });
      const beta = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: token }));
      assert.equal(beta.code, 0);
      const v1 = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: token, GRAPH_API_VERSION: 'v1.0' }));
      assert.equal(v1.code, 1);
      assert.deepEqual(failures(v1.checks), ['credentials.permission']);
      assert.match(find(v1.checks, 'credentials.permission').fix, /DeviceManagementApps\.ReadWrite\.All.*GRAPH_API_VERSION=beta/);
    },
  );

  it('names the credential and the Graph host, and fails when GRAPH_ACCESS_TOKEN and AZURE_* are both set', async () => {
    const demo = await doctor(demoEnv(good.url), []);
    assert.match(demo.stdout, /^ok {4}config\.credentials +credential: a fixed bearer token from GRAPH_ACCESS_TOKEN/m);
    assert.match(
      demo.stdout,
      new RegExp(`^ok {4}config\\.graph +GRAPH_BASE_URL sends requests to ${sim.url.replace(/\./g, '\\.')}/beta`, 'm'),
    );
    const secret = 'app-secret-never-printed';
    const both = await doctor(
      demoEnv(good.url, {
        AZURE_TENANT_ID: '11111111-1111-1111-1111-111111111111',
        AZURE_CLIENT_ID: '22222222-2222-2222-2222-222222222222',
        AZURE_CLIENT_SECRET: secret,
      }),
    );
    assert.equal(both.code, 1);
    assert.deepEqual(failures(both.checks), ['config.credentials']);
    assert.match(
      find(both.checks, 'config.credentials').detail,
      /both GRAPH_ACCESS_TOKEN and AZURE_CLIENT_ID, AZURE_CLIENT_SECRET are set/,
    );
    assert.ok(!both.stdout.includes(secret) && !both.stderr.includes(secret));
  });

  it("fails a token issued for another cloud's Graph", async () => {
    const token = unsignedJwt({ aud: 'https://graph.microsoft.us', roles: ['DeviceManagementApps.ReadWrite.All'], exp: inAnHour() });
    const { code, checks } = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: token }));
    assert.equal(code, 1);
    assert.deepEqual(failures(checks), ['credentials.audience']);
    assert.match(find(checks, 'credentials.audience').fix, /GRAPH_CLOUD/);
    const usgov = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: token, GRAPH_CLOUD: 'usgov' }));
    assert.equal(usgov.code, 0, 'the same token is right for GRAPH_CLOUD=usgov');
  });

  it('fails an expired token', async () => {
    const token = unsignedJwt({ aud: GRAPH, roles: ['DeviceManagementApps.ReadWrite.All'], exp: Math.floor(Date.now() / 1000) - 60 });
    const { code, checks } = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: token }));
    assert.equal(code, 1);
    assert.deepEqual(failures(checks), ['credentials.expiry']);
  });

  it('fails when no token can be acquired, without printing the secret', async () => {
    const secret = 'client-secret-value-never-printed';
    const env = demoEnv(good.url, {
      GRAPH_ACCESS_TOKEN: '',
      AZURE_TENANT_ID: '11111111-1111-1111-1111-111111111111',
      AZURE_CLIENT_ID: '22222222-2222-2222-2222-222222222222',
      AZURE_CLIENT_SECRET: secret,
    });
    const { code, checks, stdout, stderr } = await doctor(env);
    assert.equal(code, 1);
    assert.deepEqual(failures(checks), ['credentials.token']);
    assert.match(find(checks, 'credentials.token').fix, /AZURE_TENANT_ID/);
    assert.ok(!stdout.includes(secret) && !stderr.includes(secret));
  });

  it('fails when no credentials are set, and on an invalid configuration names the variable but not its value', async () => {
    const none = await doctor(demoEnv(good.url, { GRAPH_ACCESS_TOKEN: '' }));
    assert.equal(none.code, 1);
    assert.deepEqual(failures(none.checks), ['config.credentials']);

    const secret = 'hunter2-in-a-bad-url';
    const bad = await doctor(demoEnv(good.url, { GRAPH_BASE_URL: `not a url ${secret}`, GRAPH_API_VERSION: 'v2' }));
    assert.equal(bad.code, 1);
    const check = find(bad.checks, 'config');
    assert.equal(check.result, 'fail');
    assert.match(check.detail, /GRAPH_BASE_URL/);
    assert.match(check.detail, /GRAPH_API_VERSION/);
    assert.ok(!bad.stdout.includes(secret));
    assert.equal(find(bad.checks, 'redis.maxmemory-policy').result, 'ok', 'Redis is still checked');
  });

  it("warns about a write budget above Intune's limit", async () => {
    const { code, checks } = await doctor(demoEnv(good.url, { SYNC_RATE_LIMIT: '50/s' }));
    assert.equal(code, 0);
    assert.equal(find(checks, 'config.write-budget').result, 'warn');
  });

  it('has --help, and refuses unknown flags with exit 2', async () => {
    const help = await runCli(['doctor', '--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--json/);
    assert.match(help.stdout, /noeviction/);
    assert.equal((await runCli(['doctor', '--bogus'], {})).code, 2);
  });
});
