/**
 * Redis work per PATCH (issue 20): one worker process (the compiled CLI, `worker --until-idle`) against a bare BullMQ
 * worker doing one `fetch` PATCH and one HSET per job (steps/bare-worker.ts), back to back on the same simulator and the
 * same private redis-server, in several pairs. Before each worker starts: CONFIG RESETSTAT; after it exits: INFO
 * commandstats (calls and usec; Redis counts the commands a Lua script runs as calls of their own) and INFO cpu.
 *
 * The simulator has no write budget and no latency, kinder than Intune (5 writes a second per tenant, and a round trip
 * of tens of ms): that is right here because the measurement is what a PATCH costs Redis and how fast one process can
 * go when Graph is not what holds it back. With a budget both workers would send at the budget's pace and the ratio of
 * PATCH/s would say nothing; Redis calls and CPU per PATCH do not depend on the pace. The rows are seeded in the
 * simulator first (Graph's PATCH never creates), so every PATCH succeeds, as in a normal day's sync.
 */
import { spawn } from 'node:child_process';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { GraphSimulator } from '../../src/simulator/index.js';
import { startSimulator } from '../../src/simulator/index.js';
import { startPrivateRedis } from '../support/private-redis.js';
import { benchJob, ensureCsv, seedBenchRows } from './data.js';
import { assertBuilt, assertExit, BIN, cliArgs, fmtInt, fmtRatio, lastJson, log, markdownTable, REPO_ROOT, runNode } from './support.js';

export interface PerPatchOptions {
  rows: number;
  concurrency: number;
  pairs: number;
}

/** The goals of issue 20: ours against the bare worker. */
const GOALS = { calls: 1.3, usec: 1.5, rate: 0.8 };

/** One worker's run: what Redis did while it ran, and the PATCHes the simulator answered. */
interface Measured {
  patches: number;
  calls: number;
  /** Σ usec of INFO commandstats (a script's own usec includes the commands it ran, which count again on their own). */
  usec: number;
  /** Redis's CPU time (INFO cpu: user + sys of the server process). */
  cpuUs: number;
  /** PATCH/s from the first to the last successful PATCH the simulator saw. */
  rate: number;
  byCommand: Map<string, number>;
}

/** INFO commandstats, without the bench's own INFO and CONFIG. */
async function commandStats(redis: Redis): Promise<{ calls: number; usec: number; byCommand: Map<string, number> }> {
  const byCommand = new Map<string, number>();
  let calls = 0;
  let usec = 0;
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    if (m[1] === 'info' || m[1] === 'config') continue;
    byCommand.set(m[1], Number(m[2]));
    calls += Number(m[2]);
    usec += Number(m[3]);
  }
  return { calls, usec, byCommand };
}

async function cpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return Math.round((seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6);
}

/** Runs `start` between CONFIG RESETSTAT and INFO, and reads the simulator's log (cleared by the caller's reset) for its PATCHes. */
async function measure(redis: Redis, sim: GraphSimulator, start: () => Promise<void>): Promise<Measured> {
  await redis.config('RESETSTAT');
  const cpuBefore = await cpuUs(redis);
  await start();
  const cpuAfter = await cpuUs(redis);
  const stats = await commandStats(redis);
  const times = sim
    .requestLog()
    .filter((e) => e.method === 'PATCH' && e.status === 200)
    .map((e) => e.at)
    .sort((a, b) => a - b);
  const rate = times.length > 1 ? (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000) : 0;
  return { patches: times.length, calls: stats.calls, usec: stats.usec, cpuUs: cpuAfter - cpuBefore, rate, byCommand: stats.byCommand };
}

