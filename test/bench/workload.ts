/**
 * A day's real workload (issue 4): yesterday's export was sent; today's differs in a few percent of rows.
 * Time to finish today's run (import + workers until idle) against sending every row at the budget.
 */
import type { Redis } from 'ioredis';
import { ResultStore } from '../../src/results/store.js';
import type { GraphSimulator } from '../../src/simulator/index.js';
import type { ScaledBudget } from './budget-scale.js';
import { benchRow, ensureCsv, seedBenchRows, simulatorHolds } from './data.js';
import { runOurFleet, runWorkers, simFigures } from './fleet.js';
import { markRunSent } from './mark-sent.js';
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

export interface WorkloadOptions {
  rows: number;
  changedPercent: number;
  /** When > 0, also measure sending this many rows in full (every row sent), to check the computed figure. */
  fullSample: number;
}

const YESTERDAY = 19;
const TODAY = 20;

interface ImportJson {
  runId: string;
  enqueued: number;
  unchanged: number;
}

export async function workloadBench(redis: Redis, sim: GraphSimulator, budget: ScaledBudget, options: WorkloadOptions): Promise<string> {
  // Spread evenly through the file, at a resolution of 0.1 %.
  const isChanged = (i: number) => (i * 37) % 1000 < options.changedPercent * 10;
  const todayRow = (i: number) => (isChanged(i) ? benchRow(i, TODAY, true) : benchRow(i, YESTERDAY));
  const yesterday = await ensureCsv({ name: 'workload-yesterday', rows: options.rows, rowAt: (i) => benchRow(i, YESTERDAY) });
  const today = await ensureCsv({ name: `workload-today-${options.changedPercent}pct`, rows: options.rows, rowAt: todayRow });
  let changedCount = 0;
  for (let i = 0; i < options.rows; i++) if (isChanged(i)) changedCount++;

  const prefix = benchPrefix('workload');
  const env = {
    REDIS_URL,
    SYNC_PREFIX: prefix,
    GRAPH_BASE_URL: sim.url,
    GRAPH_ACCESS_TOKEN: 'sim-token',
    SYNC_RATE_LIMIT: budget.ourRateLimit,
  };
  let result: {
    importMs: number;
    doneMs: number;
    exitMs: number;
    sent: number;
    throttled: number;
    requests: number;
    lost: number;
    extraPatches: number;
    marked: number;
  };
  try {
    log(`workload: importing yesterday's ${fmtInt(options.rows)} rows and marking them sent...`);
    const first = await runNode(cliArgs('import', yesterday.path, '--json', '--no-progress'), { env });
    assertExit(first, "yesterday's import");
    const marked = await markRunSent(redis, prefix, lastJson<ImportJson>(first).runId);

    sim.reset();
    seedBenchRows(sim, options.rows, todayRow);
    log(`workload: today's import (${fmtInt(changedCount)} of ${fmtInt(options.rows)} rows changed) and one worker process until idle...`);
    const startedAt = Date.now();
    const second = await runNode(cliArgs('import', today.path, '--json', '--no-progress'), { env });
    assertExit(second, "today's import");
    const summary = lastJson<ImportJson>(second);
    if (summary.enqueued !== changedCount)
      throw new Error(`today's import queued ${summary.enqueued} rows, expected the ${changedCount} changed ones`);
    const workers = await runWorkers(1, env, (changedCount / budget.ratePerSecond) * 10_000 + 120_000);
    const status = await new ResultStore(redis, prefix).status(summary.runId);
    if (!status?.finishedAt) throw new Error(`today's run did not finish: ${JSON.stringify(status)}`);

    const state = sim.state();
    let lost = 0;
    for (let i = 0; i < options.rows; i++) if (isChanged(i) && !simulatorHolds(state, todayRow(i))) lost++;
    const c = sim.counters();
    const throttled = c.byStatus['429'] ?? 0;
    result = {
      importMs: second.wallMs,
      doneMs: status.finishedAt - startedAt,
      exitMs: workers.exitedAt - startedAt,
      sent: status.succeeded,
      throttled,
      requests: c.requests,
      lost,
      // Keys the simulator holds that are not changed rows: PATCHes that should not have been sent.
      extraPatches: Object.keys(state).length - (changedCount - lost),
      marked,
    };
    log(`workload: ${JSON.stringify(result)}`);
  } finally {
    await deletePrefix(redis, prefix);
  }

  const allMs = (options.rows / budget.ratePerSecond) * 1000;
  const rows: (string | number)[][] = [
    [
      `Send all ${fmtInt(options.rows)} rows at ${budget.ratePerSecond}/s (computed: rows ÷ budget)`,
      fmtInt(options.rows),
      fmtSeconds(allMs),
      '1.00x',
      '–',
      '–',
    ],
  ];
  if (options.fullSample > 0) {
    const sample = await ensureCsv({
      name: `workload-today-${options.changedPercent}pct-sample`,
      rows: options.fullSample,
      rowAt: todayRow,
    });
    log(`workload: measuring a full send of a ${fmtInt(options.fullSample)}-row sample...`);
    const run = await runOurFleet(redis, sim, budget, sample.path, 1, ['--full'], { rows: options.fullSample, rowAt: todayRow });
    const { firstPatchAt, throttled } = simFigures(sim);
    // Scaled by the sending rate alone: the sample's fixed costs (process start-up) would not grow with the rows.
    const sendMs = run.status.finishedAt! - firstPatchAt;
    const extrapolated = (sendMs / options.fullSample) * options.rows;
    rows.push([
      `Send all rows, measured: \`import --full\` of a ${fmtInt(options.fullSample)}` +
        `-row sample + 1 worker, its sending rate applied to ${fmtInt(options.rows)} rows`,
      fmtInt(options.rows),
      `${fmtSeconds(extrapolated)} (sample: ${fmtSeconds(sendMs)} ` +
        `sending, ${fmtSeconds(run.status.finishedAt! - run.startedAt)} with start-up)`,
      fmtRatio(extrapolated / allMs),
      fmtInt(throttled),
      '–',
    ]);
  }
  rows.push([
    `compliance-sync: import today's file + 1 worker process until idle, only the changed rows sent`,
    fmtInt(result.sent),
    `${fmtSeconds(result.doneMs)} (import ${fmtSeconds(result.importMs)})`,
    fmtRatio(result.doneMs / allMs),
    `${fmtInt(result.throttled)} of ${fmtInt(result.requests)}`,
    `${fmtInt(result.lost)} lost, ${fmtInt(result.extraPatches)} unchanged rows sent`,
  ]);
  const idealChangedMs = (changedCount / budget.ratePerSecond) * 1000;
  return [
    `### A day's workload: ${fmtInt(options.rows)} rows, ${options.changedPercent}% ` +
      `(${fmtInt(changedCount)}) changed since yesterday, budget × ${budget.scale} ` +
      `(${budget.ratePerSecond} writes/s)`,
    '',
    markdownTable(['Approach', 'Rows sent', 'Time to finish', 'vs sending all', '429s', 'Check'], rows),
    '',
    `"Yesterday" was seeded honestly but without sending: yesterday's file was ` +
      `imported with the CLI into the same prefix, then its ${fmtInt(result.marked)} ` +
      `rows were marked as sent ` +
      `(each row's "fingerprint|version" written to \`P:fingerprints\`, as a successful PATCH records it; its queued jobs deleted). ` +
      `Today's file repeats yesterday's rows byte for byte except the changed ones (new status, device count and lastReportedDateTime). ` +
      (`Time to finish runs from starting today's import to the run's last row outcome ` +
        `(the worker process exits ${fmtSeconds(result.exitMs - result.doneMs)} later). `) +
      `Sending just the ${fmtInt(changedCount)} changed rows takes at least ${fmtSeconds(idealChangedMs)} at this budget.`,
  ].join('\n');
}
