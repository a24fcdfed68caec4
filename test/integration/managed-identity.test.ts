import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GRAPH_CLOUDS, type GraphCloud } from '../../src/clouds.js';
import type { DoctorCheck } from '../../src/interfaces.js';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managed-identity.js';
import { HEADER, lastJsonLine, runCli, seedGraph, startTestEnv, validRows, waitForRun, writeTemp } from '../support/harness.js';
import { freePort } from '../support/server-helpers.js';

/**
 * A worker on App Service (or Functions, Container Apps) with AZURE_CREDENTIAL=managed-identity: ManagedIdentityCredential
 * finds IDENTITY_ENDPOINT and IDENTITY_HEADER in the environment, which here point to a local stand-in of the platform's
 * identity endpoint. The simulator checks its tokens (signature, audience of the cloud's Graph, tenant, roles) as Graph
 * would. Each run is a child process, as in production: @azure/msal-node keeps the identity source and its token cache
 * once per process.
 */
const TENANT = '7c1f1d3a-5b2e-4c7d-9a8b-0e1f2a3b4c5d';

let identity: ManagedIdentityStandIn;
before(async () => {
  identity = await startManagedIdentityStandIn({ tenantId: TENANT });
});
after(async () => {
  await identity.close();
});

/** The environment App Service gives the process, with the managed identity chosen; no token, no app credentials. */
type Env = Record<string, string>;
function identityEnv(base: Env, extra: Env, platform: Env): Env {
  const { GRAPH_ACCESS_TOKEN: _unused, ...rest } = base;
  return { ...rest, AZURE_CREDENTIAL: 'managed-identity', ...platform, ...extra };
}

async function importAndWork(cloud: GraphCloud, rows: number, extraEnv: Record<string, string> = {}, platform = identity.env()) {
  const sim = { jwtKeys: [identity.publicKeyPem], graphCloud: GRAPH_CLOUDS[cloud].graphHost };
  const t = await startTestEnv('managed-identity', { sim });
  const env = identityEnv(t.env, { GRAPH_CLOUD: cloud, ...extraEnv }, platform);
  try {
    const lines = validRows(rows);
    seedGraph(t.sim, lines, { tenantId: TENANT });
    const path = await writeTemp(t, 'export.csv', `${HEADER}\n${lines.join('\n')}\n`);
    const imported = await runCli(['import', path, '--json'], env);
    assert.equal(imported.code, 0, imported.stderr);
    const { runId } = lastJsonLine<{ runId: string }>(imported.stdout);
    const before = identity.requests.length;
    const startedAt = Date.now();
    const worked = await runCli(['worker', '--until-idle', '--concurrency', '10'], env, undefined, 90_000);
    const durationMs = Date.now() - startedAt;
    assert.equal(worked.code, 0, worked.stderr);
    const status = await waitForRun(t.redis, t.prefix, runId);
    const patches = t.sim.requestLog().filter((e) => e.method === 'PATCH');
    return { status, patches, tokenRequests: identity.requests.slice(before), durationMs };
  } finally {
    await t.close();
  }
}

