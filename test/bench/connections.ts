/**
 * Connections bench (issue 20): one worker process (the CLI's `worker`, scheduled imports included, as deployed) at 1, 50
 * and 200 tenants of SYNC_TENANTS_FILE: the Redis connections it holds (CLIENT LIST of a private redis-server, where
 * every connection but the bench's own is the process's) and the Redis calls it sends per second while idle (INFO
 * commandstats over a window). Beside it, measured in the same run on the same Redis: one BullMQ Worker per tenant's
 * queue on a shared connection, as the worker process had before (each with its own blocking connection).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { patchQueueName, queuePrefix } from '../../src/redis-layout.js';
import { startSimulator, type TokenGrant } from '../../src/simulator/index.js';
import { startPrivateRedis } from '../support/private-redis.js';
import { assertBuilt, BIN, fmtInt, log, markdownTable, REPO_ROOT, sleep } from './support.js';

export interface ConnectionsBenchOptions {
  tenantCounts: number[];
  /** How long the idle process's Redis calls are counted. */
  idleWindowMs: number;
}

const GOAL = { tenants: 200, connections: 16 };
const WRITE = ['DeviceManagementConfiguration.ReadWrite.All'];

/** Every connection of the Redis but the bench's own. */
async function connectionsBut(redis: Redis, ownId: number): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list
    .trim()
    .split('\n')
    .filter((line) => /(?:^| )id=(\d+)/.exec(line)?.[1] !== String(ownId)).length;
}

/** The connection count once it has not moved for a second (connections open asynchronously after start-up). */
async function settledConnections(redis: Redis, ownId: number): Promise<number> {
  let last = -1;
  let steady = 0;
  for (;;) {
    const now = await connectionsBut(redis, ownId);
    steady = now === last ? steady + 1 : 0;
    last = now;
    if (steady >= 5) return now;
    await sleep(200);
  }
}

/** INFO commandstats: every command (those a Lua script runs included), and the script runs themselves. */
async function commandCalls(redis: Redis): Promise<{ commands: number; scripts: number }> {
  const info = await redis.info('commandstats');
  let commands = 0;
  let scripts = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (['info', 'config', 'client'].includes(m[1])) continue;
    commands += Number(m[2]);
    if (['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall'].includes(m[1])) scripts += Number(m[2]);
  }
  return { commands, scripts };
}

async function idleRates(redis: Redis, windowMs: number): Promise<{ idleCommandsPerSec: number; idleScriptsPerSec: number }> {
  const before = await commandCalls(redis);
  await sleep(windowMs);
  const after = await commandCalls(redis);
  const seconds = windowMs / 1000;
  return {
    idleCommandsPerSec: (after.commands - before.commands) / seconds,
    idleScriptsPerSec: (after.scripts - before.scripts) / seconds,
  };
}

interface Measured {
  connections: number;
  idleCommandsPerSec: number;
  idleScriptsPerSec: number;
}

