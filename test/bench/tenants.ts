/**
 * Tenants bench (issue 12): 1, 10 and 50 tenants, each at Intune's write budget (scaled), sent by one worker fleet.
 * Aggregate PATCH rate against the ideal (the sum of the budgets, or the fleet's measured ceiling without a budget,
 * whichever is lower), Redis commands per PATCH (INFO commandstats of a private redis-server), and the spread of
 * the tenants' finish times. Then 50 tenants with one holding a large backlog: what a PATCH costs in Redis commands
 * then, and when the 49 small tenants finish.
 */
import { randomUUID } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { loadConfig, tenantDirectory } from '../../src/config.js';
import { importRun } from '../../src/producer/import-run.js';
import { PatchQueues } from '../../src/queue/queues.js';
import { ResultStore } from '../../src/results/store.js';
import { PRE_IMPORT_VALUES, startSimulator, type GraphSimulator, type TokenGrant } from '../../src/simulator/index.js';
import { readCsv } from '../../src/sources/csv.js';
import { startPrivateRedis } from '../support/private-redis.js';
import type { ScaledBudget } from './budget-scale.js';
import { assertBuilt, BIN, fmtInt, fmtRatio, fmtSeconds, log, markdownTable, REPO_ROOT, sleep } from './support.js';

export interface TenantsBenchOptions {
  rowsPerTenant: number;
  tenantCounts: number[];
  /** Rows queued for one tenant in the backlog scenario (100,000 in the issue). */
  backlog: number;
  workers: number;
  concurrency: number;
}

const HEADER = 'configurationId,userStatusId,status,lastReportedDateTime,tenantId';
const csvOf = (tenant: string, rows: number) =>
  [
    HEADER,
    ...Array.from(
      { length: rows },
      (_, i) =>
        `cfg-${i % 13},user-${i},${i % 2 ? 'compliant' : 'nonCompliant'},2026-11-20T10:00:${String(i % 60).padStart(2, '0')}Z,${tenant}`,
    ),
  ].join('\n') + '\n';

async function commandCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info' && m[1] !== 'config') calls += Number(m[2]);
  return calls;
}

interface Scenario {
  tenants: string[];
  env: Record<string, string>;
  dir: string;
  sim: GraphSimulator;
}

async function setUp(redisUrl: string, n: number, budget: ScaledBudget | undefined, rateLimit: string): Promise<Scenario> {
  const tenants = Array.from({ length: n }, () => randomUUID());
  const tokens: Record<string, TokenGrant> = {
    'sim-token': { tenantId: 'sim-tenant', appId: 'app', permissions: ['DeviceManagementConfiguration.ReadWrite.All'] },
  };
  tenants.forEach(
    (t, i) => (tokens[`tok-${i}`] = { tenantId: t, appId: 'app', permissions: ['DeviceManagementConfiguration.ReadWrite.All'] }),
  );
  const sim = await startSimulator(
    budget ? { tokens, budget: budget.simulator, anyBudget: budget.anySimulator } : { tokens, budget: false },
  );
  const dir = await mkdtemp(join(tmpdir(), 'csync-bench-tenants-'));
  const file = join(dir, 'tenants.json');
  await writeFile(
    file,
    JSON.stringify({
      tenants: Object.fromEntries(tenants.map((t, i) => [t, { accessToken: `tok-${i}`, rateLimit, graphBaseUrl: sim.url }])),
    }),
  );
  const env = {
    REDIS_URL: redisUrl,
    SYNC_PREFIX: `bench-tenants-${randomUUID().slice(0, 8)}`,
    GRAPH_BASE_URL: sim.url,
    GRAPH_ACCESS_TOKEN: 'sim-token',
    SYNC_TENANTS_FILE: file,
    SYNC_LOG_LEVEL: 'warn',
  };
  return { tenants, env, dir, sim };
}

/**
 * Seeds, in each tenant's Graph, the user statuses csvOf names, as before any import: Graph's PATCH never creates.
 * After every sim.reset().
 */
function seedTenants(s: Scenario, rowsOf: (i: number) => number): void {
  s.tenants.forEach((tenantId, t) => {
    s.sim.drift(
      Array.from({ length: rowsOf(t) }, (_, i) => ({
        tenantId,
        configId: `cfg-${i % 13}`,
        userStatusId: `user-${i}`,
        values: { ...PRE_IMPORT_VALUES },
      })),
    );
  });
}

