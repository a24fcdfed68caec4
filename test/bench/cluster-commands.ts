/**
 * Redis commands per PATCH on a local 3-master Redis Cluster, split by where they land: the master holding our slot
 * ({P}: runs, rows, change detection, budget) and the master holding the patch queue's slot. docs/cluster.md
 * quotes it. Run: `node --import tsx test/bench/cluster-commands.ts [--rows 2000]`.
 * Counts, not times: the figures do not depend on how busy the machine is (except a few idle polls of BullMQ).
 */
import { parseArgs } from 'node:util';
import type { Cluster, Redis } from 'ioredis';
import { queuePrefix, QUEUE_NAMES } from '../../src/redis-layout.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
} from '../support/harness.js';
import { parseInfo } from '../../src/queue/redis-health.js';
import { PrivateCluster } from '../support/private-cluster.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '2000' } } });
const rows = Number(values.rows);

const cluster = await PrivateCluster.start(3);
process.env.TEST_REDIS_CLUSTER = cluster.seeds;
try {
  // A prefix whose slot and whose queue's slot are on different masters, so the split of the work shows.
  let t = await startTestEnv('bench-cluster');
  while (
    (await masterOf(t.redis as Cluster, t.prefix)) === (await masterOf(t.redis as Cluster, queuePrefix(t.prefix, QUEUE_NAMES.patch)))
  ) {
    await t.close();
    t = await startTestEnv('bench-cluster');
  }
  try {
    const path = await writeTemp(t, 'rows.csv', `${HEADER}\n${seededValidRows(t.sim, rows).join('\n')}\n`);
    const imported = await runCli(['import', path, '--json'], t.env);
    if (imported.code !== 0) throw new Error(imported.stderr);
    const { runId } = lastJsonLine<{ runId: string }>(imported.stdout);
    const redis = t.redis as Cluster;
    const masters = redis.nodes('master');
    const ours = await masterOf(redis, t.prefix);
    const queue = await masterOf(redis, queuePrefix(t.prefix, QUEUE_NAMES.patch));
    const name = (n: Redis) => `${n.options.host}:${n.options.port}`;
    await Promise.all(masters.map((n) => n.config('RESETSTAT')));
    const started = Date.now();
    const worker = await startInProcessWorker(t, { concurrency: 10 });
    const status = await waitForRun(t.redis, t.prefix, runId, 600_000);
    await worker.close();
    const seconds = (Date.now() - started) / 1000;
    const perNode = await Promise.all(
      masters.map(async (n) => ({
        node: name(n),
        stats: parseInfo(await n.info('commandstats')),
        total: Number(parseInfo(await n.info('stats')).total_commands_processed),
      })),
    );
    const patches = t.sim.counters().requests;
    console.log(`${rows} rows, ${status.succeeded} succeeded, ${patches} PATCHes in ${seconds.toFixed(1)} s (concurrency 10, no budget)`);
    console.log('| master | holds | commands | per PATCH | top commands |');
    console.log('|---|---|---:|---:|---|');
    for (const n of perNode) {
      const holds =
        [n.node === ours ? `our keys (${t.prefix})` : '', n.node === queue ? 'the patch queue' : ''].filter(Boolean).join(' and ') ||
        'nothing of this run';
      const top = Object.entries(n.stats)
        .map(([k, v]) => [k.replace('cmdstat_', ''), Number(/calls=(\d+)/.exec(v)?.[1] ?? 0)] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([k, v]) => `${k} ${(v / patches).toFixed(2)}`)
        .join(', ');
      console.log(`| ${n.node} | ${holds} | ${n.total} | ${(n.total / patches).toFixed(2)} | ${top} |`);
    }
    const total = perNode.reduce((a, n) => a + n.total, 0);
    console.log(`total: ${total} commands, ${(total / patches).toFixed(2)} per PATCH`);
  } finally {
    await t.close();
  }
} finally {
  await cluster.stop();
}

async function masterOf(redis: Cluster, key: string): Promise<string> {
  const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
  return redis.slots[slot][0];
}
