import { Command } from 'commander';
import { createReadStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config.js';
import type { RedisClient, RunStatus } from '../interfaces.js';
import { createLogger } from '../logger.js';
import { routeConsoleThroughLogger } from '../console-routing.js';
import { importRun } from '../producer/import-run.js';
import { RowChecker } from '../producer/validate-rows.js';
import { connectRedis, deleteKeysWithPrefix, redisTargetOf, scanKeysWithPrefix } from '../queue/connection.js';
import { startPatchWorker } from '../../jobs/patch-worker.js';
import { startSimulator } from '../simulator/index.js';
import { readRows } from '../sources/index.js';
import { formatStatus } from './status.js';
import { EXIT, OperatorError } from '../errors.js';
import { redisKeys } from '../redis-layout.js';
import { demoMayClear, demoPrefixOf, demoRunId } from './demo-prefix.js';

const SAMPLE = fileURLToPath(new URL('./demo-sample.csv', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const demoCommand = new Command('demo')
  .description('Run the whole pipeline on a sample export against a local Graph simulator, twice, and print the summary')
  .option('--rows-file <path>', 'use another CSV instead of the bundled sample', SAMPLE)
  .addHelpText(
    'after',
    '\nUses REDIS_URL (default redis://127.0.0.1:6379), or the Redis Cluster of SYNC_REDIS_CLUSTER, under the key prefix ' +
      '"<SYNC_PREFIX>-demo" (default "csync-demo"), which it clears first (only when what is there is a demo\'s).\n' +
      "The simulator's budget is Intune's scaled 10x (100 PATCH per 2 s). Exit codes: 0 the demo ran as expected, 1 otherwise.",
  )
  .action(async (flags: { rowsFile: string }) => {
    const demoPrefix = demoPrefixOf(process.env.SYNC_PREFIX);
    const sim = await startSimulator({
      missingConfigurations: ['cfg-retired-99'],
      budget: { perApp: { limit: 100, windowMs: 2000 }, perTenant: { limit: 200, windowMs: 2000 } },
      faults: { rate503: 0.05 },
      seed: 42,
    });
    const config = loadConfig({
      ...process.env,
      GRAPH_BASE_URL: sim.url,
      GRAPH_ACCESS_TOKEN: 'sim-token',
      SYNC_PREFIX: demoPrefix,
      SYNC_RATE_LIMIT: '100/2s',
      SYNC_LOG_LEVEL: process.env.SYNC_LOG_LEVEL ?? 'warn',
    });
    const logger = createLogger(config.logLevel, { role: 'demo' }, config.logFormat);
    routeConsoleThroughLogger(logger);
    const redis = await connectRedis(redisTargetOf(config), 'service').catch(async (err: unknown) => {
      await sim.close();
      throw err;
    });
    try {
      await clearDemoPrefix(redis, config.prefix);
    } catch (err) {
      redis.disconnect();
      await sim.close();
      throw err;
    }
    const worker = await startPatchWorker(config, redis, logger, { concurrency: 5 });
    const out = (text: string) => process.stdout.write(`${text}\n`);
    out(`Graph simulator at ${sim.url} (budget 100 PATCH / 2 s, 5% of requests answer 503)`);
    // Graph's PATCH updates and never creates: the tenant must already hold the user statuses the export names.
    const seeded = sim.seed(readFileSync(flags.rowsFile, 'utf8'));
    const beforeImport = sim.state();
    out(`  seeded ${seeded.created} user statuses the export names, as Graph holds them before a first sync`);

    const runOnce = async (runId: string): Promise<RunStatus> => {
      const mapColumn = new RowChecker().mapColumn;
      const started = Date.now();
      await importRun(worker.store, worker.queue, {
        runId,
        rows: readRows(createReadStream(flags.rowsFile), 'csv', mapColumn),
        sourceLabel: flags.rowsFile,
      });
      let status = (await worker.store.status(runId))!;
      while (status.state === 'running') {
        await sleep(100);
        status = (await worker.store.status(runId))!;
      }
      out(`\n${formatStatus(status)}\n  wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return status;
    };

    let ok: boolean;
    try {
      out(`\n== 1. first import of ${flags.rowsFile}`);
      const first = await runOnce(demoRunId('first', Date.now()));
      for await (const row of worker.store.iterateRows(first.runId, ['rejected', 'failed']))
        out(`  line ${row.line} ${row.state}: ${row.reason}`);
      const afterFirst = sim.counters();
      const written = changedSince(beforeImport, sim.state());
      out(
        `  simulator: ${afterFirst.requests} PATCH requests, ${afterFirst.applied} ` +
          `applied, answers ${JSON.stringify(afterFirst.byStatus)}; ${written} ` +
          `of ${Object.keys(sim.state()).length} user statuses written`,
      );

      out('\n== 2. the same export again: unchanged rows are not sent');
      const second = await runOnce(demoRunId('second', Date.now()));
      const sentAgain = sim.counters().requests - afterFirst.requests;
      out(`  simulator: ${sentAgain} PATCH requests for this run`);
      ok = first.succeeded === written && second.unchanged === first.succeeded && second.succeeded === 0;
      out(
        ok
          ? '\ndemo OK: every valid row is in the simulator, and the re-import sent only what had not succeeded'
          : '\ndemo FAILED: the figures above do not add up',
      );
    } finally {
      await worker.close(5000);
      redis.disconnect();
      await sim.close();
    }
    process.exitCode = ok ? EXIT.ok : EXIT.failure;
  });

/**
 * Clears the demo's prefix, when what is there is a demo's (demoMayClear), and marks it as a demo's. Anything else
 * stops the demo with exit 1, every key kept.
 */
async function clearDemoPrefix(redis: RedisClient, prefix: string): Promise<void> {
  const keys = redisKeys(prefix);
  let holdsKeys = false;
  for await (const batch of scanKeysWithPrefix(redis, prefix)) {
    holdsKeys = batch.length > 0;
    if (holdsKeys) break;
  }
  const [marked, runIds] = await Promise.all([redis.exists(keys.demoMarker), redis.zrange(keys.runs, '0', '-1')]);
  if (!demoMayClear({ holdsKeys, marked: marked === 1, runIds })) {
    throw new OperatorError(
      `keys under the demo's prefix "${prefix}" are not a demo's (no ${keys.demoMarker}, and runs other than the demo's): ` +
        'the demo clears its prefix first, so it stops here and keeps them. ' +
        'Set SYNC_PREFIX to another name (the demo runs under "<SYNC_PREFIX>-demo").',
    );
  }
  await deleteKeysWithPrefix(redis, prefix);
  await redis.set(keys.demoMarker, '1');
}

/** How many user statuses hold other values than they did in `before` (the seeded, pre-import state). */
function changedSince(before: Record<string, Record<string, unknown>>, after: Record<string, Record<string, unknown>>): number {
  return Object.entries(after).filter(([key, value]) => JSON.stringify(before[key]) !== JSON.stringify(value)).length;
}
