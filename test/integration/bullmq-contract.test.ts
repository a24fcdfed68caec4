/**
 * The BullMQ behaviours compliance-sync relies on, each in a named test against the real Redis, so that an upgrade
 * that changes one of them fails here by name rather than somewhere deep in a fleet test.
 * Written for the upgrade from 5.81 to 6.x (see README.md, "Dependencies").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  defaultRepeatStrategy,
  DelayedError,
  Queue,
  UnrecoverableError,
  Worker,
  type Job,
  type JobsOptions,
  type Processor,
  type WorkerOptions,
} from 'bullmq';
import { Redis } from 'ioredis';
import { deleteKeysWithPrefix } from '../../src/queue/connection.js';
import { queueDepth } from '../../src/queue/queues.js';
import { REDIS_URL, uniquePrefix } from '../support/harness.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Settles to 'pending' when the promise has not settled within `ms`. */
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then(() => 'settled' as const), sleep(ms).then(() => 'pending' as const)]);

describe('BullMQ contract', () => {
  let redis: Redis;
  const prefix = uniquePrefix('bullmq');
  const open: Array<{ close(): Promise<void> }> = [];
  let n = 0;

  before(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  });
  after(async () => {
    await Promise.all(open.map((o) => o.close().catch(() => undefined)));
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  });

  /** A fresh queue per test; connection and prefix passed as compliance-sync does (one shared ioredis client). */
  function queue(defaultJobOptions?: JobsOptions) {
    const q = new Queue(`q${++n}`, { connection: redis, prefix, ...(defaultJobOptions ? { defaultJobOptions } : {}) });
    open.push(q);
    return q;
  }
  function worker(q: Queue, processor: Processor, options: Partial<WorkerOptions> = {}) {
    const w = new Worker(q.name, processor, { connection: redis, prefix, concurrency: 1, ...options });
    w.on('error', () => undefined);
    open.push({ close: () => w.close(true) });
    return w;
  }

  test('addBulk adds a job id only once (the first data stays) and lifo jobs are taken first', async () => {
    const q = queue();
    await q.addBulk([{ name: 'patch', data: { v: 1 }, opts: { jobId: 'row-1' } }]);
    await q.addBulk([
      { name: 'patch', data: { v: 2 }, opts: { jobId: 'row-1' } },
      { name: 'patch', data: { v: 1 }, opts: { jobId: 'row-2' } },
    ]);
    await q.addBulk([{ name: 'patch', data: { v: 1 }, opts: { jobId: 'event-1', lifo: true } }]);
    assert.equal((await q.getJobCounts('waiting')).waiting, 3);
    assert.deepEqual((await q.getJob('row-1'))?.data, { v: 1 });

    const order: string[] = [];
    worker(q, async (job) => {
      order.push(job.id ?? '?');
    });
    await waitFor('3 jobs processed', () => order.length === 3);
    assert.deepEqual(order, ['event-1', 'row-1', 'row-2']);
  });

  test("a thrown error is retried with the queue's exponential back-off until attempts run out; attemptsMade counts them", async () => {
    const q = queue({ attempts: 3, backoff: { type: 'exponential', delay: 200 } });
    await q.add('patch', {}, { jobId: 'j' });
    const calls: Array<{ at: number; attemptsMade: number; attempts: number | undefined }> = [];
    const w = worker(q, async (job) => {
      calls.push({ at: Date.now(), attemptsMade: job.attemptsMade, attempts: job.opts.attempts });
      throw new Error('transient');
    });
    const failed = new Promise<Job | undefined>((resolve) => w.on('failed', (job) => job?.finishedOn && resolve(job)));
    await waitFor('the job to fail for good', async () => (await q.getJobState('j')) === 'failed');
    assert.deepEqual(
      calls.map((c) => [c.attemptsMade, c.attempts]),
      [
        [0, 3],
        [1, 3],
        [2, 3],
      ],
    );
    // Exponential: 200 ms, then 400 ms (a little slack for timer granularity).
    assert.ok(calls[1].at - calls[0].at >= 180, `first back-off ${calls[1].at - calls[0].at} ms`);
    assert.ok(calls[2].at - calls[1].at >= 380, `second back-off ${calls[2].at - calls[1].at} ms`);
    const job = await q.getJob('j');
    assert.equal(job?.attemptsMade, 3);
    assert.equal(job?.failedReason, 'transient');
    assert.ok(await within(failed, 1000));
  });

  test('moveToDelayed + DelayedError postpones a job without using an attempt, and its progress carries over', async () => {
    const q = queue({ attempts: 2, backoff: { type: 'exponential', delay: 60_000 } });
    await q.add('patch', {}, { jobId: 'j' });
    const seen: Array<{ at: number; attemptsMade: number; progress: unknown }> = [];
    worker(q, async (job, token) => {
      seen.push({ at: Date.now(), attemptsMade: job.attemptsMade, progress: job.progress });
      if (seen.length < 3) {
        await job.updateProgress({ requests: seen.length });
        await job.moveToDelayed(Date.now() + 300, token);
        throw new DelayedError('waiting for the budget');
      }
      return 'sent';
    });
    await waitFor('the job to be delayed', async () => (await q.getJobState('j')) === 'delayed' || seen.length > 1);
    await waitFor('the job to complete', async () => (await q.getJobState('j')) === 'completed');
    assert.equal(seen.length, 3);
    assert.deepEqual(
      seen.map((s) => s.attemptsMade),
      [0, 0, 0],
      'a postponed job keeps all its attempts',
    );
    assert.deepEqual(seen[2].progress, { requests: 2 });
    assert.ok(seen[1].at - seen[0].at >= 280, `postponed for ${seen[1].at - seen[0].at} ms`);
    assert.equal((await q.getJob('j'))?.returnvalue, 'sent');
  });

  test('UnrecoverableError fails a job at once, whatever attempts are left', async () => {
    const q = queue({ attempts: 8, backoff: { type: 'exponential', delay: 100 } });
    await q.add('patch', {}, { jobId: 'j' });
    let calls = 0;
    worker(q, async () => {
      calls++;
      throw new UnrecoverableError('404 ResourceNotFound');
    });
    await waitFor('the job to fail', async () => (await q.getJobState('j')) === 'failed');
    await sleep(300);
    assert.equal(calls, 1);
    assert.equal((await q.getJob('j'))?.failedReason, '404 ResourceNotFound');
  });

  test(
    'pause holds jobs back (counted as waiting: BullMQ 6 has no paused job state; ' +
      'queueDepth reports them as paused); resume is awaited',
    async () => {
      const q = queue();
      let calls = 0;
      const w = worker(q, async () => {
        calls++;
      });
      await w.waitUntilReady();
      await q.pause();
      await q.addBulk([
        { name: 'patch', data: {}, opts: { jobId: 'a' } },
        { name: 'patch', data: {}, opts: { jobId: 'b' } },
      ]);
      await sleep(500);
      assert.equal(calls, 0, 'nothing is taken from a paused queue');
      assert.equal(await q.isPaused(), true);
      assert.equal((await q.getJobCounts('waiting')).waiting, 2);
      assert.equal(await q.getJobState('a'), 'waiting');
      const depth = await queueDepth(q);
      assert.equal(depth.paused, 2);
      assert.equal(depth.waiting, 0);
      const resumed = q.resume();
      assert.ok(resumed instanceof Promise);
      await resumed;
      assert.equal(await q.isPaused(), false);
      await waitFor('both jobs processed', () => calls === 2);
      const after = await queueDepth(q);
      assert.equal(after.paused + after.waiting + after.active, 0);
    },
  );

  test('removeOnComplete and removeOnFail keep only the newest jobs', async () => {
    const q = queue({ removeOnComplete: { count: 2 }, removeOnFail: { count: 1 } });
    await q.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'patch', data: { fail: i % 2 === 1 }, opts: { jobId: `j${i}` } })));
    let done = 0;
    worker(q, async (job) => {
      done++;
      if ((job.data as { fail: boolean }).fail) throw new UnrecoverableError('no');
    });
    await waitFor('all processed', () => done === 6);
    await waitFor('counts settled', async () => {
      const c = await q.getJobCounts('completed', 'failed', 'waiting', 'active');
      return c.waiting === 0 && c.active === 0;
    });
    const c = await q.getJobCounts('completed', 'failed');
    assert.deepEqual(c, { completed: 2, failed: 1 });
  });

  test(
    'close() waits for the job in flight; a second close(true) meanwhile returns the ' + 'same promise; a first close(true) does not wait',
    async () => {
      const q = queue();
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let started = 0;
      const w = worker(q, async () => {
        started++;
        await released;
        return 'done';
      });
      await q.add('patch', {}, { jobId: 'graceful' });
      await waitFor('the job to start', () => started === 1);
      const closing = w.close();
      assert.equal(await within(closing, 400), 'pending', 'close() waits for the job');
      assert.equal(await within(w.close(true), 300), 'pending', 'close(true) after close() cannot hurry it');
      release();
      await closing;
      assert.equal(await q.getJobState('graceful'), 'completed');

      const q2 = queue();
      let started2 = 0;
      const w2 = worker(q2, async () => {
        started2++;
        await new Promise<never>(() => undefined);
      });
      await q2.add('patch', {}, { jobId: 'abandoned' });
      await waitFor('the job to start', () => started2 === 1);
      assert.equal(await within(w2.close(true), 2000), 'settled', 'close(true) does not wait for the job');
      assert.equal(await q2.getJobState('abandoned'), 'active', 'the abandoned job stays active until stalled-job recovery');
    },
  );

  /** Starts a worker whose processor never finishes, waits until it holds the job, then abandons it as a killed process would. */
  async function stallOnce(q: Queue, jobId: string, options: Partial<WorkerOptions>): Promise<void> {
    let holding = false;
    const w = worker(
      q,
      async (job) => {
        if (job.id === jobId) holding = true;
        await new Promise<never>(() => undefined);
      },
      options,
    );
    await waitFor('the job to be taken', () => holding);
    await w.close(true);
  }

  test(
    'a stalled job (its worker gone, its lock expired) is handed to another worker; ' +
      'maxStalledCount decides how many stalls it survives',
    async () => {
      const stallOptions = { lockDuration: 600, stalledInterval: 300 };
      const q = queue({ attempts: 8 });
      const qDefault = queue({ attempts: 8 });
      await q.add('patch', {}, { jobId: 'j' });
      await qDefault.add('patch', {}, { jobId: 'j' });

      // compliance-sync sets maxStalledCount: 1000; BullMQ's default (1) fails a job on its second stall.
      for (const [target, maxStalledCount] of [
        [q, 1000],
        [qDefault, undefined],
      ] as const) {
        const extra = maxStalledCount === undefined ? {} : { maxStalledCount };
        await stallOnce(target, 'j', { ...stallOptions, ...extra });
        // A second worker finds the stalled job and takes it, then is abandoned too.
        await stallOnce(target, 'j', { ...stallOptions, ...extra });
      }
      let finished = 0;
      const processed: string[] = [];
      for (const target of [q, qDefault]) {
        worker(
          target,
          async () => {
            processed.push(target.name);
            finished++;
            return 'ok';
          },
          { ...stallOptions, ...(target === q ? { maxStalledCount: 1000 } : {}) },
        );
      }
      await waitFor(
        'both jobs settled',
        async () =>
          ['completed', 'failed'].includes(await q.getJobState('j')) && ['completed', 'failed'].includes(await qDefault.getJobState('j')),
      );
      assert.equal(await q.getJobState('j'), 'completed', 'with maxStalledCount 1000 the row survives two crashed workers');
      assert.deepEqual(processed, [q.name]);
      assert.equal(await qDefault.getJobState('j'), 'failed', "with BullMQ's default it is failed on the second stall");
      assert.match((await qDefault.getJob('j'))?.failedReason ?? '', /stalled/);
      assert.equal(finished, 1);
    },
  );

  test(
    'job schedulers: upsert creates or replaces by name, keeps pattern, tz and ' + 'template, has one pending firing; remove deletes both',
    async () => {
      const q = queue();
      const template = {
        name: 'scheduled-import',
        data: { scheduleName: 'nightly' },
        opts: { attempts: 1, removeOnComplete: { count: 200 }, removeOnFail: { count: 500 } },
      };
      await q.upsertJobScheduler('nightly', { pattern: '0 3 * * *', tz: 'Europe/Berlin' }, template);
      let s = await q.getJobScheduler('nightly');
      assert.equal(s?.key, 'nightly');
      assert.equal(s?.pattern, '0 3 * * *');
      assert.equal(s?.tz, 'Europe/Berlin');
      assert.ok((s?.next ?? 0) > Date.now());
      assert.equal(
        new Date(s?.next ?? 0).toLocaleString('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }),
        '03:00',
      );

      await q.upsertJobScheduler('nightly', { pattern: '30 4 * * *', tz: 'UTC' }, { ...template, data: { scheduleName: 'nightly', v: 2 } });
      const all = await q.getJobSchedulers(0, -1, true);
      assert.equal(all.length, 1, 'same name, same scheduler');
      s = all[0];
      assert.equal(s.pattern, '30 4 * * *');
      assert.equal(s.tz, 'UTC');
      assert.deepEqual(s.template?.data, { scheduleName: 'nightly', v: 2 });
      assert.equal(new Date(s.next ?? 0).toISOString().slice(11, 16), '04:30');
      assert.equal((await q.getJobCounts('delayed')).delayed, 1, 'the next firing waits as one delayed job');

      assert.equal(await q.removeJobScheduler('nightly'), true);
      assert.equal(await q.removeJobScheduler('nightly'), false);
      assert.equal(await q.getJobScheduler('nightly'), undefined);
      assert.equal((await q.getJobCounts('delayed')).delayed, 0, 'its pending firing is gone too');
    },
  );

  test("a job scheduler with a 6-field pattern fires jobs carrying the template's name, data and options", async () => {
    const q = queue();
    const fired: Array<{ name: string; data: unknown; attempts: number | undefined; at: number }> = [];
    worker(q, async (job) => {
      fired.push({ name: job.name, data: job.data, attempts: job.opts.attempts, at: Date.now() });
    });
    await q.upsertJobScheduler(
      'every-second',
      { pattern: '* * * * * *' },
      { name: 'scheduled-import', data: { scheduleName: 'every-second' }, opts: { attempts: 1 } },
    );
    await waitFor('two firings', () => fired.length >= 2, 10_000);
    await q.removeJobScheduler('every-second');
    assert.deepEqual(fired[0], { ...fired[0], name: 'scheduled-import', data: { scheduleName: 'every-second' }, attempts: 1 });
    assert.ok(fired[1].at - fired[0].at >= 500, 'firings follow the pattern, not back to back');
  });

  test('defaultRepeatStrategy gives the next firing for a cron pattern and zone, and throws for a bad pattern', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    assert.equal(defaultRepeatStrategy(now, { pattern: '0 3 * * *', tz: 'UTC' }), Date.parse('2026-11-29T03:00:00Z'));
    assert.equal(defaultRepeatStrategy(now, { pattern: '0 3 * * *', tz: 'Europe/Berlin' }), Date.parse('2026-11-29T02:00:00Z'));
    assert.equal(defaultRepeatStrategy(now, { pattern: '*/30 * * * * *', tz: 'UTC' }), Date.parse('2026-11-28T12:00:30Z'));
    assert.throws(() => defaultRepeatStrategy(now, { pattern: '61 * * * *' }));
  });
});
