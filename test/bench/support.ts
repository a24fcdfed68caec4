/** Process, Redis and formatting helpers shared by the bench parts. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(REPO_ROOT, 'src/cli/index.ts');
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The package's bin (package.json), which runs the compiled CLI in dist/: what users and the Docker image run. */
export const BIN = join(
  REPO_ROOT,
  (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['compliance-sync'],
);

/** Parts that run the compiled CLI call this first: a missing or stale build would measure the wrong thing. */
export function assertBuilt(): void {
  if (!existsSync(join(REPO_ROOT, 'dist/cli/index.js')))
    throw new Error('dist/ is missing: run `npm run build` (npm ci runs it through `prepare`)');
}
const PEAK_RSS_PRELOAD = fileURLToPath(new URL('./peak-rss.ts', import.meta.url));

/** Prefixes not yet deleted, so an interrupted bench can still clean up after itself. */
export const livePrefixes = new Set<string>();

/** Every scenario gets its own key prefix on the shared Redis, deleted when it ends. */
export function benchPrefix(scenario: string): string {
  const prefix = `bench-${scenario}-${randomBytes(4).toString('hex')}`;
  livePrefixes.add(prefix);
  return prefix;
}

/** SCAN + UNLINK, so a million keys go without blocking Redis for other users. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 10_000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  livePrefixes.delete(prefix);
  return deleted;
}

/** UNLINK frees in a background thread; on a 2-core machine that would slow down whatever step runs next. */
export async function waitForLazyFree(redis: Redis, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pending = Number(/^lazyfree_pending_objects:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? 0);
    if (pending === 0) return;
    await sleep(100);
  }
}

export async function redisUsedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
}

export interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Spawn to exit, as the user of the command would wait for it. */
  wallMs: number;
  peakRssBytes?: number;
  startedAt: number;
}

export interface ChildOptions {
  env?: Record<string, string>;
  /** Record the child's peak RSS (preloads peak-rss.ts). */
  measureRss?: boolean;
  /** Kill the child after this long (a stuck bench must not hang the machine). */
  timeoutMs?: number;
}

/** Runs `node --import tsx <args>` (a TypeScript entry point) and collects its output, wall time and peak RSS. */
export async function runNode(args: string[], options: ChildOptions = {}): Promise<ChildRun> {
  const dir = options.measureRss ? await mkdtemp(join(tmpdir(), 'csync-bench-')) : undefined;
  const rssFile = dir ? join(dir, 'peak-rss') : undefined;
  const preload = rssFile ? ['--import', PEAK_RSS_PRELOAD] : [];
  const startedAt = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, SYNC_LOG_LEVEL: 'warn', ...options.env, ...(rssFile ? { BENCH_PEAK_RSS_FILE: rssFile } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  const wallMs = Date.now() - startedAt;
  if (timer) clearTimeout(timer);
  let peakRssBytes: number | undefined;
  if (dir && rssFile) {
    peakRssBytes = Number(await readFile(rssFile, 'utf8').catch(() => 'NaN'));
    if (!Number.isFinite(peakRssBytes)) peakRssBytes = undefined;
    await rm(dir, { recursive: true, force: true });
  }
  return { code, stdout, stderr, wallMs, peakRssBytes, startedAt };
}

export function cliArgs(...args: string[]): string[] {
  return [CLI, ...args];
}

/** The last stdout line of a `--json` command. */
export function lastJson<T>(run: ChildRun): T {
  const lines = run.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]) as T;
  } catch {
    throw new Error(
      `expected a JSON line on stdout (exit ${run.code}); stdout: ${run.stdout.slice(-500)} stderr: ${run.stderr.slice(-2000)}`,
    );
  }
}

export function assertExit(run: ChildRun, what: string, expected = 0): void {
  if (run.code !== expected) throw new Error(`${what} exited with ${run.code}: ${run.stderr.slice(-3000)}`);
}

export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtSeconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
export const fmtMB = (bytes: number | undefined) => (bytes === undefined ? 'n/a' : `${Math.round(bytes / 1024 / 1024)} MB`);
export const fmtRatio = (r: number) => `${r.toFixed(2)}x`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