async function queueAll(redis: Redis, s: Scenario, rowsOf: (i: number) => number): Promise<string[]> {
  const config = loadConfig(s.env);
  const queues = new PatchQueues(redis, config.prefix);
  const store = new ResultStore(redis, config.prefix);
  try {
    const runIds: string[] = [];
    for (let i = 0; i < s.tenants.length; i++) {
      const runId = `t${i}`;
      await importRun(store, queues, {
        runId,
        rows: readCsv(Readable.from([csvOf(s.tenants[i], rowsOf(i))])),
        sourceLabel: 'bench',
        tenants: tenantDirectory(config),
      });
      runIds.push(runId);
    }
    return runIds;
  } finally {
    await queues.close();
  }
}

function spawnWorkers(count: number, env: Record<string, string>, concurrency: number, untilIdle: boolean): ChildProcess[] {
  assertBuilt();
  return Array.from({ length: count }, () =>
    spawn(
      process.execPath,
      [BIN, 'worker', ...(untilIdle ? ['--until-idle'] : []), '--no-scheduled-imports', '--concurrency', String(concurrency)],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    ),
  );
}
const exited = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : c.once('close', () => resolve())));

/** PATCH times per tenant from the simulator's log (successful ones). */
function patchTimes(sim: GraphSimulator, tenants: string[]): Map<string, number[]> {
  const by = new Map(tenants.map((t) => [t, [] as number[]]));
  for (const e of sim.requestLog()) if (e.method === 'PATCH' && e.status === 200 && e.tenantId) by.get(e.tenantId)?.push(e.at);
  return by;
}

