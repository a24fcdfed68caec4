import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import type { RawRow } from '../../src/interfaces.js';
import { createLogger } from '../../src/logger.js';
import { importRun } from '../../src/producer/import-run.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { ResultStore } from '../../src/results/store.js';
import type { SimulatorOptions } from '../../src/simulator/index.js';
import { createRunAlerts, type AlertPayload, type RunAlerts } from '../../jobs/alerts.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  seedRecords,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import { eventRecord, postEvents, startTestServer } from '../support/server-helpers.js';

/** A webhook that records what it accepted; it can refuse the next few deliveries with 503. */
class WebhookReceiver {
  readonly received: AlertPayload[] = [];
  refuseNext = 0;
  refused = 0;
  private app: FastifyInstance = Fastify();
  url = '';

  async start(): Promise<void> {
    this.app.post('/hooks/alerts', async (request, reply) => {
      if (this.refuseNext > 0) {
        this.refuseNext--;
        this.refused++;
        return reply.code(503).send();
      }
      this.received.push(request.body as AlertPayload);
      return reply.code(204).send();
    });
    await this.app.listen({ port: 0, host: '127.0.0.1' });
    this.url = `http://127.0.0.1:${(this.app.server.address() as AddressInfo).port}/hooks/alerts?secret=webhook-secret-in-url`;
  }

  of(runId: string, event?: string): AlertPayload[] {
    return this.received.filter((a) => a.runId === runId && (event === undefined || a.event === event));
  }

  async waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      assert.ok(
        Date.now() < deadline,
        `timed out waiting for ${what}; received ${JSON.stringify(this.received.map((a) => [a.event, a.runId]))}`,
      );
      await sleep(50);
    }
  }

  close(): Promise<void> {
    return this.app.close();
  }
}

const receiver = new WebhookReceiver();
const cleanups: (() => Promise<unknown>)[] = [];
before(() => receiver.start());
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await receiver.close();
});

async function alertEnv(name: string, sim: SimulatorOptions = {}): Promise<TestEnv> {
  const t = await startTestEnv(name, { sim, env: { SYNC_ALERT_WEBHOOK_URL: receiver.url, SYNC_ALERT_FAILED_PERCENT: '20' } });
  cleanups.push(() => t.close());
  return t;
}

/** A worker's own alerts, on its own Redis connection, as `compliance-sync worker` sets them up. */
function workerAlerts(t: TestEnv): RunAlerts {
  const redis = new Redis(t.config.redisUrl, { maxRetriesPerRequest: null });
  cleanups.push(async () => redis.disconnect());
  return createRunAlerts(loadConfig(t.env), redis, createLogger('silent'))!;
}

function rowsOf(records: Record<string, unknown>[]): AsyncGenerator<RawRow> {
  return (async function* () {
    for (const [i, fields] of records.entries()) yield { line: i + 1, fields };
  })();
}

