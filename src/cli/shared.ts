import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { loadConfig, type SyncConfig } from '../config.js';
import { EXIT, OperatorError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { connectRedis } from '../queue/connection.js';
import { createPatchQueue, type PatchQueue } from '../queue/queues.js';
import { ResultStore } from '../results/store.js';

export interface Services {
  config: SyncConfig;
  redis: Redis;
  store: ResultStore;
  queue: PatchQueue;
  logger: Logger;
}

export function loadCliConfig(overrides: Partial<Record<string, string>> = {}): SyncConfig {
  return loadConfig({ ...process.env, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) });
}

/** Connects to Redis for a short-lived command and always disconnects, whatever the command does. */
export async function withServices<T>(fn: (services: Services) => Promise<T>, mode: 'command' | 'service' = 'command'): Promise<T> {
  const config = loadCliConfig();
  const logger = createLogger(config.logLevel);
  const redis = await connectRedis(config.redisUrl, mode);
  const store = new ResultStore(redis, config.prefix, { runRetentionMs: config.runRetentionMs });
  const queue = createPatchQueue(redis, config.prefix);
  try {
    return await fn({ config, redis, store, queue, logger });
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function checkRunId(runId: string): string {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(runId)) throw new OperatorError(`run id "${runId}" may hold only letters, digits, _ . - (1-100 characters)`, EXIT.usage);
  return runId;
}

export function parsePositiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new OperatorError(`${name} must be a positive integer, got "${value}"`, EXIT.usage);
    return n;
  };
}

/** `--map target=source`, repeatable. */
export function collectMapping(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new OperatorError(`--map expects target=sourceColumn, got "${value}"`, EXIT.usage);
  return { ...previous, [value.slice(0, eq).trim()]: value.slice(eq + 1).trim() };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