function waitForExit(args: string[], env: Record<string, string>, what: string): Promise<string> {
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, SYNC_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-10_000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
  return new Promise((resolve, reject) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${what} exited with ${code}: ${stderr.slice(-3000)}`));
    }),
  );
}

const perPatch = (m: Measured, total: number) => total / m.patches;

export async function perPatchBench(options: PerPatchOptions): Promise<string> {
  assertBuilt();
  const file = await ensureCsv({ name: 'per-patch', rows: options.rows });
  const privateRedis = await startPrivateRedis();
  const redis = new Redis(privateRedis.url, { maxRetriesPerRequest: null });
  // No budget, no latency, no faults: see the file's comment.
  const sim = await startSimulator({ budget: false, latencyMs: 0 });
  const pairs: Array<{ ours: Measured; bare: Measured }> = [];
  try {
    for (let pair = 1; pair <= options.pairs; pair++) {
      const prefix = `bench-per-patch-${pair}`;
      const graph = { GRAPH_BASE_URL: sim.url, GRAPH_ACCESS_TOKEN: 'sim-token' };
      const env = { REDIS_URL: privateRedis.url, SYNC_PREFIX: prefix, ...graph, SYNC_RATE_LIMIT: '1000000/s' };

      log(`per-patch: pair ${pair}/${options.pairs}: importing ${fmtInt(options.rows)} rows...`);
      sim.reset();
      seedBenchRows(sim, options.rows);
      const imported = await runNode(cliArgs('import', file.path, '--json', '--no-progress'), { env });
      assertExit(imported, 'import');
      const summary = lastJson<{ enqueued: number }>(imported);
      if (summary.enqueued !== options.rows) throw new Error(`import queued ${summary.enqueued} rows, expected ${options.rows}`);
      log(`per-patch: pair ${pair}: our worker (concurrency ${options.concurrency})...`);
      const ours = await measure(redis, sim, async () => {
        const args = [BIN, 'worker', '--until-idle', '--no-scheduled-imports', '--concurrency', String(options.concurrency)];
        await waitForExit(args, env, 'worker --until-idle');
      });
      if (ours.patches !== options.rows) throw new Error(`our worker sent ${ours.patches} successful PATCHes, expected ${options.rows}`);
      await redis.flushall();

      log(`per-patch: pair ${pair}: bare BullMQ worker...`);
      sim.reset();
      seedBenchRows(sim, options.rows);
      const bareQueue = new Queue('bare-patch', { connection: redis, prefix });
      for (let start = 0; start < options.rows; start += 1000) {
        await bareQueue.addBulk(Array.from({ length: Math.min(1000, options.rows - start) }, (_, k) => benchJob(start + k, 'bare')));
      }
      await bareQueue.close();
      const bareEnv = { REDIS_URL: privateRedis.url, QUEUE_PREFIX: prefix, RESULTS_KEY: `${prefix}:bare-results`, ...graph };
      const bare = await measure(redis, sim, async () => {
        const step = 'test/bench/steps/bare-worker.ts';
        const args = ['--import', 'tsx', step, 'bare-patch', String(options.rows), String(options.concurrency)];
        const out = await waitForExit(args, bareEnv, 'bare worker');
        const { failed } = JSON.parse(out.trim().split('\n').pop()!) as { ok: number; failed: number };
        if (failed > 0) throw new Error(`the bare worker failed ${failed} jobs`);
      });
      if (bare.patches !== options.rows) {
        throw new Error(`the bare worker sent ${bare.patches} successful PATCHes, expected ${options.rows}`);
      }
      await redis.flushall();
      pairs.push({ ours, bare });
      const breakdown = (m: Measured) =>
        [...m.byCommand]
          .sort((a, b) => b[1] - a[1])
          .map(([name, calls]) => `${name} ${(calls / m.patches).toFixed(2)}`)
          .join(', ');
      log(`per-patch: pair ${pair}: ours per PATCH: ${breakdown(ours)}`);
      log(`per-patch: pair ${pair}: bare per PATCH: ${breakdown(bare)}`);
      log(
        `per-patch: pair ${pair}: calls/PATCH ${perPatch(ours, ours.calls).toFixed(1)} ` +
          `vs ${perPatch(bare, bare.calls).toFixed(1)}, ` +
          `usec/PATCH ${perPatch(ours, ours.usec).toFixed(0)} vs ${perPatch(bare, bare.usec).toFixed(0)}, ` +
          `PATCH/s ${ours.rate.toFixed(0)} vs ${bare.rate.toFixed(0)}`,
      );
    }
  } finally {
    redis.disconnect();
    await sim.close();
    await privateRedis.stop();
  }

  const rows = pairs.map(({ ours, bare }, i) => [
    i + 1,
    `${perPatch(ours, ours.calls).toFixed(1)} / ${perPatch(bare, bare.calls).toFixed(1)}`,
    fmtRatio(perPatch(ours, ours.calls) / perPatch(bare, bare.calls)),
    `${perPatch(ours, ours.usec).toFixed(0)} / ${perPatch(bare, bare.usec).toFixed(0)}`,
    fmtRatio(perPatch(ours, ours.usec) / perPatch(bare, bare.usec)),
    `${perPatch(ours, ours.cpuUs).toFixed(0)} / ${perPatch(bare, bare.cpuUs).toFixed(0)}`,
    fmtRatio(perPatch(ours, ours.cpuUs) / perPatch(bare, bare.cpuUs)),
    `${ours.rate.toFixed(0)} / ${bare.rate.toFixed(0)}`,
    fmtRatio(ours.rate / bare.rate),
  ]);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
  const ratio = (pick: (m: Measured) => number, perPatchOf = true) =>
    median(pairs.map(({ ours, bare }) => (perPatchOf ? perPatch(ours, pick(ours)) / perPatch(bare, pick(bare)) : pick(ours) / pick(bare))));
  const callsRatio = ratio((m) => m.calls);
  const usecRatio = ratio((m) => m.usec);
  const cpuRatio = ratio((m) => m.cpuUs);
  const rateRatio = ratio((m) => m.rate, false);
  const verdict = (value: number, goal: number, atMost: boolean) =>
    `${fmtRatio(value)} (goal ${atMost ? '≤' : '≥'} ${goal}x: ${(atMost ? value <= goal : value >= goal) ? 'met' : 'missed'})`;

  // Where our calls go: summed over the pairs, per PATCH.
  const ourCommands = new Map<string, number>();
  let ourPatches = 0;
  for (const { ours } of pairs) {
    ourPatches += ours.patches;
    for (const [name, calls] of ours.byCommand) ourCommands.set(name, (ourCommands.get(name) ?? 0) + calls);
  }
  const top = [...ourCommands].sort((a, b) => b[1] - a[1]).slice(0, 12);
  const topText = top.map(([name, calls]) => `${name} ${(calls / ourPatches).toFixed(2)}`).join(', ');

  return [
    `### Redis work per PATCH: one worker process against a bare BullMQ worker, ${fmtInt(options.rows)} rows, ` +
      `concurrency ${options.concurrency}, ${options.pairs} pairs`,
    '',
    markdownTable(
      [
        'Pair',
        'Redis calls / PATCH (ours / bare)',
        'Ratio',
        'commandstats µs / PATCH (ours / bare)',
        'Ratio',
        'Redis CPU µs / PATCH (ours / bare)',
        'Ratio',
        'PATCH/s (ours / bare)',
        'Ratio',
      ],
      rows,
    ),
    '',
    `Medians of the pairs: Redis calls per PATCH **${verdict(callsRatio, GOALS.calls, true)}**, ` +
      `Redis µs per PATCH (commandstats) **${verdict(usecRatio, GOALS.usec, true)}**, ` +
      `Redis CPU per PATCH (INFO cpu) ${verdict(cpuRatio, GOALS.usec, true)}, PATCH/s **${verdict(rateRatio, GOALS.rate, false)}**.`,
    '',
    `Ours is the compiled CLI's \`worker --until-idle --concurrency ${options.concurrency}\` over an import of the rows ` +
      `(queued before the count starts; its start-up and idle checks are counted); the bare worker is a BullMQ Worker ` +
      `with BullMQ's default job options doing one fetch PATCH and one HSET per job. The simulator has no budget and no ` +
      `latency, and every row is seeded, so every PATCH succeeds. Calls and µs are INFO commandstats of a private ` +
      `redis-server (every command but INFO and CONFIG; commands a Lua script runs count as calls of their own, and their ` +
      `µs count again inside the script's); Redis CPU is INFO cpu (user + sys). PATCH/s runs from the first to the last ` +
      `PATCH the simulator answered.`,
    '',
    `Our top commands (calls per PATCH over all pairs): ${topText}.`,
  ].join('\n');
}
