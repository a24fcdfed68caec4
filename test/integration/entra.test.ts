import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GRAPH_CLOUDS, type GraphCloud } from '../../src/clouds.js';
import { loadConfig } from '../../src/config.js';
import { createTokenSource, type TokenSource } from '../../src/graph/auth.js';
import { UserStatusWriter } from '../../src/graph/client.js';
import { GraphRequestError } from '../../src/graph/errors.js';
import { DEFAULT_RENEWAL } from '../../src/graph/token-renewal.js';
import { startSimulator, type GraphSimulator } from '../../src/simulator/index.js';
import { startEntraStandIn, type EntraStandIn } from '../support/entra.js';
import { HEADER, lastJsonLine, runCli, seedGraph, startTestEnv, validRows, waitForRun, writeTemp } from '../support/harness.js';

const TENANT = '7c1f1d3a-5b2e-4c7d-9a8b-0e1f2a3b4c5d';
const CLOUDS = Object.keys(GRAPH_CLOUDS) as GraphCloud[];
const KINDS = ['client secret', 'client certificate'] as const;
/**
 * Where MSAL sends a cloud's token requests: its authority host, or the alias MSAL's cloud metadata prefers for it
 * (China's login.chinacloudapi.cn is sent to login.partner.microsoftonline.cn, the same authority).
 */
const AUTHORITY_ALIASES: Partial<Record<GraphCloud, string[]>> = { china: ['https://login.partner.microsoftonline.cn'] };
const authoritiesOf = (cloud: GraphCloud) => [GRAPH_CLOUDS[cloud].authorityHost, ...(AUTHORITY_ALIASES[cloud] ?? [])];
type Kind = (typeof KINDS)[number];

let entra: EntraStandIn;
before(async () => {
  entra = await startEntraStandIn();
});
after(async () => {
  await entra.close();
});

/** The AZURE_* variables of the stand-in's app of that kind, and the cloud. */
function credentialEnv(kind: Kind, cloud: GraphCloud): Record<string, string> {
  const app: Record<string, string> =
    kind === 'client secret'
      ? { AZURE_CLIENT_ID: entra.secretApp.clientId, AZURE_CLIENT_SECRET: entra.secretApp.clientSecret }
      : { AZURE_CLIENT_ID: entra.certificateApp.clientId, AZURE_CLIENT_CERTIFICATE_PATH: entra.certificateApp.certificatePath };
  return { GRAPH_CLOUD: cloud, AZURE_TENANT_ID: TENANT, ...app };
}

/** A test clock for renewal decisions, starting at the wall clock (MSAL stamps expiries with it). */
function testClock() {
  const clock = { ms: Date.now(), now: () => clock.ms };
  return clock;
}

/**
 * In-process: the credential as the worker builds it (createTokenSource from the environment), its requests sent to
 * the stand-in by the httpClient hook of @azure/identity, which records the authority host they were meant for.
 */
function tokenSource(kind: Kind, cloud: GraphCloud, now?: () => number): TokenSource {
  return createTokenSource(loadConfig(credentialEnv(kind, cloud)), {
    credentialOptions: { httpClient: entra.httpClient() },
    ...(now ? { now } : {}),
  });
}

const statusPath = (sim: GraphSimulator, id: string) =>
  `${sim.url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-e/userStatuses/${id}`;

async function patchWith(sim: GraphSimulator, token: string, id = 'u-0'): Promise<number> {
  const res = await fetch(statusPath(sim, id), {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus', status: 'compliant' }),
  });
  await res.arrayBuffer();
  return res.status;
}

function seedStatuses(sim: GraphSimulator, ids: string[]): void {
  sim.drift(
    ids.map((userStatusId) => ({
      tenantId: TENANT,
      collection: 'mobileAppConfigurations' as const,
      configId: 'cfg-e',
      userStatusId,
      values: { status: 'unknown' },
    })),
  );
}

