import { Queue, defaultRepeatStrategy, type JobSchedulerJson, type JobSchedulerTemplateOptions } from 'bullmq';
import { onQueueError } from './queues.js';
import { QUEUE_NAMES, queuePrefix } from '../redis-layout.js';
import { redactPostgresUrl } from '../sources/postgres.js';
import { EXIT, OperatorError } from '../errors.js';
import type { RedisClient } from '../interfaces.js';

/** Where a schedule reads from: new files of a drop folder, or one query per firing. */
export type ScheduleSource = { kind: 'dir'; dir: string } | { kind: 'postgres'; url: string; query: string };

/** Payload of every `scheduled-import` job; the job scheduler's id is `scheduleName`. See src/redis-layout.ts. */
export interface ScheduledImportJobData {
  scheduleName: string;
  source: ScheduleSource;
  format?: 'csv' | 'ndjson';
  full?: boolean;
  /** import --reconcile: compare each row with Graph's state before sending. */
  reconcile?: boolean;
  /** Verify each run against Graph once it completes; drift raises the `drifted` alert. */
  verify?: boolean;
  renames?: Record<string, string>;
  /** Drop folders: a file is taken only once it has not changed for this long, so half-written files are left alone. */
  settleMs?: number;
  /** Dropped files' encoding when they have no BOM (`schedule add --encoding`); utf8 when absent. */
  encoding?: 'utf8' | 'utf16le' | 'windows-1252';
}

export interface ScheduleDefinition extends ScheduledImportJobData {
  pattern: string;
  tz?: string;
}

/** What `schedule list` shows: never the job data as stored, since a postgres URL may hold a password. */
export interface ScheduleSummary {
  name: string;
  pattern: string;
  tz?: string;
  nextRun?: string;
  source: string;
  format?: string;
  full: boolean;
  reconcile: boolean;
  verify: boolean;
  map: Record<string, string>;
  settleMs?: number;
  encoding?: 'utf8' | 'utf16le' | 'windows-1252';
}

export type ScheduleQueue = Queue<ScheduledImportJobData, unknown, string>;

export const DEFAULT_SETTLE_MS = 2000;
export const SCHEDULED_IMPORT_JOB_NAME = 'scheduled-import';

// Letters, digits, _ and - only: the name becomes part of run ids, Redis keys and folder names.
const SCHEDULE_NAME = /^[A-Za-z0-9_-]{1,40}$/;

export class ScheduleError extends OperatorError {
  override name = 'ScheduleError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/**
 * A firing is not retried by BullMQ: the next firing picks up whatever this one left (files stay in
 * the folder, interrupted files are resumed from processing/). Finished jobs are trimmed, the run
 * history is the record of what was imported.
 */
const TEMPLATE_OPTIONS: JobSchedulerTemplateOptions = {
  attempts: 1,
  removeOnComplete: { count: 200 },
  removeOnFail: { count: 500 },
};

export function createScheduleQueue(connection: RedisClient, prefix: string): ScheduleQueue {
  const name = QUEUE_NAMES.scheduledImport;
  const queue = new Queue<ScheduledImportJobData, unknown, string>(name, { connection, prefix: queuePrefix(prefix, name) });
  queue.on('error', onQueueError);
  return queue;
}

export function checkScheduleName(name: string): string {
  if (!SCHEDULE_NAME.test(name))
    throw new ScheduleError(`schedule name "${name}" may hold only letters, digits, _ and - (1-40 characters)`);
  return name;
}

export function checkTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ScheduleError(`--tz "${tz}" is not a known IANA time zone (e.g. Europe/Berlin, UTC, America/New_York)`);
  }
  return tz;
}

/**
 * Checks a cron expression with the same parser BullMQ will use, so a bad pattern is refused
 * when the schedule is added rather than failing silently in a worker later. Returns the next run (ms).
 */
export function checkCron(pattern: string, tz?: string, now = Date.now()): number {
  if (tz) checkTimeZone(tz);
  const fields = pattern.trim().split(/\s+/).length;
  const hint =
    'use 5 fields (minute hour day-of-month month day-of-week, e.g. "0 3 * * *") or 6 with seconds first (e.g. "*/30 * * * * *")';
  if (fields < 5 || fields > 6) throw new ScheduleError(`--cron "${pattern}" has ${fields} field(s); ${hint}`);
  let next: number | undefined;
  try {
    next = defaultRepeatStrategy(now, { pattern, ...(tz ? { tz } : {}) });
  } catch (err) {
    throw new ScheduleError(`--cron "${pattern}" is not a valid cron expression: ${(err as Error).message}; ${hint}`);
  }
  if (next === undefined || !Number.isFinite(next)) throw new ScheduleError(`--cron "${pattern}" never fires (e.g. 31 February)`);
  return next;
}

export function describeSource(source: ScheduleSource): string {
  return source.kind === 'dir' ? `dir ${source.dir}` : `postgres ${redactPostgresUrl(source.url)} query: ${source.query}`;
}

/** Creates the schedule, or replaces its pattern, zone and options when the name exists. Returns whether it existed. */
export async function upsertSchedule(queue: ScheduleQueue, definition: ScheduleDefinition): Promise<{ updated: boolean }> {
  const { pattern, tz, ...data } = definition;
  const existed = (await queue.getJobScheduler(data.scheduleName)) !== undefined;
  await queue.upsertJobScheduler(
    data.scheduleName,
    { pattern, ...(tz ? { tz } : {}) },
    { name: SCHEDULED_IMPORT_JOB_NAME, data, opts: TEMPLATE_OPTIONS },
  );
  return { updated: existed };
}

function toSummary(s: JobSchedulerJson<ScheduledImportJobData>): ScheduleSummary {
  const data = s.template?.data;
  return {
    name: s.key,
    pattern: s.pattern ?? `every ${s.every} ms`,
    ...(s.tz ? { tz: s.tz } : {}),
    ...(s.next ? { nextRun: new Date(s.next).toISOString() } : {}),
    source: data?.source ? describeSource(data.source) : '(unknown)',
    ...(data?.format ? { format: data.format } : {}),
    full: data?.full === true,
    reconcile: data?.reconcile === true,
    verify: data?.verify === true,
    map: data?.renames ?? {},
    ...(data?.source?.kind === 'dir' ? { settleMs: data.settleMs ?? DEFAULT_SETTLE_MS } : {}),
    ...(data?.encoding ? { encoding: data.encoding } : {}),
  };
}

export async function listSchedules(queue: ScheduleQueue): Promise<ScheduleSummary[]> {
  const schedulers = await queue.getJobSchedulers(0, -1, true);
  return schedulers.map(toSummary).sort((a, b) => a.name.localeCompare(b.name));
}

export async function getSchedule(queue: ScheduleQueue, name: string): Promise<ScheduleSummary | undefined> {
  const scheduler = await queue.getJobScheduler(name);
  return scheduler ? toSummary(scheduler) : undefined;
}

/** Removes the schedule and its next pending firing; a firing already running finishes. */
export async function removeSchedule(queue: ScheduleQueue, name: string): Promise<boolean> {
  return queue.removeJobScheduler(name);
}