/** The CLI worker with `n` tenants in its tenants file, started, counted, idle for a window, stopped with SIGTERM. */
async function ourWorker(redisUrl: string, redis: Redis, ownId: number, n: number, windowMs: number): Promise<Measured> {
  assertBuilt();
  const tenants = Array.from({ length: n }, () => randomUUID());
  const tokens: Record<string, TokenGrant> = { 'sim-token': { tenantId: 'sim-tenant', appId: 'app', permissions: WRITE } };
  tenants.forEach((t, i) => (tokens[`tok-${i}`] = { tenantId: t, appId: 'app', permissions: WRITE }));
  const sim = await startSimulator({ tokens, budget: false });
  const dir = await mkdtemp(join(tmpdir(), 'csync-bench-connections-'));
  try {
    const file = join(dir, 'tenants.json');
    const entries = tenants.map((t, i) => [t, { accessToken: `tok-${i}`, graphBaseUrl: sim.url }]);
    await writeFile(file, JSON.stringify({ tenants: Object.fromEntries(entries) }));
    const env = {
      REDIS_URL: redisUrl,
      SYNC_PREFIX: `bench-connections-${randomUUID().slice(0, 8)}`,
      GRAPH_BASE_URL: sim.url,
      GRAPH_ACCESS_TOKEN: 'sim-token',
      SYNC_TENANTS_FILE: file,
      SYNC_LOG_LEVEL: 'info',
    };
    const child = spawn(process.execPath, [BIN, 'worker'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        // The worker logs on stderr (pino, SYNC_LOG_LEVEL=info): ready once it says it started.
        child.stderr.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('worker started')) resolve();
        });
        void exited.then((code) => reject(new Error(`the worker exited (${code}) before it started`)));
      });
      const connections = await settledConnections(redis, ownId);
      return { connections, ...(await idleRates(redis, windowMs)) };
    } finally {
      child.kill('SIGTERM');
      await exited;
      await redis.eval("for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) end", 0, `${env.SYNC_PREFIX}:*`);
    }
  } finally {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The baseline: one BullMQ Worker per queue (the default tenant's and each tenant's) on one shared connection. */
async function workerPerTenant(redisUrl: string, redis: Redis, ownId: number, n: number, windowMs: number): Promise<Measured> {
  const prefix = `bench-connections-${randomUUID().slice(0, 8)}`;
  const shared = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const names = ['', ...Array.from({ length: n }, () => randomUUID())].map(patchQueueName);
  // The options the worker process used (lock 30 s, stalled check every 30 s); the processor is never called.
  const options = { connection: shared, concurrency: 10, lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 1000 };
  const workers = names.map((name) => new Worker(name, async () => undefined, { ...options, prefix: queuePrefix(prefix, name) }));
  try {
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const connections = await settledConnections(redis, ownId);
    return { connections, ...(await idleRates(redis, windowMs)) };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    shared.disconnect();
    await redis.eval("for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) end", 0, `${prefix}:*`);
  }
}

export async function connectionsBench(options: ConnectionsBenchOptions): Promise<string> {
  const privateRedis = await startPrivateRedis();
  const redis = new Redis(privateRedis.url, { maxRetriesPerRequest: null, connectionName: 'bench' });
  const rows: (string | number)[][] = [];
  let atGoal: Measured | undefined;
  try {
    const ownId = Number(await redis.client('ID'));
    for (const n of options.tenantCounts) {
      log(`connections: ${n} tenant${n === 1 ? '' : 's'}, our worker process...`);
      const ours = await ourWorker(privateRedis.url, redis, ownId, n, options.idleWindowMs);
      log(`connections: ${n} tenant${n === 1 ? '' : 's'}, one BullMQ Worker per tenant...`);
      const base = await workerPerTenant(privateRedis.url, redis, ownId, n, options.idleWindowMs);
      if (n === GOAL.tenants) atGoal = ours;
      const rate = (m: Measured) => `${m.idleCommandsPerSec.toFixed(1)} (${m.idleScriptsPerSec.toFixed(1)} scripts)`;
      rows.push([fmtInt(n), fmtInt(n + 1), fmtInt(ours.connections), fmtInt(base.connections), rate(ours), rate(base)]);
    }
  } finally {
    redis.disconnect();
    await privateRedis.stop();
  }
  const goal = atGoal
    ? markdownTable(
        ['Goal (issue 20)', 'Target', 'Measured', 'Met'],
        [
          [
            `one worker process at ${GOAL.tenants} tenants: Redis connections`,
            `at most ${GOAL.connections}`,
            fmtInt(atGoal.connections),
            atGoal.connections <= GOAL.connections ? 'yes' : '**no**',
          ],
        ],
      )
    : `Goal (issue 20): at most ${GOAL.connections} connections at ${GOAL.tenants} tenants ` +
      `(not measured: add ${GOAL.tenants} to --connection-tenants).`;
  return [
    '### Connections: one worker process, many tenants (issue 20)',
    '',
    `The CLI's \`worker\` (scheduled imports included) with 1 to ${Math.max(...options.tenantCounts)} tenants in SYNC_TENANTS_FILE, ` +
      'idle, on a private redis-server: its Redis connections (CLIENT LIST) and the Redis commands per second while idle ' +
      `(INFO commandstats over ${(options.idleWindowMs / 1000).toFixed(0)} s: the commands Lua scripts run are counted, ` +
      'and the script runs are also given apart). Baseline, same run, same Redis: one BullMQ Worker per queue (the default ' +
      'tenant and each tenant) on one shared connection, as the worker process had before.',
    '',
    markdownTable(
      [
        'Tenants',
        'Queues',
        'Ours: connections',
        'Worker per tenant: connections',
        'Ours: Redis commands/s idle',
        'Worker per tenant: commands/s idle',
      ],
      rows,
    ),
    '',
    goal,
  ].join('\n');
}