describe('Entra end to end, in-process: each cloud, each credential kind', () => {
  let sim: GraphSimulator;
  before(async () => {
    sim = await startSimulator({ budget: false, jwtKeys: [entra.publicKeyPem] });
  });
  after(async () => {
    await sim.close();
  });

  for (const cloud of CLOUDS) {
    const { graphHost, authorityHost } = GRAPH_CLOUDS[cloud];
    for (const kind of KINDS) {
      it(
        `${cloud}, ${kind}: the token request goes to ${authorityHost} for ${graphHost}` +
          `/.default; that cloud's Graph accepts the token, another's refuses it`,
        async () => {
          const before = entra.tokenRequests.length;
          const token = await tokenSource(kind, cloud).getToken();
          const requests = entra.tokenRequests.slice(before);
          assert.equal(requests.length, 1);
          const [request] = requests;
          assert.ok(authoritiesOf(cloud).includes(request.authority), `${request.authority} is ${cloud}'s authority`);
          assert.equal(request.path, `/${TENANT}/oauth2/v2.0/token`);
          assert.equal(request.grantType, 'client_credentials');
          assert.deepEqual(
            request.scope.split(' ').filter((s) => s.endsWith('/.default')),
            [`${graphHost}/.default`],
          );
          assert.equal(request.proof, kind === 'client secret' ? 'secret' : 'assertion');

          seedStatuses(sim, ['u-0']);
          sim.configure({ graphCloud: graphHost });
          assert.equal(await patchWith(sim, token), 200);
          const other = CLOUDS.find((c) => GRAPH_CLOUDS[c].graphHost !== graphHost)!;
          sim.configure({ graphCloud: GRAPH_CLOUDS[other].graphHost });
          assert.equal(await patchWith(sim, token), 401, `a token for ${graphHost} is refused by ${GRAPH_CLOUDS[other].graphHost}`);
        },
      );

      it(
        `${cloud}, ${kind}: one token request per token lifetime, shared by concurrent ` +
          `callers; renewed 5 min before expiry; an expired token is renewed before use`,
        async () => {
          const clock = testClock();
          const source = tokenSource(kind, cloud, clock.now);
          const count = () =>
            entra.tokenRequests.filter((r) => authoritiesOf(cloud).includes(r.authority) && r.scope.includes(graphHost)).length;
          const before = count();
          const first = await Promise.all(Array.from({ length: 20 }, () => source.getToken()));
          assert.equal(new Set(first).size, 1, '20 concurrent callers get one token');
          for (let i = 0; i < 20; i++) assert.equal(await source.getToken(), first[0]);
          assert.equal(count() - before, 1, 'one token request for 40 calls');

          // MSAL stamps the expiry from its own clock in whole seconds: up to a second off the token's exp, hence ±2 s.
          const exp = (JSON.parse(Buffer.from(first[0].split('.')[1], 'base64url').toString()) as { exp: number }).exp * 1000;
          clock.ms = exp - DEFAULT_RENEWAL.renewBeforeExpiryMs - 2_000;
          assert.equal(await source.getToken(), first[0], 'still used 5 min + 2 s before expiry');
          assert.equal(count() - before, 1);

          clock.ms = exp - DEFAULT_RENEWAL.renewBeforeExpiryMs + 2_000;
          const renewed = await Promise.all(Array.from({ length: 10 }, () => source.getToken()));
          assert.equal(new Set(renewed).size, 1);
          assert.notEqual(renewed[0], first[0]);
          assert.equal(count() - before, 2, 'renewed once, 5 min before expiry, for 10 concurrent callers');

          // Far past the renewed token's expiry (a host asleep, a paused container): renewed before it is sent.
          clock.ms += 2 * 3600_000;
          const after = await source.getToken();
          assert.notEqual(after, renewed[0]);
          assert.equal(count() - before, 3);
        },
      );

      it(`${cloud}, ${kind}: concurrent 401s (a key rolled over at Entra) make one refresh`, async () => {
        sim.configure({ graphCloud: graphHost });
        const config = { ...loadConfig({ ...credentialEnv(kind, cloud), GRAPH_BASE_URL: sim.url }) };
        const source = tokenSource(kind, cloud);
        const writer = new UserStatusWriter(config, source);
        const ids = Array.from({ length: 10 }, (_, i) => `u-${i}`);
        seedStatuses(sim, ids);
        const before = entra.tokenRequests.length;
        entra.signNextWithRetiredKey(1);
        entra.configure({ delayMs: 200 });
        try {
          const record = (id: string) => ({
            configurationId: 'cfg-e',
            userStatusId: id,
            configurationType: 'mobileAppConfiguration' as const,
            properties: { status: 'compliant' as const },
          });
          const firstTry = await Promise.allSettled(ids.map((id) => writer.patch(record(id))));
          for (const r of firstTry) {
            assert.equal(r.status, 'rejected');
            assert.ok(r.reason instanceof GraphRequestError && r.reason.status === 401, String(r.reason));
          }
          // What each job does after its 401 (jobs/next-step.ts): send again once, asking for a fresh token.
          const retried = await Promise.all(ids.map((id) => writer.patch(record(id), { forceTokenRefresh: true })));
          assert.deepEqual(
            retried.map((r) => r.status),
            ids.map(() => 200),
          );
          assert.equal(entra.tokenRequests.length - before, 2, 'the rejected token, then one refresh for 10 concurrent 401s');
        } finally {
          entra.configure({ delayMs: 0 });
        }
      });
    }
  }
});

