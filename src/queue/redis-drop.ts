import type { RedisClient } from '../interfaces.js';
import type { Logger } from '../logger.js';

export interface DropLine {
  level: 'warn' | 'info';
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * A Redis drop as an operator wants to read it: one line when the connection is lost, one when it is back, whatever
 * ioredis and BullMQ retry and raise in between (each reconnect attempt is an 'error' event). A different error while
 * down (Redis back but refusing our credentials) is a line of its own, once. Pure but for its memory: the clock is
 * passed in.
 */
export class RedisDropReport {
  private downSince: number | undefined;
  private readonly seenWhileDown = new Set<string>();

  constructor(private readonly where: string) {}

  error(err: Error, now: number): DropLine | undefined {
    const reason = err.message || err.name;
    if (this.downSince === undefined) {
      this.downSince = now;
      this.seenWhileDown.add(reason);
      return { level: 'warn', msg: `Redis connection lost (${reason}); retrying until it is back`, fields: { redis: this.where } };
    }
    if (this.seenWhileDown.has(reason)) return undefined;
    this.seenWhileDown.add(reason);
    return { level: 'warn', msg: `Redis still unavailable: ${reason}`, fields: { redis: this.where } };
  }

  ready(now: number): DropLine | undefined {
    if (this.downSince === undefined) return undefined;
    const downMs = now - this.downSince;
    this.downSince = undefined;
    this.seenWhileDown.clear();
    return { level: 'info', msg: `Redis connection back after ${(downMs / 1000).toFixed(1)} s`, fields: { redis: this.where, downMs } };
  }
}

/** Logs a long-lived process's Redis drops through RedisDropReport; returns a function that stops watching. */
export function watchRedisConnection(redis: RedisClient, logger: Logger, where: string, now: () => number = Date.now): () => void {
  const report = new RedisDropReport(where);
  const write = (line: DropLine | undefined) => {
    if (line) logger[line.level](line.fields, line.msg);
  };
  const onError = (err: Error) => write(report.error(err, now()));
  const onReady = () => write(report.ready(now()));
  redis.on('error', onError);
  redis.on('ready', onReady);
  return () => {
    redis.off('error', onError);
    redis.off('ready', onReady);
  };
}