export async function tenantsBench(budget: ScaledBudget, options: TenantsBenchOptions): Promise<string> {
  const privateRedis = await startPrivateRedis();
  const redis = new Redis(privateRedis.url, { maxRetriesPerRequest: null });
  const rows: (string | number)[][] = [];
  try {
    for (const n of options.tenantCounts) {
      const total = n * options.rowsPerTenant;
      // The fleet's ceiling: the same rows, no budget anywhere.
      log(`tenants: ${n} tenants, ceiling run without a budget (${fmtInt(total)} rows)...`);
      const free = await setUp(privateRedis.url, n, undefined, '1000000/s');
      await queueAll(redis, free, () => options.rowsPerTenant);
      free.sim.reset();
      seedTenants(free, () => options.rowsPerTenant);
      await Promise.all(spawnWorkers(options.workers, free.env, options.concurrency, true).map(exited));
      const freeTimes = [...patchTimes(free.sim, free.tenants).values()].flat().sort((a, b) => a - b);
      const ceiling = (freeTimes.length - 1) / ((freeTimes[freeTimes.length - 1] - freeTimes[0]) / 1000);
      await free.sim.close();
      await rm(free.dir, { recursive: true, force: true });

      log(`tenants: ${n} tenants at ${budget.ourRateLimit} each...`);
      const s = await setUp(privateRedis.url, n, budget, budget.ourRateLimit);
      await queueAll(redis, s, () => options.rowsPerTenant);
      s.sim.reset();
      seedTenants(s, () => options.rowsPerTenant);
      await redis.config('RESETSTAT');
      await Promise.all(spawnWorkers(options.workers, s.env, options.concurrency, true).map(exited));
      const calls = await commandCalls(redis);
      const times = patchTimes(s.sim, s.tenants);
      const all = [...times.values()].flat().sort((a, b) => a - b);
      const first = all[0];
      const rate = (all.length - 1) / ((all[all.length - 1] - first) / 1000);
      const finishes = [...times.values()].map((t) => Math.max(...t) - first);
      const ideal = Math.min(n * budget.ratePerSecond, ceiling);
      const c = s.sim.counters();
      rows.push([
        n,
        fmtInt(total),
        `${(n * budget.ratePerSecond).toFixed(0)}/s`,
        `${ceiling.toFixed(0)}/s`,
        `${rate.toFixed(0)}/s`,
        fmtRatio(rate / ideal),
        (calls / c.requests).toFixed(1),
        `${fmtSeconds(Math.min(...finishes))} – ${fmtSeconds(Math.max(...finishes))}`,
        `${c.byStatus['429'] ?? 0} / ${fmtInt(c.requests)}`,
      ]);
      log(`tenants: ${JSON.stringify(rows[rows.length - 1])}`);
      await s.sim.close();
      await rm(s.dir, { recursive: true, force: true });
      await redis.flushall();
    }

    // 50 tenants, one of them with a large backlog: Redis commands per PATCH while it is queued, and the small tenants' finish.
    const n = Math.max(...options.tenantCounts);
    log(`tenants: ${n} tenants, tenant 0 holding ${fmtInt(options.backlog)} queued rows...`);
    const s = await setUp(privateRedis.url, n, budget, budget.ourRateLimit);
    const runIds = await queueAll(redis, s, (i) => (i === 0 ? options.backlog : options.rowsPerTenant));
    s.sim.reset();
    seedTenants(s, (i) => (i === 0 ? options.backlog : options.rowsPerTenant));
    await redis.config('RESETSTAT');
    const workers = spawnWorkers(options.workers, s.env, options.concurrency, false);
    const store = new ResultStore(redis, loadConfig(s.env).prefix);
    const deadline = Date.now() + 600_000;
    for (;;) {
      const statuses = await Promise.all(runIds.slice(1).map((r) => store.status(r)));
      if (statuses.every((st) => st?.finishedAt) || Date.now() > deadline) break;
      await sleep(250);
    }
    const calls = await commandCalls(redis);
    const c = s.sim.counters();
    const times = patchTimes(s.sim, s.tenants);
    const first = Math.min(...[...times.values()].flat());
    const smallFinishes = s.tenants.slice(1).map((t) => Math.max(...times.get(t)!) - first);
    const big = times.get(s.tenants[0])!;
    const bigRate = (big.length - 1) / ((Math.max(...big) - Math.min(...big)) / 1000);
    const backlogLeft = (await store.status(runIds[0]))?.pending ?? 0;
    workers.forEach((w) => w.kill('SIGTERM'));
    await Promise.all(workers.map(exited));
    await s.sim.close();
    await rm(s.dir, { recursive: true, force: true });
    await redis.flushall();

    const table = markdownTable(
      [
        'Tenants',
        'Rows',
        'Sum of budgets',
        'Fleet ceiling (no budget)',
        'Aggregate PATCH rate',
        'Ratio to ideal',
        'Redis commands per PATCH',
        'Tenants finished (first – last)',
        '429s / PATCHes',
      ],
      rows,
    );
    return [
      `### Tenants: ${options.tenantCounts.join(', ')} tenants at Intune's write ` +
        `budget × ${budget.scale} each (${budget.ourRateLimit} per ` +
        `tenant), ${options.workers} worker process(es), ` +
        `concurrency ${options.concurrency} per tenant`,
      '',
      table,
      '',
      `Ideal = the lower of the sum of the tenants' budgets and the fleet's ceiling (the same rows and workers with no budget anywhere). ` +
        (`The rate runs from the first to the last successful PATCH the simulator saw; ` +
          `finish times are each tenant's last PATCH after the first PATCH of all. `) +
        (`Redis commands are INFO commandstats calls (all commands but INFO and CONFIG) of ` +
          `a private redis-server while the workers ran (start-up and the idle check ` +
          `included), divided by PATCH requests.`),
      '',
      `With ${n} tenants and tenant 0 holding ${fmtInt(options.backlog)} queued rows: ` +
        `**${(calls / c.requests).toFixed(1)} Redis commands per PATCH** ` +
        `(${fmtInt(calls)} commands, ${fmtInt(c.requests)} PATCHes, until the ${n - 1} ` +
        `small tenants had finished); ` +
        (`the ${n - 1} small tenants (${options.rowsPerTenant} rows each) finished ` +
          `between ${fmtSeconds(Math.min(...smallFinishes))} ` +
          `and ${fmtSeconds(Math.max(...smallFinishes))}; `) +
        (`tenant 0 sent ${bigRate.toFixed(1)}/s meanwhile (budget ${budget.ratePerSecond}` +
          `/s) and still had ${fmtInt(backlogLeft)} rows queued.`),
    ].join('\n');
  } finally {
    redis.disconnect();
    await privateRedis.stop();
  }
}
