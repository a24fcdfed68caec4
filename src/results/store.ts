import type { Redis } from 'ioredis';
import { FINAL_ROW_STATES, ROW_STATES, type RowResult, type RowState, type RunState, type RunStatus } from '../interfaces.js';
import { redisKeys, type RedisKeys } from '../redis-layout.js';
import { runScript } from '../scripts/index.js';
import { isValidRunId } from '../domain/run-id.js';
import { buildTimeline, timelineBucket, type Timeline } from './timeline.js';

export type AdmitDecision =
  | { kind: 'rejected' | 'unchanged' | 'superseded' | 'dup' }
  | { kind: 'queued'; replaced?: { runId: string; line: number; generation: number } }
  | { kind: 'requeue'; generation: number; version: string };

/**
 * One row for admitRows. A valid row's stored JSON is built by the script from these fields; a rejected row
 * brings its own in `rejectedJson` (its RowResult without `state`, which the script adds), and only its line counts.
 */
export interface AdmitRow {
  line: number;
  key: string;
  fingerprint: string;
  /** The first part of the version (reportedTicks); the script appends the row's arrival number. */
  reportedTicks: string;
  rejectedJson?: string;
}

export interface AdmitResult {
  /** Arrival number of the batch's first row; row i has `firstSequence + i` (see versionOf in src/domain/version.ts). */
  firstSequence: number;
  decisions: AdmitDecision[];
}

/** What a run records about its input (P:run:{id} fields input, importFinished, importError, source). */
export interface ExistingRun {
  /** '' for runs created before inputs were recorded. */
  input: string;
  importFinished: boolean;
  /** '' when the earlier pass read its input to the end. */
  importError: string;
  source: string;
}

export type ClaimDecision = 'send' | 'superseded' | 'locked' | 'missing' | `done|${string}`;

