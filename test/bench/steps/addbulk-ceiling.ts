/**
 * The queue's own ceiling: BullMQ addBulk of `rows` jobs into the patch queue, in chunks of `chunk`,
 * each job with the same options and a payload of the same shape and size as an imported row's.
 * Usage: SYNC_PREFIX=... node --import tsx test/bench/steps/addbulk-ceiling.ts <rows> <chunk>; prints {"jobs":n}.
 */
import { connectRedis } from '../../../src/queue/connection.js';
import { createPatchQueue } from '../../../src/queue/queues.js';
import { benchJob } from '../data.js';

const rows = Number(process.argv[2]);
const chunk = Number(process.argv[3]);
if (!(rows > 0 && chunk > 0)) throw new Error('usage: addbulk-ceiling.ts <rows> <chunk>');
const prefix = process.env.SYNC_PREFIX!;
const redis = await connectRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'command');
const queue = createPatchQueue(redis, prefix);
const runId = '20261120T100000Z-c0ffee';

let added = 0;
for (let start = 0; start < rows; start += chunk) {
  const jobs = [];
  const now = Date.now();
  for (let i = start; i < Math.min(rows, start + chunk); i++) jobs.push(benchJob(i, runId, now));
  await queue.addBulk(jobs);
  added += jobs.length;
}
await queue.close();
redis.disconnect();
process.stdout.write(`${JSON.stringify({ jobs: added })}\n`);
