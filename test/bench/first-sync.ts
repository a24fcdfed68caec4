/**
 * First sync of an existing tenant (issue 11): Graph already holds most rows, Redis knows nothing.
 * `import --reconcile` + one worker against sending every row, at the same scaled budget as the other parts.
 */
import type { Redis } from 'ioredis';
import { ResultStore } from '../../src/results/store.js';
import type { DriftChange, GraphSimulator } from '../../src/simulator/index.js';
import type { ScaledBudget } from './budget-scale.js';
import { benchRow, ensureCsv, seedBenchRows, simulatorHolds, simulatorKey, type BenchRow } from './data.js';
import { runWorkers } from './fleet.js';
import {
  assertExit,
  benchPrefix,
  cliArgs,
  deletePrefix,
  fmtInt,
  fmtRatio,
  fmtSeconds,
  lastJson,
  log,
  markdownTable,
  REDIS_URL,
  runNode,
} from './support.js';

export interface FirstSyncOptions {
  rows: number;
  heldPercent: number;
}

function seedChange(r: BenchRow): DriftChange {
  const [collection, configId, userStatusId] = simulatorKey(r).split('/') as [DriftChange['collection'], string, string];
  const { userDisplayName, devicesCount, status, lastReportedDateTime, userPrincipalName } = r;
  return { collection, configId, userStatusId, values: { userDisplayName, devicesCount, status, lastReportedDateTime, userPrincipalName } };
}

export async function firstSyncBench(redis: Redis, sim: GraphSimulator, budget: ScaledBudget, options: FirstSyncOptions): Promise<string> {
  // Spread evenly through the file, at a resolution of 0.1 %.
  const isHeld = (i: number) => (i * 37) % 1000 >= (100 - options.heldPercent) * 10;
  const file = await ensureCsv({ name: 'workload-yesterday', rows: options.rows, rowAt: (i) => benchRow(i, 19) });
  let missingCount = 0;
  for (let i = 0; i < options.rows; i++) if (!isHeld(i)) missingCount++;

  sim.reset();
  const seed: DriftChange[] = [];
  for (let i = 0; i < options.rows; i++) if (isHeld(i)) seed.push(seedChange(benchRow(i, 19)));
  sim.drift(seed);
  // The rest Graph holds as before any import (its PATCH never creates): the import finds them different and sends them.
  const notHeld: number[] = [];
  for (let i = 0; i < options.rows; i++) if (!isHeld(i)) notHeld.push(i);
  seedBenchRows(sim, notHeld.length, (k) => benchRow(notHeld[k], 19));
  log(
    `first-sync: Graph holds ${fmtInt(seed.length)} of ${fmtInt(options.rows)} ` +
      `rows; import --reconcile into an empty prefix and one worker process until idle...`,
  );

  const prefix = benchPrefix('first-sync');
  const env = {
    REDIS_URL,
    SYNC_PREFIX: prefix,
    GRAPH_BASE_URL: sim.url,
    GRAPH_ACCESS_TOKEN: 'sim-token',
    SYNC_RATE_LIMIT: budget.ourRateLimit,
    SYNC_READ_RATE_LIMIT: budget.ourReadRateLimit,
  };
  let result: {
    importMs: number;
    doneMs: number;
    exitMs: number;
    sent: number;
    unchanged: number;
    reads: number;
    readThrottled: number;
    throttled: number;
    lost: number;
  };
  try {
    const startedAt = Date.now();
    const imported = await runNode(cliArgs('import', file.path, '--reconcile', '--json', '--no-progress'), { env });
    assertExit(imported, 'import --reconcile');
    const summary = lastJson<{ runId: string; enqueued: number; unchanged: number }>(imported);
    if (summary.enqueued !== missingCount)
      throw new Error(`import --reconcile queued ${summary.enqueued} rows, expected the ${missingCount} Graph lacks`);
    const workers = await runWorkers(1, env, (missingCount / budget.ratePerSecond) * 10_000 + 120_000);
    const status = await new ResultStore(redis, prefix).status(summary.runId);
    if (!status?.finishedAt) throw new Error(`the run did not finish: ${JSON.stringify(status)}`);
    const state = sim.state();
    let lost = 0;
    for (let i = 0; i < options.rows; i++) if (!simulatorHolds(state, benchRow(i, 19))) lost++;
    const c = sim.counters();
    result = {
      importMs: imported.wallMs,
      doneMs: status.finishedAt - startedAt,
      exitMs: workers.exitedAt - startedAt,
      sent: c.requests,
      unchanged: status.unchanged,
      reads: c.reads,
      readThrottled: c.readsByStatus['429'] ?? 0,
      throttled: c.byStatus['429'] ?? 0,
      lost,
    };
    log(`first-sync: ${JSON.stringify(result)}`);
  } finally {
    await deletePrefix(redis, prefix);
  }

  const allMs = (options.rows / budget.ratePerSecond) * 1000;
  const writesMs = (missingCount / budget.ratePerSecond) * 1000;
  const rows: (string | number)[][] = [
    [
      `Send all ${fmtInt(options.rows)} rows at ${budget.ratePerSecond}/s (computed: ` +
        `rows ÷ budget; measured at 1.00x in the day's workload table)`,
      fmtInt(options.rows),
      '0',
      fmtSeconds(allMs),
      '1.00x',
      '–',
      '–',
    ],
    [
      `Only the ${fmtInt(missingCount)} rows Graph lacks, writes alone (computed)`,
      fmtInt(missingCount),
      '0',
      fmtSeconds(writesMs),
      fmtRatio(writesMs / allMs),
      '–',
      '–',
    ],
    [
      `compliance-sync: \`import --reconcile\` into an empty prefix + 1 worker process until idle`,
      fmtInt(result.sent),
      `${fmtInt(result.reads)} (${fmtInt(result.readThrottled)} got 429)`,
      `${fmtSeconds(result.doneMs)} (import with reads ${fmtSeconds(result.importMs)})`,
      fmtRatio(result.doneMs / allMs),
      `${fmtInt(result.throttled)}`,
      `${fmtInt(result.lost)} rows not held by Graph at the end; ${fmtInt(result.unchanged)} unchanged`,
    ],
  ];
  return [
    `### First sync of an existing tenant: ${fmtInt(options.rows)} rows, Graph ` +
      `already holds ${options.heldPercent}% (${fmtInt(options.rows - missingCount)}), ` +
      `Redis empty, budget × ${budget.scale} (${budget.ratePerSecond} writes/s, ` +
      `reads ${budget.ourReadRateLimit})`,
    '',
    markdownTable(['Approach', 'PATCHes', 'GET pages', 'Time to finish', 'vs sending all', '429s on writes', 'Check'], rows),
    '',
    `Graph's state was seeded in the simulator with its drift call (the in-process ` +
      `form of POST /_sim/drift, not through Graph), holding exactly the file's values ` +
      `for ${options.heldPercent}% of its rows spread evenly through the file, and the ` +
      `rest as before any import (seeded: Graph's PATCH never creates). ` +
      (`The simulator throttles reads on Intune's "any request" limits scaled ` +
        `× ${budget.scale} (per app 1,000, per tenant 2,000 per ${20 / budget.scale} s; ` +
        `writes count there too), and answers at most 1,000 user statuses per page. `) +
      (`Time to finish runs from starting the import (which reads every configuration ` +
        `once) to the run's last row outcome (the worker process ` +
        `exits ${fmtSeconds(result.exitMs - result.doneMs)} later). `) +
      `Goal: at most 0.05 × sending all.`,
  ].join('\n');
}