describe('managed identity end to end, real CLI: import and worker --until-idle against the simulator checking JWTs', () => {
  for (const cloud of ['global', 'usgov'] as const) {
    const { graphHost } = GRAPH_CLOUDS[cloud];
    it(`${cloud}, system-assigned: one token request, with the identity header, for ${graphHost}; every row written with it`, async () => {
      const { status, patches, tokenRequests } = await importAndWork(cloud, 30);
      assert.equal(status.state, 'completed', JSON.stringify(status));
      assert.equal(status.succeeded, 30, JSON.stringify(status));
      assert.equal(tokenRequests.length, 1, `one token request per process per token lifetime: ${JSON.stringify(tokenRequests)}`);
      const [request] = tokenRequests;
      assert.equal(request.identityHeader, identity.header, 'X-IDENTITY-HEADER carries IDENTITY_HEADER');
      assert.equal(request.resource, graphHost, "the resource is GRAPH_CLOUD's Graph");
      assert.equal(request.apiVersion, '2019-08-01');
      assert.equal(request.clientId, null, 'no client_id: the system-assigned identity');
      assert.equal(patches.length, 30);
      assert.ok(
        patches.every((e) => e.status === 200 && e.tenantId === TENANT),
        "every PATCH authorized by the identity's JWT",
      );
    });
  }

  it('user-assigned (AZURE_CLIENT_ID): its client id is sent, and its token writes every row', async () => {
    const { status, tokenRequests, patches } = await importAndWork('global', 20, { AZURE_CLIENT_ID: identity.userClientId.toUpperCase() });
    assert.equal(status.succeeded, 20, JSON.stringify(status));
    assert.equal(tokenRequests.length, 1);
    assert.equal(tokenRequests[0].clientId, identity.userClientId);
    assert.ok(patches.every((e) => e.status === 200));
  });

  it('a tenant of SYNC_TENANTS_FILE with "credential": "managed-identity" writes with the identity, the default with its own', async () => {
    const t = await startTestEnv('managed-identity-tenants', { sim: { jwtKeys: [identity.publicKeyPem] } });
    try {
      const tenants = { tenants: { [TENANT]: { credential: 'managed-identity', graphBaseUrl: t.sim.url } } };
      const file = await writeTemp(t, 'tenants.json', JSON.stringify(tenants));
      // The default tenant keeps GRAPH_ACCESS_TOKEN (the simulator's); only the listed tenant uses the identity.
      const env = { ...t.env, SYNC_TENANTS_FILE: file, ...identity.env() };
      const lines = validRows(10);
      seedGraph(t.sim, lines);
      seedGraph(t.sim, lines, { tenantId: TENANT });
      const csv = [`${HEADER},tenantId`, ...['', TENANT].flatMap((tenant) => lines.map((r) => `${r},${tenant}`))].join('\n') + '\n';
      const imported = await runCli(['import', await writeTemp(t, 'export.csv', csv), '--json'], env);
      assert.equal(imported.code, 0, imported.stderr);
      const { runId } = lastJsonLine<{ runId: string }>(imported.stdout);
      const before = identity.requests.length;
      const worked = await runCli(['worker', '--until-idle', '--concurrency', '10'], env, undefined, 90_000);
      assert.equal(worked.code, 0, worked.stderr);
      const status = await waitForRun(t.redis, t.prefix, runId);
      assert.equal(status.succeeded, 20, JSON.stringify(status));
      const patches = t.sim.requestLog().filter((e) => e.method === 'PATCH' && e.status === 200);
      assert.deepEqual(
        [TENANT, 'sim-tenant'].map((tenant) => patches.filter((e) => e.tenantId === tenant).length),
        [10, 10],
      );
      const asked = identity.requests.slice(before);
      assert.deepEqual(
        asked.map((r) => [r.resource, r.clientId]),
        [['https://graph.microsoft.com', null]],
        'one token, its cloud',
      );
    } finally {
      await t.close();
    }
  });

  it("Cloud Shell's form (MSI_ENDPOINT alone): a POST with Metadata: true and the resource in the form body", async () => {
    const { status, tokenRequests, patches } = await importAndWork('usgov', 20, {}, identity.cloudShellEnv());
    assert.equal(status.succeeded, 20, JSON.stringify(status));
    assert.equal(tokenRequests.length, 1);
    assert.deepEqual(
      { method: tokenRequests[0].method, metadata: tokenRequests[0].metadata, resource: tokenRequests[0].resource },
      { method: 'POST', metadata: 'true', resource: GRAPH_CLOUDS.usgov.graphHost },
    );
    assert.ok(patches.every((e) => e.status === 200));
  });

  it('short-lived tokens are renewed before they expire, whatever the library caches: none is sent expired', async () => {
    identity.configure({ lifetimeSeconds: 4 });
    let result;
    try {
      // 5 writes a second for 40 rows: about 8 s, two token lifetimes.
      result = await importAndWork('global', 40, { SYNC_RATE_LIMIT: '5/s' });
    } finally {
      identity.configure({ lifetimeSeconds: 3600 });
    }
    const { status, patches, tokenRequests, durationMs } = result;
    assert.equal(status.succeeded, 40, JSON.stringify(status));
    assert.equal(patches.filter((e) => e.status === 401).length, 0, 'the simulator never saw an expired token');
    assert.ok(tokenRequests.length >= 3, `renewed as the run went on (${tokenRequests.length} token requests in ${durationMs} ms)`);
    // Renewed at half of a 4 s lifetime: at most one request per 2 s, and one to start.
    assert.ok(tokenRequests.length <= Math.ceil(durationMs / 2_000) + 1, `${tokenRequests.length} token requests in ${durationMs} ms`);
  });
});

