/**
 * Superseding bench (issue 20): a file imported into an empty Redis with no worker running, then the same keys with
 * every value changed imported over that queued backlog. Superseding must cost the same per row whatever the backlog:
 * the second import may take at most 1.2× the first. Both run on one private redis-server, so its command counts
 * (LREM: removing a job from BullMQ's wait list, O(backlog)) are the imports' own.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../support/private-redis.js';
import { benchRow, ensureCsv } from './data.js';
import { assertExit, cliArgs, fmtInt, fmtMB, fmtRatio, fmtSeconds, lastJson, log, markdownTable, runNode } from './support.js';
import type { ChildRun } from './support.js';

export interface SupersedeOptions {
  rows: number;
  /** (a)-then-(b) pairs, each on a fresh redis-server; the goal is judged on the median ratio (a busy machine is noisy). */
  pairs: number;
}

/** The goal of issue 20: the import over a queued backlog of the same size takes at most this many times the first. */
export const SUPERSEDE_GOAL_RATIO = 1.2;

interface ImportJson {
  runId: string;
  rows: number;
  enqueued: number;
  superseded: number;
}

interface CommandStat {
  calls: number;
  usec: number;
}

/** `cmdstat_<name>` of INFO commandstats (commands run inside Lua scripts included). */
function commandStat(info: string, name: string): CommandStat {
  const match = new RegExp(`^cmdstat_${name}:calls=(\\d+),usec=(\\d+)`, 'm').exec(info);
  return { calls: Number(match?.[1] ?? 0), usec: Number(match?.[2] ?? 0) };
}

interface Step {
  name: string;
  pair: number;
  run: ChildRun;
  /** CPU seconds (user + sys) of the import process: on a busy machine a steadier figure than its wall time. */
  importCpuSec: number;
  lrem: CommandStat;
  redisCpuSec: number;
  usedMemory: number;
}

export async function supersedeBench(options: SupersedeOptions): Promise<string> {
  const rows = options.rows;
  const older = await ensureCsv({ name: 'supersede', rows });
  // Every row's key again, reported a day later with another status and device count.
  const newer = await ensureCsv({ name: 'supersede-changed', rows, rowAt: (i) => benchRow(i, 21, true) });
  log(`supersede: ${fmtInt(rows)} rows, ${fmtMB(older.bytes)} each file, ${options.pairs} pair(s)`);
  const steps: Step[] = [];
  for (let pair = 1; pair <= options.pairs; pair++) steps.push(...(await measurePair(pair, rows, older.path, newer.path)));

  const ratios = Array.from({ length: options.pairs }, (_, i) => steps[2 * i + 1].run.wallMs / steps[2 * i].run.wallMs);
  const ratio = median(ratios);
  const pairLabel = (s: Step) => (options.pairs > 1 ? ` (pair ${s.pair})` : '');
  const table = markdownTable(
    ['Step', 'Rows', 'Wall time', 'Rows/s', 'LREM calls (their Redis time)', 'Import CPU', 'Redis CPU', 'Redis used_memory after'],
    steps.map((s) => [
      `${s.name}${pairLabel(s)}`,
      fmtInt(rows),
      fmtSeconds(s.run.wallMs),
      fmtInt(rows / (s.run.wallMs / 1000)),
      `${fmtInt(s.lrem.calls)} (${(s.lrem.usec / 1e6).toFixed(1)} s)`,
      `${s.importCpuSec.toFixed(1)} s`,
      `${s.redisCpuSec.toFixed(1)} s`,
      fmtMB(s.usedMemory),
    ]),
  );
  const measured = options.pairs > 1 ? `${fmtRatio(ratio)} (median of ${ratios.map(fmtRatio).join(', ')})` : fmtRatio(ratio);
  const goals = markdownTable(
    ['Goal (issue 20)', 'Target', 'Measured', 'Met'],
    [
      [
        `(b) over a ${fmtInt(rows)}-row queued backlog vs (a) the first import`,
        `≤ ${SUPERSEDE_GOAL_RATIO}×`,
        measured,
        ratio <= SUPERSEDE_GOAL_RATIO ? 'yes' : '**no**',
      ],
    ],
  );
  const load = loadavg()[0].toFixed(1);
  return [
    `### Superseding: ${fmtInt(rows)} rows over a ${fmtInt(rows)}-row queued backlog`,
    '',
    table,
    '',
    goals,
    '',
    'Each step is `compliance-sync import --json` in its own child process (`node --import tsx`, timed from spawn to exit) ' +
      'against a private `redis-server` (noeviction, no persistence; a fresh one per pair) holding nothing else, with no worker ' +
      'running, so (b) supersedes every row (a) queued. LREM calls, their time and Redis CPU are the change in its ' +
      "`INFO commandstats` and `used_cpu_*` over the step; import CPU is the import process's user + sys time. " +
      `Load average (1 min) at the end: ${load}.`,
  ].join('\n');
}

