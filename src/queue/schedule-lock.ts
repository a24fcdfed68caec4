import { randomBytes } from 'node:crypto';
import { runScript } from '../scripts/index.js';
import type { RedisClient } from '../interfaces.js';

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

/**
 * Takes the per-schedule lock (SET NX PX) and keeps renewing it while held, so a long import keeps it
 * and a dead worker's lock expires after `ttlMs`. Returns undefined when another firing holds it.
 */
export async function acquireScheduleLock(
  redis: RedisClient,
  key: string,
  options: ScheduleLockOptions = {},
): Promise<HeldLock | undefined> {
  const ttlMs = options.ttlMs ?? 30_000;
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`;
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
  let lost = false;
  const timer = setInterval(
    () => {
      runScript(redis, 'extendLockIfOwner', [key], [token, ttlMs]).then(
        (extended) => {
          if (Number(extended) === 0 && !lost) {
            lost = true;
            options.onLost?.();
          }
        },
        () => undefined, // a Redis blip: the next renewal tries again well before the TTL ends
      );
    },
    Math.max(100, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    async release() {
      clearInterval(timer);
      await runScript(redis, 'releaseLockIfOwner', [key], [token]);
    },
  };
}
