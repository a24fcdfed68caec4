import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunStatus } from '../../src/interfaces.js';
import { createWorkerMetrics, serveMetrics } from '../../jobs/metrics.js';
import { DEPRECATED_METRICS } from '../../src/server/metrics.js';
import { createLogger } from '../../src/logger.js';
import { RateBudget } from '../../src/pacing/budget.js';
import { redisKeys } from '../../src/redis-layout.js';
import { createPatchQueue, queueDepth } from '../../src/queue/queues.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  seedRecords,
  spawnWorker,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import { parsePrometheusText, sampleValue, type MetricFamily } from '../support/prometheus-text.js';
import { eventRecord, freePort, postEvents, startTestServer } from '../support/server-helpers.js';

const envs: TestEnv[] = [];
after(async () => {
  await Promise.all(envs.map((t) => t.close()));
});

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

async function statusViaCli(t: TestEnv, runId: string): Promise<RunStatus> {
  const out = await runCli(['status', runId, '--json'], t.env);
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as RunStatus;
}

describe('metrics', () => {
  it('server /metrics is valid Prometheus text whose figures match `status`, with 429s, failures and queue depth', async () => {
    // A small Graph budget makes the simulator answer 429s; cfg-6 does not exist there, so its rows fail.
    const t = await startTestEnv('metrics-server', {
      sim: { budget: { perApp: { limit: 8, windowMs: 1000 } }, missingConfigurations: ['cfg-6'] },
    });
    envs.push(t);
    const server = await startTestServer(t);
    const worker = await startInProcessWorker(t);
    try {
      const csv = await writeTemp(
        t,
        'in.csv',
        [HEADER, ...seededValidRows(t.sim, 28), 'cfg-1,,mobileAppConfiguration,,,compliant,,', ''].join('\n'),
      );
      const imported = await runCli(['import', csv, '--json', '--no-progress'], t.env);
      assert.equal(imported.code, 0, imported.stderr);
      const bulkRunId = lastJsonLine<{ runId: string }>(imported.stdout).runId;
      seedRecords(t.sim, [eventRecord(100), eventRecord(101)]);
      const posted = await postEvents(server.url, [eventRecord(100), eventRecord(101), { userStatusId: 'x' }]);
      assert.equal(posted.status, 207);

      for (const runId of [bulkRunId, posted.json.runId]) await waitForRun(t.redis, t.prefix, runId, 45_000);
      const statuses = [await statusViaCli(t, bulkRunId), await statusViaCli(t, posted.json.runId)];
      const sum = (field: keyof RunStatus) => statuses.reduce((n, s) => n + (s[field] as number), 0);
      assert.ok(sum('throttledCount') > 0, 'the simulator must have throttled some requests');
      assert.ok(sum('failed') > 0 && sum('rejected') > 0 && sum('succeeded') > 0);

      const metrics = await scrape(`${server.url}/metrics`);
      // Running totals are counters named _total; current levels are gauges.
      const ours = (...names: string[]) => names.map((name) => `compliance_sync_${name}`);
      for (const name of ours('rows_total', 'runs_total', 'throttled_responses_total', 'throttled_seconds_total')) {
        assert.equal(metrics.get(name)?.type, 'counter', name);
      }
      for (const name of ours('rows_queued', 'runs_open', 'queue_jobs', 'tenant_queue_jobs')) {
        assert.equal(metrics.get(name)?.type, 'gauge', name);
      }
      const finalStates = ['rejected', 'unchanged', 'succeeded', 'failed', 'superseded'] as const;
      const expectedRows = Object.fromEntries(finalStates.map((state) => [state, sum(state)]));
      for (const [state, value] of Object.entries(expectedRows)) {
        assert.equal(sampleValue(metrics, 'compliance_sync_rows_total', { state }), value, `rows ${state}`);
      }
      assert.equal(sampleValue(metrics, 'compliance_sync_rows_queued'), sum('pending'));
      const runsIn = (state: string) => statuses.filter((s) => s.state === state).length;
      assert.equal(sampleValue(metrics, 'compliance_sync_runs_total', { state: 'completed' }), runsIn('completed'));
      assert.equal(sampleValue(metrics, 'compliance_sync_runs_total', { state: 'completed_with_errors' }), runsIn('completed_with_errors'));
      assert.equal(sampleValue(metrics, 'compliance_sync_runs_open', { state: 'running' }), 0);
      assert.equal(sampleValue(metrics, 'compliance_sync_runs_counted'), 2);
      assert.equal(sampleValue(metrics, 'compliance_sync_throttled_responses_total'), sum('throttledCount'));
      assert.equal(sampleValue(metrics, 'compliance_sync_throttled_seconds_total'), sum('throttledMs') / 1000);

      // The names of earlier releases still answer, for one release, as gauges whose HELP names the replacement.
      assert.equal(metrics.get('compliance_sync_rows')?.type, 'gauge');
      for (const [state, value] of Object.entries({ ...expectedRows, queued: sum('pending') })) {
        assert.equal(sampleValue(metrics, 'compliance_sync_rows', { state }), value, `old rows ${state}`);
      }
      assert.equal(sampleValue(metrics, 'compliance_sync_runs', { state: 'completed_with_errors' }), runsIn('completed_with_errors'));
      assert.equal(sampleValue(metrics, 'compliance_sync_throttled_responses'), sum('throttledCount'));
      assert.equal(sampleValue(metrics, 'compliance_sync_throttled_seconds'), sum('throttledMs') / 1000);
      for (const [old, replacements] of Object.entries(DEPRECATED_METRICS)) {
        const help = metrics.get(old)?.help;
        assert.ok(help?.startsWith(`Deprecated: use ${replacements.join(' and ')}.`), `${old}: ${help}`);
      }

      const queue = createPatchQueue(t.redis, t.prefix);
      const depth = await queueDepth(queue);
      await queue.close();
      for (const [state, value] of Object.entries(depth)) {
        assert.equal(sampleValue(metrics, 'compliance_sync_queue_jobs', { state }), value, `queue ${state}`);
        // No tenants file: the default tenant is the only one.
        assert.equal(sampleValue(metrics, 'compliance_sync_tenant_queue_jobs', { tenant: 'default', state }), value, `default ${state}`);
      }
      assert.equal(depth.failed, sum('failed'), 'each failed row is a failed job');
      const tenantLabels = new Set(metrics.get('compliance_sync_tenant_queue_jobs')!.samples.map((s) => s.labels.tenant));
      assert.deepEqual(tenantLabels, new Set(['default']));

      // Redis memory, for the high-water alert (src/server/observability/alert-rules.yml).
      const [, maxmemory] = await t.redis.config('GET', 'maxmemory');
      assert.equal(sampleValue(metrics, 'compliance_sync_redis_maxmemory_bytes'), Number(maxmemory));
      assert.ok(sampleValue(metrics, 'compliance_sync_redis_used_memory_bytes') > 0);
      assert.equal(sampleValue(metrics, 'compliance_sync_redis_memory_high_water_ratio'), t.config.memoryHighWaterPercent / 100);

      assert.equal(sampleValue(metrics, 'compliance_sync_budget_configured_rate'), 1000);
      const effective = sampleValue(metrics, 'compliance_sync_budget_effective_rate');
      assert.ok(effective > 0 && effective <= 1000, `effective rate ${effective}`);

      // A retry takes failed rows back to queued, so rows:failed in Redis drops; the counter must not (a drop reads as a
      // reset to rate()). The resent rows fail again (cfg-6 still does not exist): they have now failed twice.
      const failedBefore = sampleValue(metrics, 'compliance_sync_rows_total', { state: 'failed' });
      const retried = await runCli(['retry', bulkRunId, '--all', '--json'], t.env);
      assert.equal(retried.code, 0, retried.stderr);
      const duringRetry = await scrape(`${server.url}/metrics`);
      assert.ok(sampleValue(duringRetry, 'compliance_sync_rows_total', { state: 'failed' }) >= failedBefore, 'the counter never goes down');
      await waitForRun(t.redis, t.prefix, bulkRunId, 45_000);
      const retriedStatus = await statusViaCli(t, bulkRunId);
      const afterRetry = await scrape(`${server.url}/metrics`);
      const failedOfBulk = statuses[0].failed;
      assert.ok(failedOfBulk > 0);
      assert.equal(retriedStatus.failed, failedOfBulk, 'the same rows failed again');
      assert.equal(sampleValue(afterRetry, 'compliance_sync_rows_total', { state: 'failed' }), failedBefore + failedOfBulk);
      // The deprecated gauge keeps its old meaning: rows failed now.
      assert.equal(sampleValue(afterRetry, 'compliance_sync_rows', { state: 'failed' }), sum('failed'));

      // The run is over, so any Retry-After pause has ended by the time it finished... unless the last 429 came late:
      // wait for the pause recorded in the budget to end, then the gauge must say 0; a fresh 60 s pause must say 1.
      const budgetKey = redisKeys(t.prefix).budget;
      const pauseUntilUs = Number((await t.redis.hget(budgetKey, 'pauseUntil')) ?? 0);
      const [seconds, micros] = (await t.redis.time()).map(Number);
      const leftMs = Math.max(0, (pauseUntilUs - (seconds * 1e6 + micros)) / 1000);
      if (leftMs > 0) await sleep(leftMs + 50);
      const afterPause = await scrape(`${server.url}/metrics`);
      assert.equal(sampleValue(afterPause, 'compliance_sync_budget_paused'), 0);
      assert.equal(sampleValue(afterPause, 'compliance_sync_budget_pause_remaining_seconds'), 0);
      const epoch = Number((await t.redis.hget(budgetKey, 'epoch')) ?? 0);
      await new RateBudget(t.redis, t.prefix, t.config.rateLimit).throttled(60_000, { epoch });
      const duringPause = await scrape(`${server.url}/metrics`);
      assert.equal(sampleValue(duringPause, 'compliance_sync_budget_paused'), 1);
      const remaining = sampleValue(duringPause, 'compliance_sync_budget_pause_remaining_seconds');
      assert.ok(remaining > 55 && remaining <= 60, `pause remaining ${remaining}`);
      assert.equal(sampleValue(metrics, 'compliance_sync_breaker_tripped'), 0);
      // prom-client's process metrics under their standard names, so stock Node.js dashboards work; the prefixed names
      // of earlier releases are deprecated duplicates.
      const processMetrics = ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes'];
      for (const name of processMetrics) assert.ok(metrics.has(name), name);
      const oldCpu = metrics.get('compliance_sync_server_process_cpu_seconds_total');
      assert.match(oldCpu?.help ?? '', /^Deprecated: use process_cpu_seconds_total\. /);
      assert.ok(![...metrics.keys()].some((name) => name.startsWith('compliance_sync_worker_')), 'no worker metric on the server');
    } finally {
      await worker.close();
      await server.close();
    }
  });

  it('worker --metrics-port serves its row latency histogram and outcomes', async () => {
    const t = await startTestEnv('metrics-worker', { sim: { missingConfigurations: ['cfg-3'] } });
    envs.push(t);
    const port = await freePort();
    const child = spawnWorker(t.env, ['--metrics-port', String(port), '--concurrency', '4']);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      const csv = await writeTemp(t, 'in.csv', [HEADER, ...seededValidRows(t.sim, 21), ''].join('\n'));
      const imported = await runCli(['import', csv, '--json', '--no-progress'], t.env);
      assert.equal(imported.code, 0, imported.stderr);
      const runId = lastJsonLine<{ runId: string }>(imported.stdout).runId;
      const status = await waitForRun(t.redis, t.prefix, runId, 45_000);
      assert.equal(status.failed, 3); // users 3, 10 and 17 are in cfg-3

      // The hook runs right after the outcome is recorded; give it a moment to be counted.
      let metrics = await scrape(`http://127.0.0.1:${port}/metrics`);
      const finished = (state: string) => sampleValue(metrics, 'compliance_sync_worker_rows_finished_total', { state, tenant: 'default' });
      for (let i = 0; i < 20 && finished('failed') < 3; i++) {
        await sleep(100);
        metrics = await scrape(`http://127.0.0.1:${port}/metrics`);
      }
      assert.equal(metrics.get('compliance_sync_worker_row_duration_seconds')?.type, 'histogram');
      assert.equal(sampleValue(metrics, 'compliance_sync_worker_row_duration_seconds_count', { state: 'succeeded' }), status.succeeded);
      assert.equal(sampleValue(metrics, 'compliance_sync_worker_row_duration_seconds_count', { state: 'failed' }), 3);
      assert.equal(finished('succeeded'), status.succeeded);
      const tenantLabels = new Set(metrics.get('compliance_sync_worker_rows_finished_total')!.samples.map((s) => s.labels.tenant));
      assert.deepEqual(tenantLabels, new Set(['default']), 'no tenants file');
      assert.equal(sampleValue(metrics, 'compliance_sync_worker_runs_completed_total'), 1);
      assert.equal(sampleValue(metrics, 'compliance_sync_worker_throttled_total', { tenant: 'default' }), 0);
      assert.ok(metrics.has('process_cpu_seconds_total'), 'standard process metric names');
      const oldCpu = metrics.get('compliance_sync_worker_process_cpu_seconds_total');
      assert.match(oldCpu?.help ?? '', /^Deprecated: use process_cpu_seconds_total\. /);
      const buckets = metrics
        .get('compliance_sync_worker_row_duration_seconds')!
        .samples.filter((s) => s.name.endsWith('_bucket') && s.labels.state === 'succeeded');
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'buckets are cumulative');
      assert.equal(buckets.at(-1)!.labels.le, '+Inf');
      assert.equal(buckets.at(-1)!.value, status.succeeded);
      assert.ok(sampleValue(metrics, 'compliance_sync_worker_row_duration_seconds_sum', { state: 'succeeded' }) > 0);
      // The container healthcheck of docker-compose.yml: healthy while its Redis connection is ready.
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { ok: true, redis: 'ok' });
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    // No deprecation line from the metrics server's Fastify options (FSTDEP023 came from a top-level disableRequestLogging).
    assert.doesNotMatch(stderr, /FastifyDeprecation|FSTDEP/);
  });

  it('worker /healthz answers 503 when its Redis connection is not ready', async () => {
    const logger = createLogger('silent');
    const served = await serveMetrics(createWorkerMetrics().registry, { port: 0, logger, healthy: () => false });
    try {
      const res = await fetch(`http://127.0.0.1:${served.port}/healthz`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { ok: false, redis: 'not connected' });
    } finally {
      await served.close();
    }
  });
});
