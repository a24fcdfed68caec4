/**
 * What BullMQ itself can do: a bare Worker on the same queue shape, each job one `fetch` PATCH of its record (the same
 * path and body as ours) and one HSET of the answer's status. No budget, no claim, no change detection, no breaker.
 * Exits once it has finished `jobs` jobs (the bench added exactly that many), printing {"ok","failed"}.
 * Usage: REDIS_URL=... QUEUE_PREFIX=... RESULTS_KEY=... GRAPH_BASE_URL=... GRAPH_ACCESS_TOKEN=...
 *   node --import tsx test/bench/steps/bare-worker.ts <queue name> <jobs> <concurrency>
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { patchBody, patchPath } from '../../../src/domain/payload.js';
import type { PatchJobData } from '../../../src/interfaces.js';

const [queueName, jobsText, concurrencyText] = process.argv.slice(2);
const jobs = Number(jobsText);
const concurrency = Number(concurrencyText);
if (!queueName || !(jobs > 0) || !(concurrency > 0)) throw new Error('usage: bare-worker.ts <queue name> <jobs> <concurrency>');
const env = (name: string) =>
  process.env[name] ??
  (() => {
    throw new Error(`${name} is not set`);
  })();
const base = `${env('GRAPH_BASE_URL')}/beta`;
const headers = { authorization: `Bearer ${env('GRAPH_ACCESS_TOKEN')}`, 'content-type': 'application/json' };
const resultsKey = env('RESULTS_KEY');

const redis = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: null });
let ok = 0;
let failed = 0;
let finish!: () => void;
const finished = new Promise<void>((resolve) => (finish = resolve));
const worker = new Worker<PatchJobData>(
  queueName,
  async (job) => {
    const body = JSON.stringify(patchBody(job.data.record));
    const answer = await fetch(`${base}${patchPath(job.data.record)}`, { method: 'PATCH', headers, body });
    await answer.arrayBuffer();
    await redis.hset(resultsKey, job.id!, String(answer.status));
    if (!answer.ok) throw new Error(`PATCH answered ${answer.status}`);
  },
  { connection: redis, prefix: env('QUEUE_PREFIX'), concurrency },
);
const tally = () => {
  if (ok + failed >= jobs) finish();
};
worker.on('completed', () => {
  ok++;
  tally();
});
worker.on('failed', () => {
  failed++;
  tally();
});
await finished;
await worker.close();
redis.disconnect();
process.stdout.write(`${JSON.stringify({ ok, failed })}\n`);
