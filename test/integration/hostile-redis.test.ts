/**
 * Issue 9, Redis: a stalled Redis (SIGSTOP), a Redis that is down while a worker starts, and wrong credentials.
 * Every test runs its own redis-server on a free port; the shared Redis is never stopped.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import { importRun } from '../../src/producer/import-run.js';
import { connectRedis } from '../../src/queue/connection.js';
import { createPatchQueue, queueDepth } from '../../src/queue/queues.js';
import { redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { buildServer } from '../../src/server/app.js';
import { ApiTokens } from '../../src/server/auth.js';
import { CANCELLED_REASON, cancelTimedOutRun } from '../../src/server/ingest.js';
import { readCsv } from '../../src/sources/csv.js';
import {
  BIN,
  HEADER,
  REPO_ROOT,
  runCli,
  SEEDED_VALUES,
  seededValidRows,
  seedGraph,
  spawnWorker,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  type TestEnv,
} from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';
import { API_TOKEN, freePort, postEvents } from '../support/server-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function privateEnv(name: string, redis: PrivateRedis, env: Record<string, string> = {}): Promise<TestEnv> {
  const t = await startTestEnv(name, { redisUrl: redis.url, env });
  cleanups.push(() => t.close());
  return t;
}

const silent = pino({ level: 'silent' }) as Logger;

describe('Redis failures (issue 9)', { concurrency: 1 }, () => {
  it(
    'a stalled Redis: status and import exit 1 within seconds, the server answers ' +
      '503, and nothing of an answered request is queued later',
    async () => {
      const redisServer = await PrivateRedis.start();
      cleanups.push(() => redisServer.stop());
      const t = await privateEnv('hxr-stall', redisServer, { SYNC_REDIS_COMMAND_TIMEOUT_MS: '1500' });
      const config = loadConfig({ ...t.env });
      const serverRedis = await connectRedis(config.redisUrl, 'server', {}, { commandTimeoutMs: config.redisCommandTimeoutMs });
      const app = await buildServer({ config, redis: serverRedis, logger: silent, tokens: new ApiTokens([API_TOKEN]) });
      await app.listen({ port: 0, host: '127.0.0.1' });
      cleanups.push(async () => {
        await app.close();
        serverRedis.disconnect();
      });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      seedGraph(t.sim, ['c,before', 'c,during']);
      const before = await postEvents(url, { configurationId: 'c', userStatusId: 'before', status: 'compliant' });
      assert.equal(before.status, 202);
      const file = join(t.dir, 'rows.csv');
      await writeFile(file, `${HEADER}\n${seededValidRows(t.sim, 3).join('\n')}\n`);

      redisServer.pause();
      let resumed = false;
      try {
        const [status, imported, posted, listed] = await Promise.all([
          timed(() => runCli(['status', before.json.runId], t.env, undefined, 40_000)),
          timed(() => runCli(['import', file, '--run-id', 'stalled', '--no-progress'], t.env, undefined, 40_000)),
          timed(() => postEvents(url, { configurationId: 'c', userStatusId: 'during', status: 'compliant' })),
          timed(() =>
            fetch(`${url}/v1/runs`, { headers: { authorization: `Bearer ${API_TOKEN}` } }).then(async (r) => ({
              status: r.status,
              json: await r.json(),
            })),
          ),
        ]);
        assert.equal(status.value.code, 1, status.value.stderr);
        assert.match(
          status.value.stderr,
          /^error: Redis (at redis:\/\/127\.0\.0\.1:\d+ )?did not answer within 1500 ms \(SYNC_REDIS_COMMAND_TIMEOUT_MS\)/,
        );
        assert.ok(status.ms < 15_000, `status took ${status.ms} ms`);
        assert.equal(imported.value.code, 1, imported.value.stderr);
        assert.match(imported.value.stderr, /Redis (at redis:\/\/127\.0\.0\.1:\d+ )?did not answer within 1500 ms/);
        assert.ok(imported.ms < 15_000, `import took ${imported.ms} ms`);
        assert.equal(posted.value.status, 503, JSON.stringify(posted.value.json));
        assert.match(posted.value.json.message, /Redis did not answer within 1500 ms.*nothing was queued/);
        assert.ok(posted.ms < 6000, `POST took ${posted.ms} ms`);
        assert.equal(listed.value.status, 503);
        assert.ok(listed.ms < 6000, `GET /v1/runs took ${listed.ms} ms`);

        redisServer.resume();
        resumed = true;
        // What the stalled Redis held runs now; the server's cancel follows the request's writes.
        await sleep(3000);
        const store = new ResultStore(t.redis, t.prefix);
        const runs = await store.listRuns(100);
        assert.deepEqual(
          runs.map((r) => r.runId),
          [before.json.runId],
          `only the request answered 202 has a run: ${JSON.stringify(runs)}`,
        );
        const worker = await startInProcessWorker(t);
        try {
          await waitForRun(t.redis, t.prefix, before.json.runId, 20_000);
          await sleep(1000);
        } finally {
          await worker.close(5000);
        }
        assert.equal(t.sim.counters().requests, 1, 'only the event answered 202 reached Graph');
        // Everything the test names is seeded; what reached Graph is what no longer holds the seeded status.
        const written = Object.entries(t.sim.state())
          .filter(([, v]) => v.status !== SEEDED_VALUES.status)
          .map(([k]) => k);
        assert.deepEqual(written, ['mobileAppConfigurations/c/before']);
      } finally {
        if (!resumed) redisServer.resume();
      }
    },
  );

  it('a request answered 503 whose rows and jobs reached Redis late is cancelled: its rows fail, and no worker sends them', async () => {
    const t = await startTestEnv('hxr-cancel');
    cleanups.push(() => t.close());
    const store = new ResultStore(t.redis, t.prefix);
    const queue = createPatchQueue(t.redis, t.prefix);
    cleanups.push(() => queue.close());
    // As if a stalled Redis had run the request's admit and addBulk after the server gave up on them.
    await importRun(store, queue, {
      runId: 'evt-late',
      rows: readCsv(Readable.from([`${HEADER}\n${seededValidRows(t.sim, 3).join('\n')}\n`])),
      sourceLabel: 'late',
      origin: 'event',
    });
    assert.equal((await queueDepth(queue)).prioritized + (await queueDepth(queue)).waiting, 3);
    const warnings: object[] = [];
    cancelTimedOutRun(store, 'evt-late', { first: 2, last: 4 }, { warn: (o) => warnings.push(o), error: (o) => warnings.push(o) });
    const deadline = Date.now() + 10_000;
    while ((await store.status('evt-late'))!.pending > 0) {
      assert.ok(Date.now() < deadline, 'the run was not cancelled');
      await sleep(50);
    }
    const worker = await startInProcessWorker(t);
    try {
      while ((await queueDepth(queue)).prioritized + (await queueDepth(queue)).waiting + (await queueDepth(queue)).active > 0) {
        assert.ok(Date.now() < deadline + 10_000, 'the worker did not drain the queue');
        await sleep(100);
      }
    } finally {
      await worker.close(5000);
    }
    const status = (await store.status('evt-late'))!;
    assert.deepEqual([status.state, status.failed, status.pending, status.succeeded], ['completed_with_errors', 3, 0, 0]);
    const row = JSON.parse((await t.redis.hget(redisKeys(t.prefix).rows('evt-late'), '2'))!);
    assert.equal(row.reason, CANCELLED_REASON);
    assert.equal(t.sim.counters().requests, 0);
    assert.equal(warnings.length, 1);
  });

  it(
    'a worker rides out a Redis that is down while it starts, then sends every row; a ' + 'one-shot command exits 1 within seconds',
    async () => {
      const redisServer = await PrivateRedis.start();
      cleanups.push(() => redisServer.stop());
      const t = await privateEnv('hxr-startup', redisServer, { SYNC_REDIS_CONNECT_TIMEOUT_MS: '60000' });
      const queue = createPatchQueue(t.redis, t.prefix);
      await importRun(new ResultStore(t.redis, t.prefix), queue, {
        runId: 'startup',
        rows: readCsv(Readable.from([`${HEADER}\n${seededValidRows(t.sim, 5).join('\n')}\n`])),
        sourceLabel: 'startup',
      });
      await queue.close();
      await redisServer.kill();

      const started = Date.now();
      const down = await runCli(['status', 'startup'], t.env, undefined, 30_000);
      assert.equal(down.code, 1, down.stderr);
      assert.match(down.stderr, /^error: Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/);
      assert.ok(Date.now() - started < 10_000, `a one-shot command took ${Date.now() - started} ms`);

      const worker = spawnWorker(t.env, ['--until-idle', '--no-scheduled-imports']);
      let stderr = '';
      worker.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      worker.stdout!.resume();
      const exited = once(worker, 'exit');
      cleanups.push(async () => {
        if (worker.exitCode === null) worker.kill('SIGKILL');
      });
      await sleep(4000);
      assert.equal(worker.exitCode, null, `the worker gave up while Redis was down: ${stderr}`);
      await redisServer.startProcess();
      const [code] = await Promise.race([exited, sleep(60_000).then(() => [undefined])]);
      assert.equal(code, 0, stderr);
      const status = await waitForRun(t.redis, t.prefix, 'startup', 5000);
      assert.deepEqual([status.state, status.succeeded], ['completed', 5]);
      assert.equal(t.sim.counters().requests, 5);
    },
  );

  it('serve waits for a Redis that is down at start-up, then serves', async () => {
    const redisServer = await PrivateRedis.start();
    cleanups.push(() => redisServer.stop());
    const t = await privateEnv('hxr-serve-startup', redisServer);
    await redisServer.kill();
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...t.env, SYNC_API_TOKENS: API_TOKEN, SYNC_REDIS_CONNECT_TIMEOUT_MS: '60000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit');
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    await sleep(3000);
    assert.equal(child.exitCode, null, `serve gave up while Redis was down: ${stderr}`);
    await redisServer.startProcess();
    const deadline = Date.now() + 30_000;
    while (
      !(await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      ))
    ) {
      assert.ok(Date.now() < deadline, `serve did not become ready: ${stderr}`);
      await sleep(200);
    }
    const posted = await postEvents(`http://127.0.0.1:${port}`, { configurationId: 'c', userStatusId: 'u', status: 'compliant' });
    assert.equal(posted.status, 202);
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });

  it('says that Redis refused the credentials, for a wrong password and for none, without printing it', async () => {
    const redisServer = await PrivateRedis.start({ password: 'right-password-123' });
    cleanups.push(() => redisServer.stop());
    const base = { SYNC_PREFIX: 'hxr-auth', GRAPH_ACCESS_TOKEN: 'x' };
    const wrong = await runCli(['status', 'some-run'], { ...base, REDIS_URL: `redis://:wrong-password-456@127.0.0.1:${redisServer.port}` });
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(
      wrong.stderr,
      /^error: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? refused the credentials \(check .* in REDIS_URL\): WRONGPASS/,
    );
    assert.ok(!wrong.stderr.includes('wrong-password-456'));
    const none = await runCli(['status', 'some-run'], { ...base, REDIS_URL: `redis://127.0.0.1:${redisServer.port}` });
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /refused the credentials .*NOAUTH/);
    const worker = await runCli(
      ['worker', '--until-idle'],
      { ...base, REDIS_URL: `redis://:wrong-password-456@127.0.0.1:${redisServer.port}` },
      undefined,
      30_000,
    );
    assert.equal(worker.code, 1, 'a worker does not wait for credentials that will not change');
    assert.match(worker.stderr, /refused the credentials/);
  });
});

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - started };
}
