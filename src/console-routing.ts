import { format } from 'node:util';
import type { Logger } from './logger.js';

/**
 * Dependencies that print to the console (BullMQ's `console.warn` about the eviction policy, BullMQ's `console.error`
 * of an error no listener took) would put raw lines, stack traces included, between our log lines. The long-running
 * and Redis-using commands route the console through the logger instead: one log line per call, in the chosen format.
 * BullMQ has no option to silence or redirect these, so the console itself is what we route.
 */

export type RoutedLevel = 'debug' | 'info' | 'warn' | 'error';
type ConsoleMethod = 'log' | 'info' | 'warn' | 'error' | 'debug' | 'trace';

export interface RoutedLine {
  level: RoutedLevel;
  msg: string;
  fields: Record<string, unknown>;
  /** Lines with the same key are logged once per process (a fact about Redis that each new connection repeats). */
  onceKey?: string;
}

const CONNECTION_LOSS = new RegExp(
  [
    '\\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ENOTFOUND|EAI_AGAIN)\\b',
    'Connection is closed',
    "Stream isn't writeable",
    'Reached the max retries',
  ].join('|'),
);

/** Errors a dropped or unreachable Redis raises; whoever watches the connection reports the drop once (watchRedisConnection). */
export function isConnectionLoss(err: unknown): boolean {
  const e = err as { message?: unknown; code?: unknown; name?: unknown } | undefined;
  const text = `${typeof e?.code === 'string' ? e.code : ''} ${typeof e?.message === 'string' ? e.message : ''}`;
  return CONNECTION_LOSS.test(text) || e?.name === 'MaxRetriesPerRequestError';
}

const LEVEL_OF: Record<ConsoleMethod, RoutedLevel> = {
  log: 'info',
  info: 'info',
  warn: 'warn',
  error: 'error',
  debug: 'debug',
  trace: 'debug',
};
const EVICTION = /^IMPORTANT! Eviction policy is (\S+)\. It should be "noeviction"/;
const RECOMMENDED_VERSION = /^It is highly recommended to use a minimum Redis version of (\S+)\s+Current: (\S+)/;

/** What one console call becomes: known dependency lines in our words, errors as their message (never a stack). */
export function routeConsoleLine(method: ConsoleMethod, args: readonly unknown[]): RoutedLine {
  const text = args.map(describeArg).join(' ');
  const eviction = EVICTION.exec(text);
  if (eviction) {
    return {
      level: 'warn',
      msg: `Redis's maxmemory-policy is ${eviction[1]}, not noeviction: when memory runs short Redis may evict queued jobs and row results`,
      fields: { source: 'bullmq', maxmemoryPolicy: eviction[1], fix: 'set maxmemory-policy noeviction (compliance-sync doctor checks it)' },
      onceKey: `eviction:${eviction[1]}`,
    };
  }
  const version = RECOMMENDED_VERSION.exec(text);
  if (version) {
    const msg = `Redis ${version[2]} works, but BullMQ recommends ${version[1]} or later`;
    return { level: 'warn', msg, fields: { source: 'bullmq' }, onceKey: `redis-version:${version[2]}` };
  }
  // A lost connection some dependency prints as it happens: the connection's watcher has said it once already.
  if (args.some((arg) => arg instanceof Error && isConnectionLoss(arg))) {
    return { level: 'debug', msg: text, fields: { source: 'console' } };
  }
  return { level: LEVEL_OF[method], msg: text.trim(), fields: { source: 'console' } };
}

function describeArg(arg: unknown): string {
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  return typeof arg === 'string' ? arg : format('%o', arg);
}

const METHODS: readonly ConsoleMethod[] = ['log', 'info', 'warn', 'error', 'debug', 'trace'];

/** Sends every console call through `logger` (routeConsoleLine) until the returned function restores the console. */
export function routeConsoleThroughLogger(logger: Logger): () => void {
  const originals = new Map(METHODS.map((method) => [method, console[method].bind(console)] as const));
  const logged = new Set<string>();
  for (const method of METHODS) {
    console[method] = (...args: unknown[]) => {
      const line = routeConsoleLine(method, args);
      if (line.onceKey !== undefined) {
        if (logged.has(line.onceKey)) return;
        logged.add(line.onceKey);
      }
      logger[line.level](line.fields, line.msg);
    };
  }
  return () => {
    for (const [method, original] of originals) console[method] = original;
  };
}
