/**
 * Many tenants, one fleet (issue 12): each tenant of SYNC_TENANTS_FILE has its own queue, budget, breaker, token and
 * change-detection keys, against a simulator that gives each tenant its own buckets and objects.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loadConfig, tenantDirectory, type SyncConfig } from '../../src/config.js';
import { importRun, type ImportSummary } from '../../src/producer/import-run.js';
import { createPatchQueue, PatchQueues } from '../../src/queue/queues.js';
import { keyDigest, redisKeys, tenantRecordKey } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import type { TokenGrant } from '../../src/simulator/index.js';
import { readCsv } from '../../src/sources/csv.js';
import { eventRecord, postEvents, startTestServer } from '../support/server-helpers.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';

const A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const C = 'cccccccc-0000-4000-8000-00000000000c';
const WRITE = ['DeviceManagementConfiguration.ReadWrite.All'];
const grant = (tenantId: string, permissions = WRITE): TokenGrant => ({ tenantId, appId: 'sync-app', permissions });
const SIM_TOKENS: Record<string, TokenGrant> = {
  'sim-token': grant('sim-tenant'),
  'tok-a': grant(A),
  'tok-b': grant(B),
  // C's app was never given a write permission.
  'tok-c': grant(C, ['DeviceManagementApps.Read.All']),
};

/**
 * Test env with a tenants file for A, B and C (each at `rate`, each at the simulator: GRAPH_BASE_URL is the default
 * tenant's only), tokens from the environment as in production.
 */
async function tenantsEnv(name: string, rate: string): Promise<TestEnv & { config: SyncConfig }> {
  const t = await startTestEnv(name, { sim: { tokens: SIM_TOKENS } });
  const file = await writeTemp(
    t,
    'tenants.json',
    JSON.stringify({
      tenants: {
        [A]: { accessToken: '${TOKEN_A}', rateLimit: rate, graphBaseUrl: t.sim.url },
        [B]: { accessToken: '${TOKEN_B}', rateLimit: rate, graphBaseUrl: t.sim.url },
        [C]: { accessToken: '${TOKEN_C}', rateLimit: rate, graphBaseUrl: t.sim.url },
      },
    }),
  );
  Object.assign(t.env, { SYNC_TENANTS_FILE: file, TOKEN_A: 'tok-a', TOKEN_B: 'tok-b', TOKEN_C: 'tok-c' });
  t.config = loadConfig({ ...t.env });
  return t;
}

/** Rows built by validRows (CSV line n + 2 is row n), each naming `tenant` ('' = no tenantId cell). */
function tenantCsv(count: number, tenant: string, options: { offset?: number; day?: number } = {}): string {
  return [`${HEADER},tenantId`, ...validRows(count, options).map((r) => `${r},${tenant}`)].join('\n') + '\n';
}

/**
 * Seeds, in each row's tenant (its last column; empty: the default tenant), the user statuses a tenantCsv names that
 * the tenant does not hold yet (one already written keeps its values).
 */
function seedCsv(t: TestEnv, csv: string): void {
  const held = new Set(Object.keys(t.sim.state()));
  for (const line of csv.trim().split('\n').slice(1)) {
    const tenant = line.slice(line.lastIndexOf(',') + 1);
    const [configId, userStatusId, type] = line.split(',');
    const key =
      `${type === 'iosLobAppProvisioningConfiguration' ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations'}` +
      `/${configId}/${userStatusId}`;
    if (held.has(tenant === '' ? key : `${tenant}|${key}`)) continue;
    seedGraph(t.sim, [line], { tenantId: tenant === '' ? undefined : tenant });
  }
}

/** Seeds what the CSV names (Graph's PATCH never creates), then queues it. */
async function queueCsv(t: TestEnv, csv: string, runId = `tn-${randomBytes(4).toString('hex')}`): Promise<ImportSummary> {
  seedCsv(t, csv);
  const queues = new PatchQueues(t.redis, t.prefix);
  try {
    return await importRun(new ResultStore(t.redis, t.prefix), queues, {
      runId,
      rows: readCsv(Readable.from([csv])),
      sourceLabel: 'tenants test',
      tenants: tenantDirectory(t.config),
    });
  } finally {
    await queues.close();
  }
}

const patchesOf = (t: TestEnv, tenant: string) => t.sim.requestLog().filter((e) => e.method === 'PATCH' && e.tenantId === tenant);

