/**
 * Reads per tenant (issue 12): import --reconcile and verify read each tenant's rows from that tenant's Graph (its
 * token, its read budget, its snapshot keys), so the same ids in two tenants never lend one another a verdict.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisKeys } from '../../src/redis-layout.js';
import type { DriftChange, TokenGrant } from '../../src/simulator/index.js';
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
import type { PatchWorker } from '../../jobs/patch-worker.js';
import type { RunAlerts } from '../../jobs/alerts.js';
import { RunVerifier } from '../../jobs/verify-after-run.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { VerifyCounts } from '../../src/results/drift.js';

const A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const WRITE = ['DeviceManagementConfiguration.ReadWrite.All'];
const grant = (tenantId: string): TokenGrant => ({ tenantId, appId: 'sync-app', permissions: WRITE });
const SIM_TOKENS: Record<string, TokenGrant> = { 'sim-token': grant('sim-tenant'), 'tok-a': grant(A), 'tok-b': grant(B) };
// Two read budgets that differ, to see each tenant's own in its own key.
const READ_RATE = { [A]: 40, [B]: 50 };

type ImportSummary = { runId: string; rows: number; enqueued: number; unchanged: number };
type VerifySummary = { runId: string; checked: number; matching: number; drifted: number; missing: number; overridden: number };

/** A validRows line as the simulator holds it, in `tenantId`'s Graph (undefined: the default tenant's). */
function heldBy(line: string, tenantId: string | undefined, override: Record<string, unknown> = {}): DriftChange {
  const [configId, userStatusId, type, userDisplayName, devicesCount, status, lastReportedDateTime, userPrincipalName] = line.split(',');
  const collection = type === 'iosLobAppProvisioningConfiguration' ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations';
  return {
    ...(tenantId ? { tenantId } : {}),
    collection,
    configId,
    userStatusId,
    values: { userDisplayName, devicesCount: Number(devicesCount), status, lastReportedDateTime, userPrincipalName, ...override },
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

describe('reads per tenant: import --reconcile and verify', { timeout: 120_000 }, () => {
  let t: TestEnv;
  let worker: PatchWorker;
  const rows = validRows(20);
  let runId: string;

  before(async () => {
    t = await startTestEnv('tn-reads', { sim: { tokens: SIM_TOKENS } });
    const file = await writeTemp(
      t,
      'tenants.json',
      JSON.stringify({
        tenants: {
          [A]: { accessToken: '${TOKEN_A}', readRateLimit: `${READ_RATE[A]}/s`, graphBaseUrl: t.sim.url },
          [B]: { accessToken: '${TOKEN_B}', readRateLimit: `${READ_RATE[B]}/s`, graphBaseUrl: t.sim.url },
        },
      }),
    );
    Object.assign(t.env, { SYNC_TENANTS_FILE: file, TOKEN_A: 'tok-a', TOKEN_B: 'tok-b' });
    worker = await startInProcessWorker(t, { concurrency: 8 });
  });
  after(async () => {
    await worker.close();
    await t.close();
  });

  it('reconcile skips the rows each tenant’s own Graph holds, and sends those only another tenant holds under the same ids', async () => {
    // The same 20 ids in three tenants' Graphs, each holding all 20 (PATCH updates, never creates): B holds 0-9 as the
    // rows set them, A holds 10-19, the default tenant 0-4; each holds its other objects with other values.
    seedGraph(
      t.sim,
      range(10, 20).map((i) => rows[i]),
      { tenantId: B },
    );
    seedGraph(
      t.sim,
      range(0, 10).map((i) => rows[i]),
      { tenantId: A },
    );
    seedGraph(
      t.sim,
      range(5, 20).map((i) => rows[i]),
    );
    t.sim.drift([
      ...range(0, 10).map((i) => heldBy(rows[i], B)),
      ...range(10, 20).map((i) => heldBy(rows[i], A)),
      ...range(0, 5).map((i) => heldBy(rows[i], undefined)),
    ]);
    const csv = [`${HEADER},tenantId`, ...['', A, B].flatMap((tenant) => rows.map((r) => `${r},${tenant}`))].join('\n') + '\n';
    const path = await writeTemp(t, 'three-tenants.csv', csv);
    const imported = await runCli(['import', path, '--reconcile', '--json'], t.env);
    assert.equal(imported.code, 0, imported.stderr);
    const run = lastJsonLine<ImportSummary>(imported.stdout);
    runId = run.runId;
    assert.deepEqual([run.rows, run.unchanged, run.enqueued], [60, 25, 35], 'B 0-9, A 10-19 and the default 0-4 held; the other 35 sent');

    // Each tenant's Graph was read with its own token: every configuration of the run once per tenant.
    const configurations = new Set(rows.map((r) => r.split(',')).map(([configId, , type]) => `${type}/${configId}`)).size;
    // Listing pages (the GETs of single statuses that confirm the listing's null UPNs are counted apart).
    const reads = t.sim.requestLog().filter((e) => e.method === 'GET' && e.path.split('/').length === 6);
    const readsBy = (tenant: string) => reads.filter((e) => e.tenantId === tenant).length;
    assert.deepEqual(
      [readsBy('sim-tenant'), readsBy(A), readsBy(B)],
      [configurations, configurations, configurations],
      JSON.stringify(reads.map((e) => [e.tenantId, e.path])),
    );
    const gets = t.sim.requestLog().filter((e) => e.method === 'GET' && e.path.split('/').length === 7);
    assert.deepEqual(
      [A, B, 'sim-tenant'].map((tenant) => gets.filter((e) => e.tenantId === tenant).length),
      [20, 20, 20],
      'each listed null UPN confirmed in its own tenant’s Graph',
    );
    // Each through its own read budget, at its own rate (intervalUs is the budget's spacing), into its own snapshots.
    const keys = redisKeys(t.prefix);
    assert.equal(Number(await t.redis.hget(keys.readBudgetOf(A), 'intervalUs')), 1e6 / READ_RATE[A]);
    assert.equal(Number(await t.redis.hget(keys.readBudgetOf(B), 'intervalUs')), 1e6 / READ_RATE[B]);
    assert.ok(await t.redis.exists(keys.readBudgetOf('')), 'the default tenant reads through P:budget:read, as before tenants');
    const configKey = 'mobileAppConfiguration/cfg-1';
    assert.equal(
      (JSON.parse((await t.redis.hget(keys.snapshotOf(B, configKey), 'user-1'))!) as { userDisplayName: string }).userDisplayName,
      'User 1',
      'B’s snapshot holds B’s object',
    );
    // A's Graph held other values: A's row is queued to be written, which A's snapshot marks pending ("?"), not B's values.
    assert.equal(await t.redis.hget(keys.snapshotOf(A, configKey), 'user-1'), '?');
    assert.equal(keys.snapshotOf('', configKey), keys.snapshot(configKey), 'the default tenant keeps its snapshot keys');

    const status = await waitForRun(t.redis, t.prefix, run.runId);
    assert.deepEqual([status.state, status.succeeded, status.unchanged], ['completed', 35, 25], JSON.stringify(status));
    const patched = (tenant: string) =>
      new Set(
        t.sim
          .requestLog()
          .filter((e) => e.method === 'PATCH' && e.tenantId === tenant)
          .map((e) => Number(/user-(\d+)$/.exec(e.path)![1])),
      );
    assert.deepEqual(
      patched(B),
      new Set(range(10, 20)),
      'B: only what B’s Graph held otherwise (A holds 10-19 as the rows set them, B does not)',
    );
    assert.deepEqual(
      patched(A),
      new Set(range(0, 10)),
      'A: only what A’s Graph held otherwise (B holds 0-9 as the rows set them, A does not)',
    );
    assert.deepEqual(patched('sim-tenant'), new Set(range(5, 20)));
  });

  it('verify reads each tenant’s Graph back and finds drift in tenant B’s object, not in A’s with the same ids', async () => {
    const clean = await runCli(['verify', runId, '--json'], t.env);
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(lastJsonLine<VerifySummary>(clean.stdout), {
      runId,
      checked: 60,
      matching: 60,
      drifted: 0,
      missing: 0,
      overridden: 0,
    });
    assert.doesNotMatch(clean.stderr, /not checked/, 'no tenant’s rows are unverifiable');

    t.sim.drift([heldBy(rows[3], B, { status: 'conflict' })]);
    const verify = await runCli(['verify', runId, '--json'], t.env);
    assert.equal(verify.code, 5, verify.stderr);
    assert.deepEqual(lastJsonLine<VerifySummary>(verify.stdout), {
      runId,
      checked: 60,
      matching: 59,
      drifted: 1,
      missing: 0,
      overridden: 0,
    });
    const report = await runCli(['report', runId, '--state', 'drifted', '--format', 'ndjson'], t.env);
    const drifted = report.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string });
    assert.deepEqual(
      drifted.map((d) => d.key),
      [`${B}/${rows[3].split(',')[2]}/${rows[3].split(',')[0]}/user-3`],
      'B’s object drifted, not A’s with the same ids',
    );
  });

  it(
    'schedule --verify: the run verified when it completes reads each tenant’s Graph, ' + 'and alerts drift in A’s object and B’s',
    async () => {
      // Row 12 of A was held by A's Graph at import (unchanged); now A's object changes too.
      t.sim.drift([heldBy(rows[12], A, { status: 'notAssigned' })]);
      await t.redis.hset(redisKeys(t.prefix).run(runId), 'verifyWhenDone', '1');
      const alerted: VerifyCounts[] = [];
      const alerts = { alertDrift: async (_runId: string, counts: VerifyCounts) => alerted.push(counts) > 0 } as unknown as RunAlerts;
      await new RunVerifier(loadConfig({ ...t.env }), t.redis, createLogger('silent'), alerts).verifyIfAsked(runId);
      assert.deepEqual(alerted, [{ checked: 60, matching: 58, drifted: 2, missing: 0 }]);
      const report = await runCli(['report', runId, '--state', 'drifted', '--format', 'ndjson'], t.env);
      const keys = report.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { key: string }).key);
      const keyOf = (tenant: string, line: string) => `${tenant}/${line.split(',')[2]}/${line.split(',')[0]}/${line.split(',')[1]}`;
      assert.deepEqual(keys.sort(), [keyOf(A, rows[12]), keyOf(B, rows[3])].sort());
    },
  );
});