describe('doctor with a managed identity', () => {
  async function doctor(extra: Record<string, string>, identityVariables: Record<string, string> = identity.env()) {
    const t = await startTestEnv('managed-identity-doctor');
    try {
      const { GRAPH_ACCESS_TOKEN: _token, GRAPH_BASE_URL: _url, ...base } = t.env;
      const out = await runCli(['doctor', '--json'], { ...base, AZURE_CREDENTIAL: 'managed-identity', ...identityVariables, ...extra });
      const checks = lastJsonLine<{ checks: DoctorCheck[] }>(out.stdout).checks;
      const credentials = checks.filter((c) => c.name.startsWith('credentials') || c.name === 'config.credentials');
      return { code: out.code, checks, credentials };
    } finally {
      await t.close();
    }
  }
  const find = (checks: DoctorCheck[], name: string): DoctorCheck => {
    const check = checks.find((c) => c.name === name);
    assert.ok(check, `a ${name} check in ${JSON.stringify(checks.map((c) => c.name))}`);
    return check;
  };

  it('names the identity and its source, gets a token and reads its audience, roles, client id and tenant', async () => {
    const before = identity.requests.length;
    const { credentials } = await doctor({ AZURE_CLIENT_ID: identity.userClientId, AZURE_TENANT_ID: TENANT });
    assert.deepEqual(
      credentials.filter((c) => c.result !== 'ok'),
      [],
      JSON.stringify(credentials),
    );
    assert.match(
      find(credentials, 'config.credentials').detail,
      new RegExp(`user-assigned managed identity ${identity.userClientId} \\(AZURE_CREDENTIAL=managed-identity\\), through App Service at`),
    );
    assert.match(find(credentials, 'credentials.token').detail, new RegExp(`\\(client id ${identity.userClientId}, tenant ${TENANT}\\)$`));
    assert.match(find(credentials, 'credentials.audience').detail, /the token is for https:\/\/graph\.microsoft\.com/);
    assert.match(find(credentials, 'credentials.permission').detail, /DeviceManagementApps\.ReadWrite\.All/);
    assert.equal(find(credentials, 'credentials.tenant').result, 'ok');
    const asked = identity.requests.slice(before);
    assert.equal(asked.length, 1);
    assert.equal(asked[0].clientId, identity.userClientId);
  });

  it('the system-assigned identity is named by the client id its token carries', async () => {
    const { credentials } = await doctor({});
    const named = new RegExp(`system-assigned managed identity .*\\(client id ${identity.systemClientId}, tenant ${TENANT}\\)$`);
    assert.match(find(credentials, 'credentials.token').detail, named);
  });

  it('fails when the identity endpoint does not answer, naming it and the fix', async () => {
    const down = `http://127.0.0.1:${await freePort()}/msi/token`;
    const { code, credentials } = await doctor({}, { IDENTITY_ENDPOINT: down, IDENTITY_HEADER: identity.header });
    assert.equal(code, 1);
    const token = find(credentials, 'credentials.token');
    assert.equal(token.result, 'fail');
    assert.match(token.detail, new RegExp(`the App Service identity endpoint ${down} \\(IDENTITY_ENDPOINT and IDENTITY_HEADER\\) did not`));
    assert.match(token.fix, /turn on a managed identity for this app and restart it/);
  });

  it('fails a user-assigned client id not assigned to the host (the endpoint answers 400), saying which and the fix', async () => {
    const stranger = '0b9f7c3e-1d2a-4c5b-8e6f-7a8b9c0d1e2f';
    const before = identity.requests.length;
    const { code, credentials } = await doctor({ AZURE_CLIENT_ID: stranger });
    assert.equal(code, 1);
    const token = find(credentials, 'credentials.token');
    assert.equal(token.result, 'fail');
    assert.match(token.detail, new RegExp(`no user-assigned identity with client id ${stranger} \\(AZURE_CLIENT_ID\\) is assigned to`));
    assert.match(token.detail, /App Service answered: Unable to load the proper Managed Identity\./);
    assert.match(token.fix, /set AZURE_CLIENT_ID to the client id \(not the object or principal id\)/);
    assert.deepEqual(
      identity.requests.slice(before).map((r) => r.clientId),
      [stranger],
      'asked once: a 400 is not retried',
    );
  });

  it('on Cloud Shell, names it; a user-assigned client id is refused there, with the fix', async () => {
    const shell = await doctor({}, identity.cloudShellEnv());
    assert.match(find(shell.credentials, 'credentials.token').detail, /system-assigned managed identity .*through Cloud Shell at http:/);
    assert.equal(find(shell.credentials, 'credentials.permission').result, 'ok');
    const user = await doctor({ AZURE_CLIENT_ID: identity.userClientId }, identity.cloudShellEnv());
    const token = find(user.credentials, 'credentials.token');
    assert.equal(token.result, 'fail');
    assert.match(token.detail, /Cloud Shell offers only its own identity/);
    assert.equal(token.fix, 'unset AZURE_CLIENT_ID to use it');
  });

  it('fails a host without a system-assigned identity', async () => {
    identity.configure({ systemAssigned: false });
    try {
      const { credentials } = await doctor({});
      const token = find(credentials, 'credentials.token');
      assert.equal(token.result, 'fail');
      assert.match(token.detail, /this app has no system-assigned managed identity/);
      assert.match(token.fix, /turn on the system-assigned identity of the app/);
    } finally {
      identity.configure({ systemAssigned: true });
    }
  });

  it('fails an identity without the Graph app role, read from its token, with the app-role-assignment fix', async () => {
    identity.configure({ roles: ['User.Read.All'] });
    try {
      const { code, credentials } = await doctor({});
      assert.equal(code, 1);
      const permission = find(credentials, 'credentials.permission');
      assert.equal(permission.result, 'fail');
      assert.match(permission.detail, /neither DeviceManagementConfiguration\.ReadWrite\.All nor DeviceManagementApps\.ReadWrite\.All/);
      assert.match(permission.detail, /it has "User\.Read\.All"/);
      assert.match(permission.fix, /assign the identity's service principal the Microsoft Graph app role DeviceManagementApps\.ReadWrite/);
    } finally {
      identity.configure({ roles: ['DeviceManagementApps.ReadWrite.All'] });
    }
  });

  it('fails an identity of another tenant than AZURE_TENANT_ID', async () => {
    const other = '11111111-2222-4333-8444-555555555555';
    const { credentials } = await doctor({ AZURE_TENANT_ID: other });
    const tenant = find(credentials, 'credentials.tenant');
    assert.equal(tenant.result, 'fail');
    assert.match(tenant.detail, new RegExp(`belongs to tenant "${TENANT}", not to AZURE_TENANT_ID ${other}`));
  });

  it('refuses a managed identity given with a client secret, before asking for any token', async () => {
    const before = identity.requests.length;
    const { code, checks } = await doctor({ AZURE_CLIENT_SECRET: 'hunter2-secret' });
    assert.equal(code, 1);
    const config = find(checks, 'config');
    assert.equal(config.result, 'fail');
    assert.match(config.detail, /AZURE_CREDENTIAL=managed-identity is set together with AZURE_CLIENT_SECRET/);
    assert.ok(!JSON.stringify(checks).includes('hunter2-secret'));
    assert.equal(identity.requests.length, before);
  });
});