describe('many tenants, one fleet', { timeout: 120_000 }, () => {
  it(
    'fairness: 20 rows of tenant B queued behind 2,000 of tenant A finish within B’s ' +
      'ideal time plus one budget interval, and A keeps its rate',
    async () => {
      // Both at 50/s (Intune's 5/s times ten, for test time); the budget interval is its 1 s window. A's backlog would
      // take 40 s: B waiting behind any of it would miss its bound by far.
      const RATE = 50;
      const t = await tenantsEnv('tn-fair', `${RATE}/s`);
      // Per tenant: enough jobs in flight for B's 20 rows to wait on their slots at once.
      const worker = await startInProcessWorker(t, { concurrency: 20 });
      try {
        const runA = await queueCsv(t, tenantCsv(2000, A));
        assert.equal(runA.enqueued, 2000);
        // A is under way (its backlog is what B must not wait behind).
        const deadline = Date.now() + 20_000;
        while (patchesOf(t, A).length < RATE && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        const runB = await queueCsv(t, tenantCsv(20, B));
        // From the moment B's rows are queued (its import has returned: validating and admitting them is the producer's time).
        const importedAt = Date.now();
        assert.equal(runB.enqueued, 20);
        const statusB = await waitForRun(t.redis, t.prefix, runB.runId, 30_000);
        assert.equal(statusB.state, 'completed', JSON.stringify(statusB));
        assert.equal(statusB.succeeded, 20);
        const tookMs = Math.max(...patchesOf(t, B).map((e) => e.at)) - importedAt;
        const idealMs = (20 / RATE) * 1000;
        // A's rate over the 3 s from B's queueing: B's rows took nothing from A's budget.
        while (Date.now() < importedAt + 3000) await new Promise((r) => setTimeout(r, 50));
        const aRate = patchesOf(t, A).filter((e) => e.at >= importedAt && e.at < importedAt + 3000).length / 3;
        console.error(
          `fairness: B's 20 rows done ${tookMs} ms after queueing (ideal ${idealMs} ms + ` +
            `1,000 ms); A ${aRate.toFixed(1)}/s meanwhile (budget ${RATE}/s)`,
        );
        assert.ok(tookMs <= idealMs + 1000, `B's 20 rows took ${tookMs} ms; ideal ${idealMs} ms plus one 1,000 ms interval`);
        assert.ok(
          aRate >= 0.85 * RATE && aRate <= 1.1 * RATE,
          `A sent ${aRate.toFixed(1)}/s in the 3 s after B queued; its budget is ${RATE}/s`,
        );
        const aLeft = (await new ResultStore(t.redis, t.prefix).status(runA.runId))!.pending;
        assert.ok(aLeft > 1000, `A still has its backlog (${aLeft} rows) while B is done`);
      } finally {
        await worker.close();
        await t.close();
      }
    },
  );

  describe('isolation and the CLI', () => {
    let t: TestEnv;
    before(async () => {
      t = await tenantsEnv('tn-iso', '100/s');
    });
    after(async () => t.close());

    it(
      'isolation: tenant C’s token lacks permission; C’s run is blocked within a ' +
        'bounded number of requests while A’s and B’s rows all succeed, and resume lets C ' +
        'go',
      async () => {
        const CONCURRENCY = 4;
        const worker = await startInProcessWorker(t, { concurrency: CONCURRENCY });
        try {
          const [runA, runB, runC] = await Promise.all([
            queueCsv(t, tenantCsv(60, A)),
            queueCsv(t, tenantCsv(60, B)),
            queueCsv(t, tenantCsv(60, C)),
          ]);
          const [statusA, statusB] = await Promise.all([
            waitForRun(t.redis, t.prefix, runA.runId),
            waitForRun(t.redis, t.prefix, runB.runId),
          ]);
          assert.equal(statusA.state, 'completed', JSON.stringify(statusA));
          assert.equal(statusA.succeeded, 60);
          assert.equal(statusB.state, 'completed', JSON.stringify(statusB));
          assert.equal(statusB.succeeded, 60);
          const statusC = await waitForRun(t.redis, t.prefix, runC.runId, 30_000, (s) => s.state === 'blocked');
          assert.match(statusC.blockedReason ?? '', /403/);
          // The breaker trips at the 3rd 403 in a row; requests already holding a slot may still go out.
          await new Promise((r) => setTimeout(r, 500));
          const cRequests = patchesOf(t, C).length;
          assert.ok(
            cRequests >= 3 && cRequests <= 3 + CONCURRENCY,
            `C sent ${cRequests} PATCHes before stopping (bound ${3 + CONCURRENCY})`,
          );
          assert.ok(await t.redis.exists(redisKeys(t.prefix).breakerOf(C)));
          assert.equal(await t.redis.exists(redisKeys(t.prefix).breaker), 0, 'the default tenant’s breaker is untouched');
          assert.equal(await t.redis.hget(redisKeys(t.prefix).budgetOf(A), 'blocked'), null, 'A’s budget is not blocked');

          // status shows the blocked tenant and why, and counts by tenant.
          const status = await runCli(['status', runC.runId, '--json'], t.env);
          assert.equal(status.code, 0, status.stderr);
          const json = lastJsonLine<{
            state: string;
            blockedTenants: Array<{ tenant: string; reason: string }>;
            byTenant: Record<string, Record<string, number>>;
          }>(status.stdout);
          assert.equal(json.state, 'blocked');
          assert.deepEqual(
            json.blockedTenants.map((b) => b.tenant),
            [C],
          );
          assert.match(json.blockedTenants[0].reason, /403/);
          assert.equal(Object.keys(json.byTenant).join(), C);
          assert.equal(
            Object.values(json.byTenant[C]).reduce((a, b) => a + b, 0),
            60,
          );
          // Named as the run's own counters: a tenant's waiting rows are `pending`, as in the run's counts.
          for (const name of Object.keys(json.byTenant[C]))
            assert.ok(['rejected', 'pending', 'succeeded', 'failed', 'unchanged', 'superseded'].includes(name), `byTenant counter ${name}`);
          const text = await runCli(['status', runC.runId], t.env);
          assert.match(text.stdout, new RegExp(`tenant ${C} blocked: .*403`));

          // Permission granted: resume lets C's rows go, C's own queue only.
          t.sim.configure({ tokens: { ...SIM_TOKENS, 'tok-c': grant(C) } });
          const resumed = await runCli(['resume', runC.runId, '--json'], t.env);
          assert.equal(resumed.code, 0, resumed.stderr);
          const done = await waitForRun(t.redis, t.prefix, runC.runId, 30_000, (s) => s.state !== 'blocked' && s.state !== 'running');
          assert.equal(done.succeeded, 60, JSON.stringify(done));
          assert.equal(await t.redis.hget(redisKeys(t.prefix).breakerOf(C), 'trippedAt'), null, 'C’s breaker is reset');
        } finally {
          await worker.close();
        }
      },
    );

    it('a row naming a tenant not in the tenants file is rejected with its line and reason', async () => {
      const csv = `${HEADER},tenantId\n${validRows(2, { day: 25 })
        .map((r, i) => `${r},${i === 1 ? '99999999-0000-4000-8000-000000000009' : A}`)
        .join('\n')}\n`;
      const summary = await queueCsv(t, csv);
      assert.equal(summary.rejected, 1);
      assert.equal(summary.enqueued, 1);
      const row = await new ResultStore(t.redis, t.prefix).getRow(summary.runId, 3);
      assert.equal(row?.state, 'rejected');
      assert.match(row?.reason ?? '', /column tenantId: "99999999-0000-4000-8000-000000000009" is not a tenant of SYNC_TENANTS_FILE/);
      // Through the CLI too: the report names the line.
      const file = await writeTemp(t, 'unknown-tenant.csv', csv);
      const imported = await runCli(['import', file, '--run-id', `cli-${summary.runId}`, '--json'], t.env);
      assert.notEqual(imported.code, 2, imported.stderr);
      const report = await runCli(['report', `cli-${summary.runId}`], t.env);
      assert.match(report.stdout + report.stderr, /3.*not a tenant of SYNC_TENANTS_FILE/);
    });

    it('an event names its tenant with the tenantId field: it goes to that tenant’s queue; an unknown tenant is rejected', async () => {
      const server = await startTestServer(t);
      try {
        seedCsv(t, `${HEADER},tenantId\n${validRows(1, { offset: 700 })[0]},${B}\n`);
        const posted = await postEvents(server.url, [
          { ...eventRecord(700, { day: 27 }), tenantId: B },
          { ...eventRecord(701, { day: 27 }), tenantId: '99999999-0000-4000-8000-000000000009' },
        ]);
        assert.equal(posted.status, 207, JSON.stringify(posted.json));
        assert.equal(posted.json.accepted, 1);
        assert.deepEqual(
          posted.json.errors.map((e: { index: number; errors: { column: string }[] }) => [e.index, e.errors[0].column]),
          [[1, 'tenantId']],
        );
        const queue = createPatchQueue(t.redis, t.prefix, {}, B);
        try {
          const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
          assert.ok(
            jobs.some(
              (j) => j.data.record.userStatusId === 'user-700' && j.data.key === `${B}/iosLobAppProvisioningConfiguration/cfg-0/user-700`,
            ),
            'B’s event is in B’s queue',
          );
        } finally {
          await queue.close();
        }
      } finally {
        await server.close();
      }
    });

    it('an invalid tenants file stops every command with exit 2, naming the tenant and the field, never the secret', async () => {
      const bad = await writeTemp(
        t,
        'bad-tenants.json',
        JSON.stringify({ tenants: { [A]: { clientId: 'app', clientSecret: 'hunter2-secret', rateLimit: 'lots' } } }),
      );
      for (const args of [
        ['status', 'any-run'],
        ['import', '-'],
        ['worker', '--until-idle'],
        ['resume', 'any-run'],
      ]) {
        const result = await runCli(args, { ...t.env, SYNC_TENANTS_FILE: bad }, '');
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`tenant "${A}" field "rateLimit"`));
        assert.ok(!result.stderr.includes('hunter2-secret'), result.stderr);
      }
    });
  });

  it('the same ids in two tenants never collide: separate objects in Graph, separate change detection', async () => {
    const t = await tenantsEnv('tn-ids', '1000/s');
    const worker = await startInProcessWorker(t, { concurrency: 8 });
    try {
      // The same 30 ids for the default tenant, A and B, in one run.
      const csv = [`${HEADER},tenantId`, ...['', A, B].flatMap((tenant) => validRows(30).map((r) => `${r},${tenant}`))].join('\n') + '\n';
      const first = await queueCsv(t, csv);
      assert.equal(first.enqueued, 90, 'no row superseded another tenant’s row with the same ids');
      assert.equal(first.superseded, 0);
      const status = await waitForRun(t.redis, t.prefix, first.runId);
      assert.equal(status.succeeded, 90, JSON.stringify(status));
      const state = t.sim.state();
      assert.equal(Object.keys(state).length, 90, 'three objects per id: one per tenant');
      assert.ok(
        state['mobileAppConfigurations/cfg-1/user-1'] &&
          state[`${A}|mobileAppConfigurations/cfg-1/user-1`] &&
          state[`${B}|mobileAppConfigurations/cfg-1/user-1`],
      );
      const latest = await t.redis.hkeys(redisKeys(t.prefix).latest);
      const entries = ['', A, B].map((tenant) => keyDigest(tenantRecordKey(tenant, 'mobileAppConfiguration/cfg-1/user-1')));
      assert.equal(latest.length, 90, 'one entry per tenant and id');
      assert.equal(new Set(entries).size, 3);
      for (const entry of entries) assert.ok(latest.includes(entry), `an entry per tenant: ${entry}`);

      // The same rows again: unchanged for every tenant. B's with new values: only B's are sent.
      const again = await queueCsv(t, csv);
      assert.equal(again.unchanged, 90);
      const bChanged =
        [`${HEADER},tenantId`, ...validRows(30, { day: 21 }).map((r) => `${r},${B}`), ...validRows(30).map((r) => `${r},${A}`)].join('\n') +
        '\n';
      const third = await queueCsv(t, bChanged);
      assert.equal(third.enqueued, 30);
      assert.equal(third.unchanged, 30);
      await waitForRun(t.redis, t.prefix, third.runId);
      assert.equal(t.sim.state()[`${B}|mobileAppConfigurations/cfg-1/user-1`].lastReportedDateTime, '2026-11-21T10:00:01.0000000Z');
      assert.equal(t.sim.state()[`${A}|mobileAppConfigurations/cfg-1/user-1`].lastReportedDateTime, '2026-11-20T10:00:01.0000000Z');
      // Locks are per tenant too: a lock key of B's object is not A's.
      assert.notEqual(
        redisKeys(t.prefix).lock(`${A}/mobileAppConfiguration/cfg-1/user-1`),
        redisKeys(t.prefix).lock(`${B}/mobileAppConfiguration/cfg-1/user-1`),
      );
    } finally {
      await worker.close();
      await t.close();
    }
  });
});
