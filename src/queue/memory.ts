import { OperatorError } from '../errors.js';
import { dataNodes } from './connection.js';
import type { RedisClient } from '../interfaces.js';

/**
 * Redis runs with `maxmemory-policy noeviction` (docker-compose.yml): when it is full every write fails. Imports and
 * events stop queueing at a high-water mark below maxmemory, so the rest stays free for workers, whose bookkeeping
 * (recording outcomes, removing finished jobs) is what frees memory again.
 */
export const DEFAULT_MEMORY_HIGH_WATER_PERCENT = 90;

export interface RedisMemory {
  usedBytes: number;
  /** 0 when Redis has no maxmemory (no limit). */
  maxBytes: number;
}

/** Raised when Redis refused a write for lack of memory, or memory is above the high-water mark. */
export class RedisOutOfMemoryError extends OperatorError {
  override name = 'RedisOutOfMemoryError';
  constructor(
    readonly memory: RedisMemory | undefined,
    /** The first input line (or record's line) that was not queued; undefined when no row was read, or all were queued. */
    readonly fromLine?: number,
    /**
     * Set when every row was admitted and queued and only closing the run (marking its input read) failed: what the
     * import would have returned. Rerunning with the same run id closes it, queueing nothing twice.
     */
    readonly queuedAll?: unknown,
  ) {
    super(
      `Redis is out of ` +
        `memory${memory && memory.maxBytes > 0 ? ` (${formatMb(memory.usedBytes)} used of maxmemory ${formatMb(memory.maxBytes)})` : ''}`,
    );
  }

  withLine(fromLine: number | undefined): RedisOutOfMemoryError {
    return new RedisOutOfMemoryError(this.memory, fromLine);
  }
}

const formatMb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/** Redis's answer to a write it refuses under maxmemory with noeviction ("OOM command not allowed ..."), also inside EXECABORT. */
export function isOutOfMemoryReply(err: unknown): boolean {
  return err instanceof RedisOutOfMemoryError || (err instanceof Error && /\bOOM command not allowed\b/.test(err.message));
}

/** Whether producers may queue more: false at or above `highWaterPercent` of maxmemory (never when there is no limit). */
export function memoryAllowsQueueing(memory: RedisMemory, highWaterPercent: number): boolean {
  if (memory.maxBytes <= 0 || highWaterPercent >= 100) return true;
  return memory.usedBytes < (memory.maxBytes * highWaterPercent) / 100;
}

export function parseInfoMemory(info: string): RedisMemory {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}

/** The fullest of these nodes' memory readings, judged by its share of its maxmemory (a node without a limit counts as empty). */
export function fullestNode(memories: readonly RedisMemory[]): RedisMemory {
  const share = (m: RedisMemory) => (m.maxBytes > 0 ? m.usedBytes / m.maxBytes : 0);
  return memories.reduce((a, b) => (share(b) > share(a) ? b : a), memories[0] ?? { usedBytes: 0, maxBytes: 0 });
}

/**
 * INFO memory of the one Redis, or of every master of a cluster (INFO answers for one node): the fullest master is
 * what stops queueing, since a master that refuses writes fails whatever lands on its slots.
 */
export async function readRedisMemory(redis: RedisClient): Promise<RedisMemory> {
  return fullestNode(await Promise.all(dataNodes(redis).map(async (node) => parseInfoMemory(await node.info('memory')))));
}

/** Checked by a producer before each chunk it queues. */
export class MemoryGuard {
  constructor(
    private readonly redis: RedisClient,
    private readonly highWaterPercent = DEFAULT_MEMORY_HIGH_WATER_PERCENT,
  ) {}

  async check(): Promise<void> {
    if (this.highWaterPercent >= 100) return;
    const memory = await readRedisMemory(this.redis);
    if (!memoryAllowsQueueing(memory, this.highWaterPercent)) throw new RedisOutOfMemoryError(memory);
  }
}
