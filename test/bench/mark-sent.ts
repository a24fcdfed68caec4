/**
 * Makes an imported run look sent, without sending: for every waiting row, records in P:fingerprints what a
 * successful PATCH would have recorded (record-outcome.lua: "<fingerprint>|<version>", only while the row is the
 * key's newest update), then deletes the run's waiting jobs. Rows and versions come from the run itself, as the
 * project's own import computed them, so a later import of the same data finds every row unchanged.
 */
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { deletePrefix } from './support.js';

export async function markRunSent(redis: Redis, prefix: string, runId: string): Promise<number> {
  const store = new ResultStore(redis, prefix);
  const keys = redisKeys(prefix);
  let marked = 0;
  let batch: { key: string; value: string; version: string }[] = [];
  const write = async () => {
    if (batch.length === 0) return;
    const latest = await redis.hmget(keys.latest, ...batch.map((b) => b.key));
    const pairs = batch.flatMap((b, i) => ((latest[i] ?? '').split('|')[0] === b.version ? [b.key, b.value] : []));
    if (pairs.length > 0) await redis.hset(keys.fingerprints, ...pairs);
    marked += pairs.length / 2;
    batch = [];
  };
  for await (const row of store.iterateRows(runId, ['queued'], 5000)) {
    batch.push({ key: row.key, value: `${row.fingerprint}|${row.version}`, version: row.version! });
    if (batch.length >= 5000) await write();
  }
  await write();
  // The jobs will never run: drop them (and their Redis memory) instead of sending.
  await deletePrefix(redis, `${prefix}:${QUEUE_NAMES.patch}`);
  return marked;
}