/** The run and row result store: the only module that reads or writes run and row keys. */
export class ResultStore {
  readonly keys: RedisKeys;
  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = redisKeys(prefix);
  }

  /**
   * Creates the run with the identity of its input (see src/producer/run-input.ts), or returns what the run that
   * already holds this id records about its input; the caller decides whether that is a resume.
   */
  async createRun(runId: string, source: string, input: string, now = Date.now()): Promise<{ created: true } | { created: false; existing: ExistingRun }> {
    const out = (await runScript(this.redis, 'createRun', [this.keys.run(runId), this.keys.runs], [now, source, input, runId])) as string[];
    if (out[0] === 'created') return { created: true };
    return { created: false, existing: { input: out[1], importFinished: out[2] === '1', importError: out[3], source: out[4] } };
  }

  /**
   * Fails every row of the run still queued, with `reason`, and closes the run: for a request answered with an
   * error whose writes may still reach Redis afterwards. Send it on the connection that carried those writes.
   */
  async cancelRun(runId: string, reason: string): Promise<number> {
    return Number(await runScript(this.redis, 'cancelRun', [this.keys.run(runId), this.keys.rows(runId), this.keys.runs], [reason, Date.now(), runId]));
  }

  /** A resumed import reads its input again; the run is not finished until that pass ends. */
  async reopenImport(runId: string): Promise<void> {
    await this.redis.hset(this.keys.run(runId), 'importFinished', '0');
  }

  async runExists(runId: string): Promise<boolean> {
    // An id outside the run-id rule (`nd1:rows`) would name another key: it is never a run.
    if (!isValidRunId(runId)) return false;
    return (await this.redis.exists(this.keys.run(runId))) === 1;
  }

  /**
   * Admits a batch in one script call, which also takes the batch's arrival numbers (so no round trip precedes it).
   * Not awaiting it before sending more is safe: Redis runs commands of one connection in the order they were sent.
   */
  async admitRows(runId: string, full: boolean, rows: AdmitRow[]): Promise<AdmitResult> {
    const args = new Array<string | number>(3 + rows.length * 6);
    args[0] = runId;
    args[1] = full ? '1' : '0';
    args[2] = this.keys.prefix;
    let a = 3;
    for (const r of rows) {
      const rejected = r.rejectedJson !== undefined;
      args[a++] = rejected ? 'r' : 'v';
      args[a++] = r.line;
      args[a++] = rejected ? '' : r.key;
      args[a++] = rejected ? '' : r.fingerprint;
      args[a++] = rejected ? '' : r.reportedTicks;
      args[a++] = rejected ? r.rejectedJson! : '';
    }
    const out = (await runScript(this.redis, 'admitRows', [this.keys.run(runId), this.keys.rows(runId), this.keys.latest, this.keys.fingerprints, this.keys.seq], args)) as string[];
    const decisions = new Array<AdmitDecision>(out.length - 1);
    for (let i = 1; i < out.length; i++) decisions[i - 1] = parseDecision(out[i]);
    return { firstSequence: Number(out[0]), decisions };
  }

  async claimRow(runId: string, line: number, key: string, version: string, generation: number, owner: string, lockTtlMs: number): Promise<ClaimDecision> {
    return (await runScript(
      this.redis,
      'claimRow',
      [this.keys.run(runId), this.keys.rows(runId), this.keys.latest, this.keys.fingerprints, this.keys.lock(key)],
      [line, key, version, generation, owner, lockTtlMs],
    )) as ClaimDecision;
  }

  /** Returns `completed` when this outcome finished the run. */
  async recordOutcome(runId: string, row: RowResult & { state: 'succeeded' | 'failed' }, owner: string): Promise<'recorded' | 'completed' | `already|${string}`> {
    return (await runScript(
      this.redis,
      'recordOutcome',
      [this.keys.run(runId), this.keys.rows(runId), this.keys.latest, this.keys.fingerprints, this.keys.lock(row.key), this.keys.timeline(runId)],
      // The row's own finishedAt picks its timeline bucket, so the chart agrees with the rows' report.
      [row.line, row.state, JSON.stringify(row), row.key, row.fingerprint ?? '', row.version ?? '', owner, row.generation ?? 0, Date.now(), timelineBucket(row.finishedAt ?? Date.now())],
    )) as 'recorded' | 'completed';
  }

  /** Lets go of a key without ending the row (the job will be tried again). */
  async releaseLock(key: string, owner: string): Promise<void> {
    await runScript(this.redis, 'releaseLockIfOwner', [this.keys.lock(key)], [owner]);
  }

  async finishImport(runId: string, importError?: string): Promise<'completed' | 'running'> {
    return (await runScript(this.redis, 'finishImport', [this.keys.run(runId)], [Date.now(), importError ?? ''])) as 'completed' | 'running';
  }

  async requeueRow(runId: string, line: number, expectedState: RowState): Promise<{ kind: 'requeued'; generation: number } | { kind: 'superseded' | 'skip' }> {
    const out = (await runScript(this.redis, 'requeueRow', [this.keys.run(runId), this.keys.rows(runId), this.keys.latest], [line, runId, expectedState])) as string;
    const [kind, generation] = out.split('|');
    return kind === 'requeued' ? { kind, generation: Number(generation) } : { kind: kind as 'superseded' | 'skip' };
  }

  async getRow(runId: string, line: number): Promise<RowResult | undefined> {
    const json = await this.redis.hget(this.keys.rows(runId), String(line));
    return json ? (JSON.parse(json) as RowResult) : undefined;
  }

  /** Streams a run's rows in line order, a range of lines per round trip, so memory stays flat at a million rows. */
  async *iterateRows(runId: string, states?: readonly RowState[], batchSize = 2000, fromLine = 1): AsyncGenerator<RowResult> {
    const maxLine = Number((await this.redis.hget(this.keys.run(runId), 'maxLine')) ?? 0);
    for (let from = Math.max(1, fromLine); from <= maxLine; from += batchSize) {
      const lines = Array.from({ length: Math.min(batchSize, maxLine - from + 1) }, (_, i) => String(from + i));
      const values = await this.redis.hmget(this.keys.rows(runId), ...lines);
      for (const json of values) {
        if (!json) continue;
        const row = JSON.parse(json) as RowResult;
        if (!states || states.includes(row.state)) yield row;
      }
    }
  }

  async addThrottle(runId: string, count: number, pausedMs: number, now = Date.now()): Promise<void> {
    const bucket = timelineBucket(now);
    await this.redis
      .multi()
      .hincrby(this.keys.run(runId), 'throttledCount', count)
      .hincrby(this.keys.run(runId), 'throttledMs', Math.round(pausedMs))
      // Timeline: the 429s and the pause they caused, in the bucket they arrived in.
      .hincrby(this.keys.timeline(runId), `${bucket}:throttled`, count)
      .hincrby(this.keys.timeline(runId), `${bucket}:pausedMs`, Math.round(pausedMs))
      .exec();
  }

  /** The run's rows finished and 429s per 10 s bucket (src/results/timeline.ts). */
  async timeline(runId: string): Promise<Timeline> {
    return buildTimeline(await this.redis.hgetall(this.keys.timeline(runId)));
  }

  async setBlocked(runId: string, reason: string | undefined): Promise<void> {
    if (reason) await this.redis.hset(this.keys.run(runId), 'blocked', '1', 'blockedReason', reason);
    else await this.redis.hset(this.keys.run(runId), 'blocked', '0', 'blockedReason', '');
  }

  /**
   * Claims the right to send one alert about a run (`field` names the alert, see src/redis-layout.ts).
   * True for exactly one caller across the fleet; only call it for a run that exists.
   */
  async claimAlert(runId: string, field: string, now = Date.now()): Promise<boolean> {
    return (await this.redis.hsetnx(this.keys.run(runId), field, String(now))) === 1;
  }

  async status(runId: string): Promise<RunStatus | undefined> {
    if (!isValidRunId(runId)) return undefined;
    const h = await this.redis.hgetall(this.keys.run(runId));
    return Object.keys(h).length === 0 ? undefined : toStatus(runId, h);
  }

  async listRuns(limit = 50): Promise<RunStatus[]> {
    // Ids read back are checked too: a stray member of P:runs must not make a phantom run out of another key.
    const ids = (await this.redis.zrevrange(this.keys.runs, 0, limit - 1)).filter(isValidRunId);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.run(id));
    const results = (await pipeline.exec()) ?? [];
    return ids.flatMap((id, i) => {
      const h = results[i]?.[1] as Record<string, string> | undefined;
      return h && Object.keys(h).length > 0 ? [toStatus(id, h)] : [];
    });
  }
}