describe('Entra: a 401 that meets a renewal in flight', () => {
  it('waits for that renewal, whose token then also answers the other 401s of the moment (one token request)', async () => {
    const clock = testClock();
    const source = tokenSource('client secret', 'global', clock.now);
    const first = await source.getToken();
    const before = entra.tokenRequests.length;
    const exp = (JSON.parse(Buffer.from(first.split('.')[1], 'base64url').toString()) as { exp: number }).exp * 1000;
    clock.ms = exp - DEFAULT_RENEWAL.renewBeforeExpiryMs + 2_000;
    entra.configure({ delayMs: 200 });
    try {
      const renewal = source.getToken();
      const after401 = source.getToken(true);
      assert.equal(await after401, await renewal);
      // Concurrent 401s of requests sent with the old token, answered after the renewal came back.
      const later = await Promise.all([source.getToken(true), source.getToken(true)]);
      assert.deepEqual(later, [await renewal, await renewal]);
      assert.equal(entra.tokenRequests.length - before, 1);
    } finally {
      entra.configure({ delayMs: 0 });
    }
  });
});

describe('Entra end to end, real CLI: import and worker against the simulator checking JWTs', () => {
  /**
   * Child processes reach the stand-in through AZURE_AUTHORITY_HOST and trust its CA through NODE_EXTRA_CA_CERTS.
   * The scope still comes from GRAPH_CLOUD, and the simulator checks the audience of that cloud.
   */
  async function importAndWork(
    cloud: GraphCloud,
    kind: Kind,
    rows: number,
    workerArgs: string[] = [],
    extraEnv: Record<string, string> = {},
  ) {
    const { graphHost } = GRAPH_CLOUDS[cloud];
    const t = await startTestEnv('entra', { sim: { jwtKeys: [entra.publicKeyPem], graphCloud: graphHost } });
    const { GRAPH_ACCESS_TOKEN: _unused, ...base } = t.env;
    const env = { ...base, ...credentialEnv(kind, cloud), AZURE_AUTHORITY_HOST: entra.url, NODE_EXTRA_CA_CERTS: entra.caPath, ...extraEnv };
    try {
      const lines = validRows(rows);
      seedGraph(t.sim, lines, { tenantId: TENANT });
      const path = await writeTemp(t, 'export.csv', `${HEADER}\n${lines.join('\n')}\n`);
      const imported = await runCli(['import', path, '--json'], env);
      assert.equal(imported.code, 0, imported.stderr);
      const { runId } = lastJsonLine<{ runId: string }>(imported.stdout);
      const before = entra.tokenRequests.length;
      const startedAt = Date.now();
      const worked = await runCli(['worker', '--until-idle', '--concurrency', '10', ...workerArgs], env, undefined, 90_000);
      const durationMs = Date.now() - startedAt;
      assert.equal(worked.code, 0, worked.stderr);
      const status = await waitForRun(t.redis, t.prefix, runId);
      const log = t.sim.requestLog().filter((e) => e.method === 'PATCH');
      return { status, log, tokenRequests: entra.tokenRequests.slice(before), durationMs };
    } finally {
      await t.close();
    }
  }

  for (const cloud of CLOUDS) {
    for (const kind of KINDS) {
      it(
        `${cloud}, ${kind}: a worker makes one token request, ` +
          `for ${GRAPH_CLOUDS[cloud].graphHost}/.default, and every row is written with it`,
        async () => {
          const { status, log, tokenRequests } = await importAndWork(cloud, kind, 30);
          assert.equal(status.state, 'completed', JSON.stringify(status));
          assert.equal(status.succeeded, 30, JSON.stringify(status));
          assert.equal(tokenRequests.length, 1, 'one token request per process per token lifetime');
          assert.equal(tokenRequests[0].path, `/${TENANT}/oauth2/v2.0/token`);
          assert.equal(tokenRequests[0].authority, entra.url, 'AZURE_AUTHORITY_HOST');
          assert.ok(tokenRequests[0].scope.split(' ').includes(`${GRAPH_CLOUDS[cloud].graphHost}/.default`), tokenRequests[0].scope);
          assert.equal(log.length, 30);
          assert.ok(
            log.every((e) => e.status === 200 && e.tenantId === TENANT),
            'every PATCH authorized by the JWT, for its tenant',
          );
        },
      );
    }
  }

  for (const kind of KINDS) {
    it(`${kind}: concurrent 401s in a worker (the first token signed by a retired key) make one refresh`, async () => {
      entra.signNextWithRetiredKey(1);
      entra.configure({ delayMs: 200 });
      let result;
      try {
        result = await importAndWork('usgov', kind, 30);
      } finally {
        entra.configure({ delayMs: 0 });
        entra.signNextWithRetiredKey(0);
      }
      const { status, log, tokenRequests } = result;
      const refused = log.filter((e) => e.status === 401).length;
      assert.ok(refused > 1, `several requests were refused at once (${refused})`);
      assert.equal(tokenRequests.length, 2, `the retired token, then one refresh for ${refused} 401s`);
      assert.equal(status.succeeded, 30, JSON.stringify(status));
      assert.equal(status.failed, 0);
    });

    it(`${kind}: short-lived tokens are renewed before they expire: no request is sent with an expired token`, async () => {
      entra.configure({ lifetimeSeconds: 4 });
      let result;
      try {
        // 5 writes a second for 40 rows: about 8 s, two token lifetimes.
        result = await importAndWork('china', kind, 40, [], { SYNC_RATE_LIMIT: '5/s' });
      } finally {
        entra.configure({ lifetimeSeconds: 3600 });
      }
      const { status, log, tokenRequests, durationMs } = result;
      assert.equal(status.succeeded, 40, JSON.stringify(status));
      assert.equal(log.filter((e) => e.status === 401).length, 0, 'the simulator never saw an expired token');
      assert.ok(tokenRequests.length >= 3, `renewed as the run went on (${tokenRequests.length} token requests in ${durationMs} ms)`);
      // Renewed at half of a 4 s lifetime: at most one request per 2 s, and one to start.
      assert.ok(tokenRequests.length <= Math.ceil(durationMs / 2_000) + 1, `${tokenRequests.length} token requests in ${durationMs} ms`);
    });
  }
});
