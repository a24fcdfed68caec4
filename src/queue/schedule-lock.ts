import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// Only the holder may extend or release the lock: a firing that lost it (e.g. paused past its TTL) must not free someone else's.
const EXTEND_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

interface LockCommands {
  extendScheduleLock(key: string, token: string, ttlMs: number): Promise<number>;
  releaseScheduleLock(key: string, token: string): Promise<number>;
}

export interface ScheduleLockOptions {
  ttlMs?: number;
  /** Called once if a renewal finds the lock gone or taken, so the holder stops starting new work. */
  onLost?: () => void;
}

export interface HeldLock {
  /** True once a renewal found the lock no longer ours. */
  readonly lost: boolean;
  release(): Promise<void>;
}

function commands(redis: Redis): LockCommands {
  const r = redis as unknown as Partial<LockCommands> & Redis;
  if (typeof r.extendScheduleLock !== 'function') {
    redis.defineCommand('extendScheduleLock', { numberOfKeys: 1, lua: EXTEND_IF_OWNER });
    redis.defineCommand('releaseScheduleLock', { numberOfKeys: 1, lua: RELEASE_IF_OWNER });
  }
  return r as unknown as LockCommands;
}

/**
 * Takes the per-schedule lock (SET NX PX) and keeps renewing it while held, so a long import keeps it
 * and a dead worker's lock expires after `ttlMs`. Returns undefined when another firing holds it.
 */
export async function acquireScheduleLock(redis: Redis, key: string, options: ScheduleLockOptions = {}): Promise<HeldLock | undefined> {
  const ttlMs = options.ttlMs ?? 30_000;
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`;
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
  const lock = commands(redis);
  let lost = false;
  const timer = setInterval(() => {
    lock.extendScheduleLock(key, token, ttlMs).then(
      (extended) => {
        if (extended === 0 && !lost) {
          lost = true;
          options.onLost?.();
        }
      },
      () => undefined, // a Redis blip: the next renewal tries again well before the TTL ends
    );
  }, Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    async release() {
      clearInterval(timer);
      await lock.releaseScheduleLock(key, token);
    },
  };
}