// Shared (frozen) objects for the common answers: a million-row import makes a million decisions.
const SIMPLE_DECISIONS: Record<string, AdmitDecision> = Object.fromEntries(
  (['queued', 'unchanged', 'rejected', 'superseded', 'dup'] as const).map((kind) => [kind, Object.freeze({ kind })]),
);

function parseDecision(text: string): AdmitDecision {
  const simple = SIMPLE_DECISIONS[text];
  if (simple) return simple;
  const [kind, a, b, c] = text.split('|');
  if (kind === 'queued') return { kind, replaced: { runId: a, line: Number(b), generation: Number(c) } };
  if (kind === 'requeue') return { kind, generation: Number(a), version: b };
  return { kind: kind as 'rejected' | 'unchanged' | 'superseded' | 'dup' };
}

const num = (h: Record<string, string>, field: string) => Number(h[field] ?? 0);

function toStatus(runId: string, h: Record<string, string>): RunStatus {
  const counts = Object.fromEntries(ROW_STATES.map((s) => [s, num(h, s)])) as Record<RowState, number>;
  const importFinished = h.importFinished === '1';
  const blocked = h.blocked === '1';
  let state: RunState;
  if (blocked) state = 'blocked';
  else if (!importFinished || counts.queued > 0) state = 'running';
  else state = counts.failed > 0 || h.importError ? 'completed_with_errors' : 'completed';
  const total = FINAL_ROW_STATES.reduce((sum, s) => sum + counts[s], counts.queued);
  return {
    runId,
    state,
    total,
    rejected: counts.rejected,
    pending: counts.queued,
    succeeded: counts.succeeded,
    failed: counts.failed,
    unchanged: counts.unchanged,
    superseded: counts.superseded,
    accepted: total - counts.rejected,
    enqueued: num(h, 'enqueued'),
    importFinished,
    ...(h.importError ? { importError: h.importError } : {}),
    createdAt: num(h, 'createdAt'),
    ...(h.finishedAt ? { finishedAt: num(h, 'finishedAt') } : {}),
    ...(h.source ? { source: h.source } : {}),
    ...(blocked ? { blockedReason: h.blockedReason } : {}),
    throttledCount: num(h, 'throttledCount'),
    throttledMs: num(h, 'throttledMs'),
  };
}