describe('run alerts', () => {
  it('a fleet of two workers sends exactly one completed alert per run, and one failed_threshold for the run that crossed it', async () => {
    const t = await alertEnv('alerts-fleet', { missingConfigurations: ['cfg-missing'] });
    const store = new ResultStore(t.redis, t.prefix);
    const queue = createPatchQueue(t.redis, t.prefix);
    cleanups.push(() => queue.close());
    const alertsA = workerAlerts(t);
    const alertsB = workerAlerts(t);
    const workerA = await startInProcessWorker(t, { concurrency: 4, hooks: alertsA.hooks() });
    const workerB = await startInProcessWorker(t, { concurrency: 4, hooks: alertsB.hooks() });
    cleanups.push(
      () => workerA.close(),
      () => workerB.close(),
    );

    // The first delivery is refused with 503: it is retried, and still arrives once.
    receiver.refuseNext = 1;
    const plain = Array.from({ length: 30 }, (_, i) => eventRecord(i));
    // 3 of 10 (30%) fail, over the 20% threshold; 1 of 10 (10%) does not cross it.
    const failing = Array.from({ length: 10 }, (_, i) =>
      i < 3 ? { ...eventRecord(100 + i), configurationId: 'cfg-missing' } : eventRecord(100 + i),
    );
    const fewFailing = Array.from({ length: 10 }, (_, i) =>
      i < 1 ? { ...eventRecord(200 + i), configurationId: 'cfg-missing' } : eventRecord(200 + i),
    );
    const runs = { plain, failing, fewFailing };
    seedRecords(t.sim, [...plain, ...failing, ...fewFailing]);
    for (const [runId, records] of Object.entries(runs))
      await importRun(store, queue, { runId, rows: rowsOf(records), sourceLabel: 'alerts test' });

    for (const runId of Object.keys(runs)) await waitForRun(t.redis, t.prefix, runId, 30_000);
    await receiver.waitFor(() => Object.keys(runs).every((runId) => receiver.of(runId, 'completed').length > 0), 'completed alerts');
    // Any worker (or a late caller) checking again changes nothing: the claim is in Redis.
    for (const runId of Object.keys(runs))
      assert.deepEqual(await Promise.all([alertsA.checkRun(runId), alertsB.checkRun(runId)]), [[], []]);
    await Promise.all([alertsA.settled(), alertsB.settled()]);
    await sleep(300);

    assert.equal(receiver.refused, 1, 'the refused delivery was made');
    for (const runId of Object.keys(runs)) {
      const completed = receiver.of(runId, 'completed');
      assert.equal(completed.length, 1, `one completed alert for ${runId}`);
      const status = (await store.status(runId))!;
      assert.deepEqual(completed[0].status, status, 'the alert carries the final status');
    }
    assert.equal(receiver.of('plain', 'completed')[0].status.state, 'completed');
    assert.equal(receiver.of('failing', 'completed')[0].status.state, 'completed_with_errors');
    assert.equal(receiver.of('failing', 'failed_threshold').length, 1);
    // Sent when the share first reached 20%: with 2 or 3 of the 10 rows failed, depending on timing.
    const atCrossing = receiver.of('failing', 'failed_threshold')[0].status;
    assert.ok(atCrossing.failed >= 2 && atCrossing.failed <= 3 && atCrossing.accepted === 10, JSON.stringify(atCrossing));
    assert.equal(receiver.of('fewFailing', 'failed_threshold').length, 0);
    assert.equal(receiver.of('plain', 'failed_threshold').length, 0);
    assert.equal(receiver.received.filter((a) => a.event === 'blocked').length, 0);
  });

  it('a run the import itself completes (every row unchanged) is announced once, by the server and by the import command', async () => {
    const t = await alertEnv('alerts-import-completes');
    const alerts = workerAlerts(t);
    const worker = await startInProcessWorker(t, { hooks: alerts.hooks() });
    const server = await startTestServer(t, { alerts: workerAlerts(t) });
    cleanups.push(
      () => worker.close(),
      () => server.close(),
    );

    seedRecords(t.sim, [eventRecord(1), eventRecord(2)]);
    const first = await postEvents(server.url, [eventRecord(1), eventRecord(2)]);
    assert.equal(first.status, 202);
    await waitForRun(t.redis, t.prefix, first.json.runId, 20_000);
    await receiver.waitFor(() => receiver.of(first.json.runId, 'completed').length === 1, 'the first run completed');

    // The same records again: nothing to send, so the run is complete the moment the request is admitted.
    const again = await postEvents(server.url, [eventRecord(1), eventRecord(2)]);
    assert.equal(again.status, 202);
    assert.deepEqual(again.json.jobIds, []);
    assert.equal(again.json.unchanged, 2);
    await receiver.waitFor(() => receiver.of(again.json.runId, 'completed').length === 1, 'the unchanged event run completed');

    // The same through `import`: a file whose rows were all sent already.
    const csv = await writeTemp(t, 'in.csv', [HEADER, ...seededValidRows(t.sim, 5), ''].join('\n'));
    const firstImport = await runCli(['import', csv, '--json', '--no-progress'], t.env);
    assert.equal(firstImport.code, 0, firstImport.stderr);
    await waitForRun(t.redis, t.prefix, lastJsonLine<{ runId: string }>(firstImport.stdout).runId, 20_000);
    const unchangedImport = await runCli(['import', csv, '--json', '--no-progress'], t.env);
    assert.equal(unchangedImport.code, 0, unchangedImport.stderr);
    const unchangedRunId = lastJsonLine<{ runId: string; unchanged: number }>(unchangedImport.stdout).runId;
    assert.equal(lastJsonLine<{ unchanged: number }>(unchangedImport.stdout).unchanged, 5);
    // The command has exited, so its alert was delivered before that.
    assert.equal(receiver.of(unchangedRunId, 'completed').length, 1);
    await alerts.settled();
    await sleep(300);
    for (const runId of [first.json.runId, again.json.runId, unchangedRunId])
      assert.equal(receiver.of(runId, 'completed').length, 1, runId);
  });

  it('a run blocked by missing permissions is announced once', async () => {
    // The simulator's app has no Intune permission: every PATCH is a 403 and the breaker trips.
    const t = await alertEnv('alerts-blocked', { tokens: { 'sim-token': { tenantId: 'sim-tenant', appId: 'sim-app', permissions: [] } } });
    const store = new ResultStore(t.redis, t.prefix);
    const queue = createPatchQueue(t.redis, t.prefix);
    cleanups.push(() => queue.close());
    const alertsA = workerAlerts(t);
    const alertsB = workerAlerts(t);
    const workerA = await startInProcessWorker(t, { concurrency: 3, hooks: alertsA.hooks() });
    const workerB = await startInProcessWorker(t, { concurrency: 3, hooks: alertsB.hooks() });
    cleanups.push(
      () => workerA.close(),
      () => workerB.close(),
    );

    await importRun(store, queue, {
      runId: 'needs-permission',
      rows: rowsOf(Array.from({ length: 20 }, (_, i) => eventRecord(300 + i))),
      sourceLabel: 'alerts test',
    });
    await waitForRun(t.redis, t.prefix, 'needs-permission', 20_000, (s) => s.state === 'blocked');
    await receiver.waitFor(() => receiver.of('needs-permission', 'blocked').length > 0, 'the blocked alert');
    await Promise.all([alertsA.settled(), alertsB.settled()]);
    assert.deepEqual(await Promise.all([alertsA.checkRun('needs-permission'), alertsB.checkRun('needs-permission')]), [[], []]);
    await sleep(300);

    const blocked = receiver.of('needs-permission', 'blocked');
    assert.equal(blocked.length, 1);
    assert.equal(blocked[0].status.state, 'blocked');
    assert.match(blocked[0].status.blockedReason ?? '', /DeviceManagementConfiguration\.ReadWrite\.All/);
    assert.equal(receiver.of('needs-permission', 'completed').length, 0, 'a blocked run is not complete');
    // The 403s that tripped the breaker failed their rows; whether they reach SYNC_ALERT_FAILED_PERCENT (20) of the
    // 20 rows depends on how many were in flight when it tripped, so the expectation follows the run's own figures.
    const final = (await store.status('needs-permission'))!;
    const failedShareReached = final.accepted > 0 && (final.failed * 100) / final.accepted >= 20;
    assert.equal(
      receiver.of('needs-permission', 'failed_threshold').length,
      failedShareReached ? 1 : 0,
      `failed ${final.failed} of ${final.accepted}`,
    );
  });
});