/**
 * CPU seconds (user + sys) of this process's children that have exited and been waited for (cutime + cstime of
 * /proc/self/stat, in clock ticks of 1/100 s): around one child's run, that child's CPU. Linux only (0 elsewhere).
 */
async function reapedChildrenCpuSec(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8').catch(() => '');
  // Fields after the command name in parentheses (which may hold spaces): state is field 3, cutime 16, cstime 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) / 100;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** (a) the first import into a fresh redis-server, then (b) the changed file over (a)'s queued rows. */
async function measurePair(pair: number, rows: number, olderPath: string, newerPath: string): Promise<Step[]> {
  const server = await startPrivateRedis(['--maxmemory-policy', 'noeviction']);
  const admin = new Redis(server.url);
  const steps: Step[] = [];
  try {
    const env = { REDIS_URL: server.url, SYNC_PREFIX: 'bench-supersede' };
    // The default INFO leaves commandstats out.
    const info = async () => (await Promise.all(['commandstats', 'cpu', 'memory'].map((section) => admin.info(section)))).join('\n');
    const field = (text: string, name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
    const cpu = (text: string) => field(text, 'used_cpu_sys') + field(text, 'used_cpu_user');
    const measure = async (name: string, path: string): Promise<ImportJson> => {
      const before = await info();
      log(`supersede: ${name}${pair > 1 ? ` (pair ${pair})` : ''}...`);
      const childCpuBefore = await reapedChildrenCpuSec();
      const run = await runNode(cliArgs('import', path, '--json', '--no-progress'), { env, timeoutMs: 60 * 60_000 });
      const importCpuSec = (await reapedChildrenCpuSec()) - childCpuBefore;
      assertExit(run, name);
      const after = await info();
      const lremBefore = commandStat(before, 'lrem');
      const lremAfter = commandStat(after, 'lrem');
      const usedMemory = field(after, 'used_memory');
      const lrem = { calls: lremAfter.calls - lremBefore.calls, usec: lremAfter.usec - lremBefore.usec };
      const step = { name, pair, run, importCpuSec, lrem, redisCpuSec: cpu(after) - cpu(before), usedMemory };
      log(`supersede: ${name}: ${fmtSeconds(run.wallMs)}, ${fmtInt(rows / (run.wallMs / 1000))} rows/s, ${fmtInt(lrem.calls)} LREM`);
      steps.push(step);
      return lastJson<ImportJson>(run);
    };
    const first = await measure('(a) first import into an empty Redis, no worker', olderPath);
    if (first.enqueued !== rows) throw new Error(`first import queued ${first.enqueued} of ${rows} rows`);
    const second = await measure(`(b) every value changed, over (a)'s ${fmtInt(rows)} queued rows`, newerPath);
    if (second.enqueued !== rows) throw new Error(`second import queued ${second.enqueued} of ${rows} rows`);
    const superseded = Number(await admin.hget(`bench-supersede:run:${first.runId}`, 'superseded'));
    if (superseded !== rows) throw new Error(`the first run has ${superseded} superseded rows, expected ${rows}`);
  } finally {
    admin.disconnect();
    await server.stop();
  }
  return steps;
}
