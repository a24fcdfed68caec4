/**
 * Per-tenant metric series (issue 21), bounded in cardinality: with SYNC_METRICS_TENANTS=2 and a tenants file of A, B
 * and C, the server's and a real worker process's series name A and B by GUID, the default tenant `default`, and sum
 * C under `other`; C's GUID never appears in a label.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config.js';
import type { RunStatus } from '../../src/interfaces.js';
import type { TokenGrant } from '../../src/simulator/index.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  spawnWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import { parsePrometheusText, sampleValue, type MetricFamily } from '../support/prometheus-text.js';
import { freePort, startTestServer } from '../support/server-helpers.js';

const A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const C = 'cccccccc-0000-4000-8000-00000000000c';
const WRITE = ['DeviceManagementConfiguration.ReadWrite.All'];
const grant = (tenantId: string, permissions = WRITE): TokenGrant => ({ tenantId, appId: 'sync-app', permissions });

const envs: TestEnv[] = [];
after(async () => {
  await Promise.all(envs.map((t) => t.close()));
});

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return parsePrometheusText(await res.text());
}

const tenantsOf = (metrics: Map<string, MetricFamily>, name: string) => new Set(metrics.get(name)?.samples.map((s) => s.labels.tenant));

describe('per-tenant metrics', () => {
  it('name the first SYNC_METRICS_TENANTS tenants of the file, `default`, and sum the rest under `other`', async () => {
    // C's app was never given a write permission: its rows get 403s and its breaker trips (as in tenants.test.ts).
    const tokens = {
      'sim-token': grant('sim-tenant'),
      'tok-a': grant(A),
      'tok-b': grant(B),
      'tok-c': grant(C, ['DeviceManagementApps.Read.All']),
    };
    const t = await startTestEnv('metrics-tenants', { sim: { tokens } });
    envs.push(t);
    const tenant = (token: string) => ({ accessToken: token, rateLimit: '100/s', graphBaseUrl: t.sim.url });
    const tenants = { [A]: tenant('tok-a'), [B]: tenant('tok-b'), [C]: tenant('tok-c') };
    const file = await writeTemp(t, 'tenants.json', JSON.stringify({ tenants }));
    Object.assign(t.env, { SYNC_TENANTS_FILE: file, SYNC_METRICS_TENANTS: '2' });
    t.config = loadConfig({ ...t.env });
    const server = await startTestServer(t);
    const port = await freePort();
    let child: ReturnType<typeof spawnWorker> | undefined;
    let exited: Promise<unknown[]> | undefined;
    try {
      // One run per tenant, queued before any worker runs: 3 rows of the default tenant, 4 of A, 5 of B, 6 of C.
      const counts: Array<[string, number]> = [
        ['', 3],
        [A, 4],
        [B, 5],
        [C, 6],
      ];
      const runIds = new Map<string, string>();
      let offset = 0;
      for (const [tenantId, count] of counts) {
        const rows = validRows(count, { offset });
        offset += count;
        seedGraph(t.sim, rows, { tenantId: tenantId === '' ? undefined : tenantId });
        const text = [`${HEADER},tenantId`, ...rows.map((r) => `${r},${tenantId}`), ''].join('\n');
        const csv = await writeTemp(t, `in-${tenantId || 'default'}.csv`, text);
        const imported = await runCli(['import', csv, '--json', '--no-progress'], t.env);
        assert.equal(imported.code, 0, imported.stderr);
        runIds.set(tenantId, lastJsonLine<{ runId: string }>(imported.stdout).runId);
      }

      const queued = await scrape(`${server.url}/metrics`);
      assert.deepEqual(tenantsOf(queued, 'compliance_sync_tenant_queue_jobs'), new Set(['default', A, B, 'other']));
      const waiting = (label: string) => sampleValue(queued, 'compliance_sync_tenant_queue_jobs', { tenant: label, state: 'waiting' });
      assert.deepEqual([waiting('default'), waiting(A), waiting(B), waiting('other')], [3, 4, 5, 6]);
      // The fleet's queue depth is every tenant's, not only the default tenant's queue.
      assert.equal(sampleValue(queued, 'compliance_sync_queue_jobs', { state: 'waiting' }), 18);
      assert.equal(sampleValue(queued, 'compliance_sync_rows_queued'), 18);
      const tripped = (metrics: Map<string, MetricFamily>, label: string) =>
        sampleValue(metrics, 'compliance_sync_tenant_breaker_tripped', { tenant: label });
      for (const label of ['default', A, B, 'other']) assert.equal(tripped(queued, label), 0, label);

      child = spawnWorker(t.env, ['--metrics-port', String(port), '--concurrency', '2']);
      exited = once(child, 'exit');
      const done = await Promise.all([A, B, ''].map((id) => waitForRun(t.redis, t.prefix, runIds.get(id)!, 45_000)));
      for (const status of done) assert.equal(status.state, 'completed', JSON.stringify(status));
      const blocked = await waitForRun(t.redis, t.prefix, runIds.get(C)!, 45_000, (s) => s.state === 'blocked');
      assert.match(blocked.blockedReason ?? '', /403/);

      // The worker's hook runs right after each outcome is recorded: wait until it has counted what `status` says.
      const workerUrl = `http://127.0.0.1:${port}/metrics`;
      let worker = await scrape(workerUrl);
      let statusC: RunStatus | undefined;
      const finished = (label: string, state: string) =>
        sampleValue(worker, 'compliance_sync_worker_rows_finished_total', { tenant: label, state });
      for (let i = 0; i < 100; i++) {
        statusC = (await waitForRun(t.redis, t.prefix, runIds.get(C)!, 1000, () => true))!;
        const succeeded = [finished('default', 'succeeded'), finished(A, 'succeeded'), finished(B, 'succeeded')];
        if (succeeded.join() === '3,4,5' && finished('other', 'failed') === statusC.failed) break;
        await sleep(100);
        worker = await scrape(workerUrl);
      }
      assert.equal(finished('default', 'succeeded'), 3);
      assert.equal(finished(A, 'succeeded'), 4);
      assert.equal(finished(B, 'succeeded'), 5);
      assert.ok(statusC!.failed > 0, 'the 403s that tripped the breaker failed their rows');
      assert.equal(finished('other', 'failed'), statusC!.failed, "C's failures count under other");
      for (const name of ['rows_finished_total', 'throttled_total', 'throttled_seconds_total'].map((n) => `compliance_sync_worker_${n}`)) {
        assert.deepEqual(tenantsOf(worker, name), new Set(['default', A, B, 'other']), name);
      }

      const held = await scrape(`${server.url}/metrics`);
      assert.equal(tripped(held, 'other'), 1, "C's breaker, under other");
      for (const label of ['default', A, B]) assert.equal(tripped(held, label), 0, label);
      // Nowhere does C's GUID become a label value.
      const everyLabel = [...held.values(), ...worker.values()].flatMap((f) => f.samples.flatMap((s) => Object.values(s.labels)));
      assert.ok(!everyLabel.includes(C));
    } finally {
      child?.kill('SIGTERM');
      await exited;
      await server.close();
    }
  });
});
