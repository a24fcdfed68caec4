/**
 * Makes an imported run look sent, without sending: for every waiting row, records in P:fingerprints what a
 * successful PATCH would have recorded (recordOutcome-5.lua: "<fingerprint>|<version>", only while the row is the
 * key's newest update), then deletes the run's waiting jobs. Versions come from the run's rows and fingerprints from
 * their jobs (a waiting row does not repeat its job's fingerprint), as the project's own import computed them, so a
 * later import of the same data finds every row unchanged. The rows themselves stay `queued`.
 */
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, jobIdFor, keyDigest, redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { deletePrefix } from './support.js';

export async function markRunSent(redis: Redis, prefix: string, runId: string): Promise<number> {
  const store = new ResultStore(redis, prefix);
  const keys = redisKeys(prefix);
  let marked = 0;
  let batch: { key: string; version: string; jobId: string }[] = [];
  const write = async () => {
    if (batch.length === 0) return;
    const pipeline = redis.pipeline();
    for (const b of batch) pipeline.hget(`${prefix}:${QUEUE_NAMES.patch}:${b.jobId}`, 'data');
    const jobs = ((await pipeline.exec()) ?? []).map(([, data]) => JSON.parse(data as string) as { fingerprint: string });
    const fields = batch.map((b) => keyDigest(b.key));
    const latest = await redis.hmget(keys.latest, ...fields);
    const pairs = batch.flatMap((b, i) =>
      (latest[i] ?? '').split('|')[0] === b.version ? [fields[i], `${jobs[i].fingerprint}|${b.version}`] : [],
    );
    if (pairs.length > 0) await redis.hset(keys.fingerprints, ...pairs);
    marked += pairs.length / 2;
    batch = [];
  };
  for await (const row of store.iterateRows(runId, ['queued'], 5000)) {
    batch.push({ key: row.key, version: row.version!, jobId: jobIdFor(runId, row.line, row.generation ?? 0) });
    if (batch.length >= 5000) await write();
  }
  await write();
  // The jobs will never run: drop them (and their Redis memory) instead of sending.
  await deletePrefix(redis, `${prefix}:${QUEUE_NAMES.patch}`);
  return marked;
}
