import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { loadConfig, type SyncConfig } from '../../src/config.js';
import type { RedisClient, RunStatus } from '../../src/interfaces.js';
import { createLogger } from '../../src/logger.js';
import { deleteKeysWithPrefix, scanKeysWithPrefix } from '../../src/queue/connection.js';
import { startPatchWorker, type PatchWorker, type PatchWorkerOptions } from '../../jobs/patch-worker.js';
import { startSimulator, type GraphSimulator, type SimulatorOptions } from '../../src/simulator/index.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI's TypeScript entry (the start-up bench compares it with the bin). */
export const CLI = join(REPO_ROOT, 'src/cli/index.ts');
/**
 * The package's bin, which runs the compiled CLI in dist/: tests start the CLI as users and production do (and about
 * three times faster than through tsx). `npm test` builds first (`pretest`), so dist/ always matches the sources.
 */
export const BIN = join(REPO_ROOT, 'bin/compliance-sync.js');
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Set (to SYNC_REDIS_CLUSTER's form, host:port,...) by test/integration/cluster.test.ts before it loads other test
 * files: startTestEnv then runs their scenarios on that Redis Cluster instead of the shared Redis.
 */
export const testCluster = (): string | undefined => process.env.TEST_REDIS_CLUSTER || undefined;

/**
 * Options for describe()/it() of a scenario that test/integration/cluster.test.ts leaves out (its CI budget is tight):
 * one that exercises nothing a cluster changes (parsing, usage, another source), or repeats at great length what the
 * scenarios it keeps already cover. It still runs, on the single Redis, in its own file.
 */
export function notOnCluster(why: string): { skip?: string } {
  return testCluster() ? { skip: `left out on the cluster: ${why}` } : {};
}

/** A client for the Redis a config names (the cluster, when SYNC_REDIS_CLUSTER is set), as tests use it. */
export function testRedis(config: Pick<SyncConfig, 'redisUrl' | 'redisCluster'>): RedisClient {
  if (config.redisCluster) return new Cluster(config.redisCluster, { redisOptions: { maxRetriesPerRequest: null } });
  return new Redis(config.redisUrl, { maxRetriesPerRequest: null });
}

/** Every test gets its own key prefix on the shared Redis, so tests never see each other's queues or runs. */
export function uniquePrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

export interface TestEnv {
  /** The prefix of the test's keys: SYNC_PREFIX, or on a cluster that name in braces (config.prefix). */
  prefix: string;
  sim: GraphSimulator;
  redis: RedisClient;
  env: Record<string, string>;
  config: SyncConfig;
  dir: string;
  close(): Promise<void>;
}

/** A simulator with no budget by default (tests opt in), a private prefix, and a temp folder. */
export async function startTestEnv(
  name: string,
  options: { sim?: SimulatorOptions; env?: Record<string, string>; redisUrl?: string } = {},
): Promise<TestEnv> {
  const sim = await startSimulator({ budget: false, ...options.sim });
  const redisUrl = options.redisUrl ?? REDIS_URL;
  // A test that names its own Redis (options.redisUrl) keeps it; the others follow TEST_REDIS_CLUSTER.
  const cluster = options.redisUrl === undefined ? testCluster() : undefined;
  const env: Record<string, string> = {
    REDIS_URL: redisUrl,
    ...(cluster ? { SYNC_REDIS_CLUSTER: cluster } : {}),
    SYNC_PREFIX: uniquePrefix(name),
    GRAPH_BASE_URL: sim.url,
    GRAPH_ACCESS_TOKEN: 'sim-token',
    SYNC_RATE_LIMIT: '1000/s',
    SYNC_LOG_LEVEL: 'warn',
    ...options.env,
  };
  const config = loadConfig({ ...env });
  const prefix = config.prefix;
  const redis = testRedis(config);
  const dir = await mkdtemp(join(tmpdir(), `csync-${name}-`));
  return {
    prefix,
    sim,
    redis,
    env,
    config,
    dir,
    async close() {
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * startTestEnv for one test file: call it once at the file's top level; every env the returned function starts is
 * closed when the file's tests are done.
 */
export function testEnvs(): (name: string, options?: Parameters<typeof startTestEnv>[1]) => Promise<TestEnv> {
  const envs: TestEnv[] = [];
  after(async () => {
    await Promise.all(envs.map((t) => t.close()));
  });
  return async (name, options = {}) => {
    const t = await startTestEnv(name, options);
    envs.push(t);
    return t;
  };
}

export { deleteKeysWithPrefix as deletePrefix } from '../../src/queue/connection.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process, as a user's script would. */
export function runCli(args: string[], env: Record<string, string>, input?: string, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

export function lastJsonLine<T = Record<string, unknown>>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** Starts `worker` as a separate process (for kill tests). */
export function spawnWorker(env: Record<string, string>, args: string[] = []): ChildProcess {
  return spawn(process.execPath, [BIN, 'worker', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function startInProcessWorker(
  t: TestEnv,
  options: Partial<PatchWorkerOptions> = {},
  configOverrides: Record<string, string> = {},
): Promise<PatchWorker> {
  const config = loadConfig({ ...t.env, ...configOverrides });
  const redis = testRedis(config);
  const worker = await startPatchWorker(config, redis, createLogger('silent'), { concurrency: 10, ...options });
  const close = worker.close.bind(worker);
  worker.close = async (deadline?: number) => {
    await close(deadline);
    redis.disconnect();
  };
  return worker;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a run is no longer `running` (or the predicate holds), failing loudly on timeout. */
export async function waitForRun(
  redis: RedisClient,
  prefix: string,
  runId: string,
  timeoutMs = 60_000,
  until: (s: RunStatus) => boolean = (s) => s.state !== 'running',
): Promise<RunStatus> {
  const { ResultStore } = await import('../../src/results/store.js');
  const store = new ResultStore(redis, prefix);
  const deadline = Date.now() + timeoutMs;
  let status: RunStatus | undefined;
  while (Date.now() < deadline) {
    status = await store.status(runId);
    if (status && until(status)) return status;
    await sleep(100);
  }
  throw new Error(`run ${runId} did not finish in ${timeoutMs} ms; last status ${JSON.stringify(status)}`);
}

export async function writeTemp(t: TestEnv, name: string, content: string): Promise<string> {
  const path = join(t.dir, name);
  await writeFile(path, content);
  return path;
}

export const HEADER =
  'configurationId,userStatusId,configurationType,userDisplayName,devicesCount,status,lastReportedDateTime,userPrincipalName';

/** Deterministic valid rows: user i of configuration cfg-(i % configs). */
export function validRows(count: number, options: { configs?: number; day?: number; offset?: number } = {}): string[] {
  const statuses = ['compliant', 'nonCompliant', 'remediated', 'error', 'conflict', 'notApplicable', 'unknown', 'notAssigned'];
  return Array.from({ length: count }, (_, n) => {
    const i = n + (options.offset ?? 0);
    const type = i % 4 === 0 ? 'iosLobAppProvisioningConfiguration' : 'mobileAppConfiguration';
    return (
      `cfg-${i % (options.configs ?? 7)},user-${i},${type},User ${i},${i % 5}` +
      `,${statuses[i % 8]},2026-11-${String(options.day ?? 20).padStart(2, '0')}` +
      `T10:00:${String(i % 60).padStart(2, '0')}Z,user${i}@contoso.example`
    );
  });
}

/** The simulator's key for a CSV row built by validRows. */
export function simKey(i: number, configs = 7): string {
  const collection = i % 4 === 0 ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations';
  return `${collection}/cfg-${i % configs}/user-${i}`;
}

/** Every key under the test's prefix (SCAN), to prove that a refused command or request left nothing behind. */
export async function keysOf(t: Pick<TestEnv, 'redis' | 'prefix'>): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of scanKeysWithPrefix(t.redis, t.prefix)) keys.push(...batch);
  return keys.sort();
}

/** What a seeded user status holds before an import writes it: different from every validRows value. */
export const SEEDED_VALUES = {
  userDisplayName: 'Seeded user',
  devicesCount: 0,
  status: 'unknown',
  lastReportedDateTime: '2026-01-01T00:00:00Z',
} as const;

/**
 * Seeds the user statuses that CSV rows (HEADER's column order, no quoted commas) name, as a tenant would hold them
 * before our first write. Graph's PATCH updates and never creates, so a test seeds before it imports.
 * `values` overrides what every seeded object holds (e.g. the row's own values, for "already in Graph").
 */
export function seedGraph(
  sim: Pick<GraphSimulator, 'drift'>,
  rows: string[],
  options: { tenantId?: string; values?: (columns: string[]) => Record<string, unknown> } = {},
): number {
  const changes = rows.map((row) => {
    const columns = row.split(',');
    const [configId, userStatusId, type, , , , , userPrincipalName] = columns;
    const collection = type === 'iosLobAppProvisioningConfiguration' ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations';
    const values = options.values ? options.values(columns) : { ...SEEDED_VALUES, ...(userPrincipalName ? { userPrincipalName } : {}) };
    return { tenantId: options.tenantId, collection, configId, userStatusId, values } as const;
  });
  return sim.drift(changes);
}

/** validRows, with the user statuses they name seeded first (see seedGraph): rows an import can update. */
export function seededValidRows(
  sim: Pick<GraphSimulator, 'drift'>,
  count: number,
  options: Parameters<typeof validRows>[1] & { tenantId?: string } = {},
): string[] {
  const rows = validRows(count, options);
  seedGraph(sim, rows, { tenantId: options.tenantId });
  return rows;
}

/**
 * seedGraph for rows given as records (POST /events bodies, in-process imports): seeds the user status each names,
 * as a tenant holds it before our first write.
 */
export function seedRecords(
  sim: Pick<GraphSimulator, 'drift'>,
  records: Record<string, unknown>[],
  options: { tenantId?: string } = {},
): number {
  return sim.drift(
    records.map((r) => ({
      tenantId: options.tenantId ?? (typeof r.tenantId === 'string' ? r.tenantId.toLowerCase() : undefined),
      collection:
        r.configurationType === 'iosLobAppProvisioningConfiguration' ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations',
      configId: String(r.configurationId),
      userStatusId: String(r.userStatusId),
      values: { ...SEEDED_VALUES, ...(typeof r.userPrincipalName === 'string' ? { userPrincipalName: r.userPrincipalName } : {}) },
    })),
  );
}
