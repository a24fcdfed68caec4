import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  FINAL_ROW_STATES,
  ROW_STATES,
  type RowResult,
  type RowState,
  type RunState,
  type RunStatus,
  type UserStatusProperties,
  type UserStatusRecord,
  type RedisClient,
  type ReplacedRow,
} from '../interfaces.js';
import { RUN_KEY_SUFFIXES, jobIdFor, redisKeys, tenantIdOf, tenantOfRecordKey, type RedisKeys } from '../redis-layout.js';
import { runScript } from '../scripts/index.js';
import { isValidRunId } from '../domain/run-id.js';
import { buildTimeline, timelineBucket, type Timeline } from './timeline.js';

/** SYNC_RUN_RETENTION's default, for stores built without a config (tests, tools). */
export const DEFAULT_RUN_RETENTION_MS = 30 * 86_400_000;
const SUFFIXES = RUN_KEY_SUFFIXES.join(' ');

export type AdmitDecision =
  | { kind: 'rejected' | 'unchanged' | 'superseded' | 'dup' | 'failed' }
  /** Dry-run verdicts: admitRows in dry-run mode decides as it would admit, and writes nothing. */
  | { kind: 'new' | 'changed' | 'stale' }
  /** `replaced`: the older queued row of the key this one superseded (its job still waits, and ends unsent when claimed). */
  | { kind: 'queued'; replaced?: Omit<ReplacedRow, 'key'> }
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
  /** A valid row's record: its properties are stored with the row (`values`), for `verify`. */
  record?: UserStatusRecord;
  /** With `import --reconcile`: what Graph's state, read back, says about this row. */
  graph?: GraphVerdict;
}

/**
 * What a snapshot of Graph says about a row:
 * - holds: Graph holds every property the row sets; the row is unchanged, and the snapshot's proof is remembered
 *   as a fingerprint, so a later plain import skips it too;
 * - differs: Graph lacks or differs; the row is sent even if the fingerprints say it was sent before (drift);
 * - missingConfiguration: Graph answered 404 for the configuration; the row fails at once, without a PATCH;
 * - missingStatus: Graph holds no such user status (its complete listing lacks it, or it is remembered so, see
 *   src/results/missing-statuses.ts), and PATCH cannot create one; the row fails at once, without a PATCH.
 */
export type GraphVerdict =
  | { verdict: 'holds'; reason: string; readAt: number }
  | { verdict: 'differs' }
  | { verdict: 'missingConfiguration'; reason: string }
  | { verdict: 'missingStatus'; reason: string };

const VERDICT_CODE: Record<GraphVerdict['verdict'], string> = { holds: 'g', differs: 's', missingConfiguration: 'f', missingStatus: 'f' };

/**
 * The JSON members a valid row's stored result gets besides those the script builds (no braces; see admitRows-5.lua).
 * Only a row stored as JSON at admission needs them: one failed because Graph has no such configuration or user status. A queued row
 * is "q|<generation>" (its values are in its job) and an unchanged row a bit (its values and reason go to the chunk's
 * :keys blob, see encodeChunkKeys).
 */
function extraMembers(r: AdmitRow): string {
  const g = r.graph;
  if ((g?.verdict !== 'missingConfiguration' && g?.verdict !== 'missingStatus') || !r.record) return '';
  return (
    `"values":${JSON.stringify(r.record.properties)}` +
    `,"reason":${JSON.stringify(g.reason)}` +
    `,"httpStatus":404,"attempts":0,"record":${JSON.stringify(r.record)}`
  );
}

/** The reason an unchanged row shows: Graph's read for a row import --reconcile found in Graph, else none (''). */
function unchangedReason(r: AdmitRow): string {
  return r.graph?.verdict === 'holds' ? r.graph.reason : '';
}

export interface CreateRunOptions {
  /** More run hash fields set when the run is created (schedule --verify sets verifyWhenDone, see src/redis-layout.ts). */
  fields?: Record<string, string>;
}

export interface AdmitResult {
  /** Arrival number of the batch's first row; row i has `firstSequence + i` (see versionOf in src/domain/version.ts). */
  firstSequence: number;
  decisions: AdmitDecision[];
}

/** A row's final outcome, as a worker records it. */
export type FinalRow = RowResult & { state: 'succeeded' | 'failed' };
export type RecordedOutcome = 'recorded' | 'completed' | `already|${string}`;

/** A tenant's breaker hash and refusal sets (src/pacing/refusal-breaker.ts), which a success also touches. */
export interface SuccessBreakerKeys {
  breaker: string;
  counting: string;
  own: string;
  /** How long the "own" set lives. */
  ownTtlMs: number;
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

/** What `prune` removed (or, dry, would remove). */
export interface PruneResult {
  runs: number;
  rows: number;
}

/** Fleet-wide counters (P:stats), kept up to date by the scripts that move rows and runs. */
export interface FleetStats {
  /** Rows in each state: for queued, the rows waiting now; for the others, rows that reached it less rows that left it. */
  rows: Record<RowState, number>;
  /** Rows that left a final state again (retry, resume, a cancelled request's superseded rows given back). */
  rowsLeft: Record<RowState, number>;
  runsOpen: number;
  runsBlocked: number;
  runsCompleted: number;
  runsCompletedWithErrors: number;
  /** Runs `cancel` ended. */
  runsCancelled: number;
  throttledCount: number;
  throttledMs: number;
}

/**
 * The row JSON a finished row keeps (src/redis-layout.ts): what `report` shows, what `verify` compares (`values`), plus
 * what `retry` needs for a failed row. Graph's 200 body repeats the properties that were sent, so a succeeded row keeps
 * only a digest of it.
 */
export function compactOutcome(row: RowResult): Record<string, unknown> {
  const { line: _line, startedAt: _startedAt, response, ...rest } = row;
  const digest =
    response === undefined ? {} : { responseSha256: createHash('sha256').update(JSON.stringify(response)).digest('hex').slice(0, 16) };
  if (row.state !== 'succeeded') return { ...rest, ...digest };
  const { state, key, httpStatus, attempts, requestId, clientRequestId, finishedAt, values } = rest;
  return {
    state,
    key,
    httpStatus,
    attempts,
    requestId,
    ...(clientRequestId === undefined ? {} : { clientRequestId }),
    finishedAt,
    ...(values === undefined ? {} : { values }),
    ...digest,
  };
}

/** What the :keys blob of a chunk holds for one valid row (its unchanged rows are only a bit in the run's bitmap). */
export interface ChunkKeyEntry {
  line: number;
  key: string;
  /** The properties the row sets, for `verify`; absent in blobs of the earlier layout. */
  values?: UserStatusProperties;
  /** import --reconcile: why the row is unchanged (Graph held its values when read); '' or absent otherwise. */
  reason?: string;
}

/**
 * A chunk's valid rows, as stored in P:run:{runId}:keys: "<line minus previous line>\t<key>\t<values JSON>\t<reason>\n"
 * per row (reason may be empty), raw-deflated. Keys, JSON and reasons hold no tab or newline (JSON escapes them; keys
 * and reasons are checked ids and our own text).
 */
export function encodeChunkKeys(rows: readonly ChunkKeyEntry[]): Buffer {
  let text = '';
  let previous = 0;
  for (const r of rows) {
    text += `${r.line - previous}\t${r.key}\t${r.values === undefined ? '' : JSON.stringify(r.values)}\t${oneLine(r.reason ?? '')}\n`;
    previous = r.line;
  }
  return deflateRawSync(text);
}

const oneLine = (text: string) => text.replace(/[\t\n]/g, ' ');

/** Line -> entry; reads the earlier layout ("<delta>\t<key>\n", no values) too. */
export function decodeChunkEntries(blob: Buffer): Map<number, ChunkKeyEntry> {
  const entries = new Map<number, ChunkKeyEntry>();
  let line = 0;
  for (const text of inflateRawSync(blob).toString('utf8').split('\n')) {
    const parts = text.split('\t');
    if (parts.length < 2) continue;
    line += Number(parts[0]);
    const entry: ChunkKeyEntry = { line, key: parts[1] };
    if (parts[2]) entry.values = JSON.parse(parts[2]) as UserStatusProperties;
    if (parts[3]) entry.reason = parts[3];
    entries.set(line, entry);
  }
  return entries;
}

/** Line -> key of a chunk's :keys blob. */
export function decodeChunkKeys(blob: Buffer): Map<number, string> {
  return new Map([...decodeChunkEntries(blob)].map(([line, entry]) => [line, entry.key]));
}

/** A stored row (src/redis-layout.ts): "q|<generation>" for a waiting row (its key and version are in its job), else JSON. */
export function parseRow(text: string, line: number): RowResult {
  if (text.startsWith('q|')) {
    const [, generation, tenant] = text.split('|');
    // No `key`: the job holds it (iterateRows fills it in).
    return { line, state: 'queued', generation: Number(generation), ...(tenant ? { tenantId: tenant } : {}) } as RowResult;
  }
  const row = JSON.parse(text) as RowResult;
  row.line ??= line;
  return row;
}

/** Bit `line` of a bitmap read with GETRANGE from byte `firstByte` (Redis numbers bits from each byte's high bit). */
function bitAt(bitmap: Buffer, firstByte: number, line: number): boolean {
  const byte = bitmap[(line >> 3) - firstByte];
  return byte !== undefined && (byte & (0x80 >> (line & 7))) !== 0;
}

export type ClaimDecision = 'send' | 'superseded' | 'locked' | 'missing' | `done|${string}`;

/** The run and row result store: the only module that reads or writes run and row keys. */
export class ResultStore {
  readonly keys: RedisKeys;
  readonly runRetentionMs: number;
  constructor(
    readonly redis: RedisClient,
    prefix: string,
    options: { runRetentionMs?: number } = {},
  ) {
    this.keys = redisKeys(prefix);
    this.runRetentionMs = options.runRetentionMs ?? DEFAULT_RUN_RETENTION_MS;
  }

  /**
   * Creates the run with the identity of its input (see src/producer/run-input.ts), or returns what the run that
   * already holds this id records about its input; the caller decides whether that is a resume (reopenImport).
   * `options.fields`: more run hash fields set only when the run is created (e.g. verifyWhenDone, see src/redis-layout.ts).
   * Also drops from the run list a few runs that expired since, so the list stays as long as retention.
   */
  async createRun(
    runId: string,
    source: string,
    input: string,
    now = Date.now(),
    options: CreateRunOptions = {},
  ): Promise<{ created: true } | { created: false; existing: ExistingRun }> {
    const fields = Object.entries(options.fields ?? {}).flat();
    const out = (await runScript(
      this.redis,
      'createRun',
      [this.keys.run(runId), this.keys.runs],
      [now, source, input, runId, this.keys.stats, ...fields],
    )) as string[];
    if (out[0] === 'created') {
      await this.forgetExpiredRuns(now - this.runRetentionMs);
      return { created: true };
    }
    return { created: false, existing: { input: out[1], importFinished: out[2] === '1', importError: out[3], source: out[4] } };
  }

  /**
   * Fails the rows of lines `firstLine`..`lastLine` still queued, with `reason`: for a request answered with an
   * error whose writes may still reach Redis afterwards. Send it on the connection that carried those writes.
   * `replaced`: older queued rows those lines superseded at admission (the importer's onRowsReplaced); each is queued
   * again if its job has not come by yet and nothing newer came since (cancelRun-3.lua). Runs when Redis is full, too.
   */
  async cancelRun(
    runId: string,
    reason: string,
    firstLine: number,
    lastLine: number,
    replaced: readonly ReplacedRow[] = [],
  ): Promise<number> {
    const older = replaced.map((r) => ({ runId: r.runId, line: r.line, key: r.key, version: r.version, generation: r.generation }));
    const keys = [this.keys.run(runId), this.keys.rows(runId), this.keys.runs];
    const olderJson = older.length > 0 ? JSON.stringify(older) : '';
    const args = [reason, Date.now(), runId, firstLine, lastLine, this.keys.prefix, this.runRetentionMs, SUFFIXES, olderJson];
    return Number(await runScript(this.redis, 'cancelRun', keys, args));
  }

  /**
   * `cancel`: marks the run cancelled (every worker's claim then skips its rows, including rows admitted later) and
   * turns its queued rows into `cancelled`, a range of lines per script call. Returns the rows cancelled, or
   * `finished` when the run had already ended (nothing is changed), or `missing`.
   */
  async cancelQueuedRows(
    runId: string,
    batchSize = 5000,
    now = Date.now(),
  ): Promise<{ kind: 'cancelled'; rows: number } | { kind: 'finished' } | { kind: 'missing' }> {
    if (!isValidRunId(runId)) return { kind: 'missing' };
    const [finishedAt, maxLineText, exists] = await Promise.all([
      this.redis.hget(this.keys.run(runId), 'finishedAt'),
      this.redis.hget(this.keys.run(runId), 'maxLine'),
      this.redis.exists(this.keys.run(runId)),
    ]);
    if (exists === 0) return { kind: 'missing' };
    if (finishedAt) return { kind: 'finished' };
    const maxLine = Number(maxLineText ?? 0);
    let rows = 0;
    // One call even for a run without rows: it stamps cancelledAt and may end the run.
    for (let from = 1; from === 1 || from <= maxLine; from += batchSize) {
      const out = await runScript(
        this.redis,
        'cancelQueuedRows',
        [this.keys.run(runId), this.keys.rows(runId)],
        [from, Math.min(maxLine, from + batchSize - 1), now, this.keys.prefix, this.runRetentionMs, SUFFIXES],
      );
      rows += Number(out);
    }
    return { kind: 'cancelled', rows };
  }

  /**
   * A resumed import (or the next event request of a shared run) reads input into the run again: the run is running,
   * and its keys stop expiring, until that pass ends.
   */
  async reopenImport(runId: string, now = Date.now()): Promise<void> {
    await runScript(this.redis, 'openRun', [this.keys.run(runId)], [runId, '', now, this.keys.prefix, SUFFIXES]);
  }

  /** Removes from P:runs up to `limit` runs created before `before` whose run hash has expired. */
  private async forgetExpiredRuns(before: number, limit = 200): Promise<void> {
    const ids = await this.redis.zrangebyscore(this.keys.runs, '-inf', before, 'LIMIT', 0, limit);
    if (ids.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.exists(this.keys.run(id));
    const exists = (await pipeline.exec()) ?? [];
    const gone = ids.filter((_, i) => exists[i]?.[1] === 0);
    if (gone.length > 0) await this.redis.zrem(this.keys.runs, ...gone);
  }

  /** Takes `count` consecutive lines of a shared (event) run for one request; returns the first. */
  async reserveLines(runId: string, count: number): Promise<number> {
    return (await this.redis.incrby(this.keys.nextLine(runId), count)) - count + 1;
  }

  async runExists(runId: string): Promise<boolean> {
    // An id outside the run-id rule (`nd1:rows`) would name another key: it is never a run.
    if (!isValidRunId(runId)) return false;
    return (await this.redis.exists(this.keys.run(runId))) === 1;
  }

  /**
   * Admits a batch in one script call, which also takes the batch's arrival numbers (so no round trip precedes it).
   * Not awaiting it before sending more is safe: RedisClient runs commands of one connection in the order they were sent.
   */
  async admitRows(runId: string, full: boolean, rows: AdmitRow[], mode: 'write' | 'dry' = 'write'): Promise<AdmitResult> {
    const args = new Array<string | number>(7 + rows.length * 7);
    args[0] = runId;
    args[1] = full ? '1' : '0';
    args[2] = this.keys.prefix;
    args[3] = mode;
    args[4] = Date.now();
    args[5] = this.runRetentionMs;
    args[6] = SUFFIXES;
    let a = 7;
    for (const r of rows) {
      const rejected = r.rejectedJson !== undefined;
      args[a++] = rejected ? 'r' : 'v';
      args[a++] = r.line;
      args[a++] = rejected ? '' : r.key;
      args[a++] = rejected ? '' : r.fingerprint;
      args[a++] = rejected ? '' : r.reportedTicks;
      args[a++] = rejected ? r.rejectedJson! : extraMembers(r);
      args[a++] = !rejected && r.graph ? VERDICT_CODE[r.graph.verdict] : '';
    }
    const out = (await runScript(
      this.redis,
      'admitRows',
      [this.keys.run(runId), this.keys.rows(runId), this.keys.latest, this.keys.fingerprints, this.keys.seq],
      args,
    )) as string[];
    const decisions = new Array<AdmitDecision>(out.length - 1);
    for (let i = 1; i < out.length; i++) decisions[i - 1] = parseDecision(out[i]);
    return { firstSequence: Number(out[0]), decisions };
  }

  /**
   * Records the keys, values and reconcile reasons of an admitted chunk's valid rows, for its unchanged rows (which are
   * only a bit in a bitmap). HSETNX: a resumed import that reads the same chunk again writes it only if it is missing.
   */
  async storeChunkKeys(runId: string, rows: readonly AdmitRow[]): Promise<void> {
    if (rows.length === 0) return;
    const entries = rows.map((r) => ({ line: r.line, key: r.key, values: r.record?.properties, reason: unchangedReason(r) }));
    await this.redis.hsetnx(this.keys.rowKeys(runId), `${rows[0].line}-${rows[rows.length - 1].line}`, encodeChunkKeys(entries));
  }

  async claimRow(
    runId: string,
    line: number,
    key: string,
    version: string,
    generation: number,
    owner: string,
    lockTtlMs: number,
  ): Promise<ClaimDecision> {
    return (await runScript(
      this.redis,
      'claimRow',
      [this.keys.run(runId), this.keys.rows(runId), this.keys.latest, this.keys.fingerprints, this.keys.lock(key)],
      [line, key, version, generation, owner, lockTtlMs, this.keys.prefix, Date.now(), this.runRetentionMs, SUFFIXES],
    )) as ClaimDecision;
  }

  /**
   * Returns `completed` when this outcome finished the run. The row is stored compacted (compactOutcome). `breakers`: the
   * tenant's breaker keys, for a success to do in the same call what its breakers do on a success (see recordOutcome-5.lua).
   */
  async recordOutcome(runId: string, row: FinalRow, owner: string, breakers?: SuccessBreakerKeys): Promise<RecordedOutcome> {
    const [recorded] = await this.recordOutcomes([{ runId, row, owner }], breakers);
    return recorded;
  }

  /**
   * recordOutcome for several rows in one call (a worker's outcomes that finished together, of one tenant): each row is
   * recorded as alone, and their runs' counters move once per run and state. Answers in the order given.
   */
  async recordOutcomes(
    outcomes: ReadonlyArray<{ runId: string; row: FinalRow; owner: string }>,
    breakers?: SuccessBreakerKeys,
  ): Promise<RecordedOutcome[]> {
    const args: (string | number)[] = [this.keys.prefix, Date.now(), this.runRetentionMs, SUFFIXES, breakers?.ownTtlMs ?? ''];
    for (const { runId, row, owner } of outcomes) {
      // The row's own finishedAt picks its timeline bucket, so the chart agrees with the rows' report.
      const bucket = timelineBucket(row.finishedAt ?? Date.now());
      const json = JSON.stringify(compactOutcome(row));
      args.push(runId, row.line, row.state, json, row.key, row.fingerprint ?? '', row.version ?? '', owner, row.generation ?? 0, bucket);
    }
    const { latest, fingerprints } = this.keys;
    // Without a tenant's breakers, any keys of the slot stand in for them (the script leaves them alone).
    const breakerKeys = breakers ? [breakers.breaker, breakers.counting, breakers.own] : [latest, latest, latest];
    return (await runScript(this.redis, 'recordOutcome', [latest, fingerprints, ...breakerKeys], args)) as RecordedOutcome[];
  }

  /** Lets go of a key without ending the row (the job will be tried again). */
  async releaseLock(key: string, owner: string): Promise<void> {
    await runScript(this.redis, 'releaseLockIfOwner', [this.keys.lock(key)], [owner]);
  }

  async finishImport(runId: string, importError?: string): Promise<'completed' | 'running'> {
    return (await runScript(
      this.redis,
      'finishImport',
      [this.keys.run(runId)],
      [Date.now(), importError ?? '', this.keys.prefix, this.runRetentionMs, SUFFIXES],
    )) as 'completed' | 'running';
  }

  async requeueRow(
    runId: string,
    line: number,
    expectedState: RowState,
  ): Promise<{ kind: 'requeued'; generation: number } | { kind: 'superseded' | 'skip' }> {
    const out = (await runScript(
      this.redis,
      'requeueRow',
      [this.keys.run(runId), this.keys.rows(runId), this.keys.latest],
      [line, runId, expectedState, this.keys.prefix, SUFFIXES],
    )) as string;
    const [kind, generation] = out.split('|');
    return kind === 'requeued' ? { kind, generation: Number(generation) } : { kind: kind as 'superseded' | 'skip' };
  }

  async getRow(runId: string, line: number): Promise<RowResult | undefined> {
    for await (const row of this.iterateRows(runId, undefined, 1, line)) return row.line === line ? row : undefined;
    return undefined;
  }

  /**
   * Streams a run's rows in line order, a range of lines per round trip, so memory stays flat at a million rows.
   * Unchanged rows come from the run's bitmap, with their key from the chunk they were admitted in.
   */
  async *iterateRows(runId: string, states?: readonly RowState[], batchSize = 2000, fromLine = 1): AsyncGenerator<RowResult> {
    const maxLine = Number((await this.redis.hget(this.keys.run(runId), 'maxLine')) ?? 0);
    const wantUnchanged = !states || states.includes('unchanged');
    let chunkRanges: { first: number; last: number; field: string }[] | undefined;
    let cached: { field: string; keys: Map<number, ChunkKeyEntry> } | undefined;
    const entryOfUnchanged = async (line: number): Promise<ChunkKeyEntry | undefined> => {
      chunkRanges ??= (await this.redis.hkeys(this.keys.rowKeys(runId))).map((field) => {
        const [first, last] = field.split('-').map(Number);
        return { first, last, field };
      });
      const range = chunkRanges.find((r) => r.first <= line && line <= r.last);
      if (!range) return undefined;
      if (cached?.field !== range.field) {
        const blob = await this.redis.hgetBuffer(this.keys.rowKeys(runId), range.field);
        cached = { field: range.field, keys: blob ? decodeChunkEntries(blob) : new Map<number, ChunkKeyEntry>() };
      }
      return cached.keys.get(line);
    };
    for (let from = Math.max(1, fromLine); from <= maxLine; from += batchSize) {
      const to = Math.min(maxLine, from + batchSize - 1);
      const lines = Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
      const [values, bitmap] = await Promise.all([
        this.redis.hmget(this.keys.rows(runId), ...lines),
        wantUnchanged ? this.redis.getrangeBuffer(this.keys.unchanged(runId), from >> 3, to >> 3) : Promise.resolve(Buffer.alloc(0)),
      ]);
      const rows: (RowResult | undefined)[] = values.map((text, i) => (text ? parseRow(text, from + i) : undefined));
      // A waiting row does not repeat its job's key and version: the job holds them.
      const keyless = rows.filter((r): r is RowResult => r !== undefined && r.key === undefined && (!states || states.includes(r.state)));
      if (keyless.length > 0) {
        const pipeline = this.redis.pipeline();
        for (const r of keyless) pipeline.hget(this.keys.patchJob(tenantIdOf(r), jobIdFor(runId, r.line, r.generation ?? 0)), 'data');
        const datas = (await pipeline.exec()) ?? [];
        keyless.forEach((r, i) => {
          const data = datas[i]?.[1] as string | null | undefined;
          const job = data ? (JSON.parse(data) as { key: string; version: string }) : undefined;
          r.key = job?.key ?? '';
          if (job) r.version = job.version;
        });
      }
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        const line = from + i;
        if (row) {
          if (!states || states.includes(row.state)) yield row;
        } else if (wantUnchanged && bitAt(bitmap, from >> 3, line)) {
          const entry = await entryOfUnchanged(line);
          const row: RowResult = { line, key: entry?.key ?? '', state: 'unchanged' };
          if (entry?.values) row.values = entry.values;
          if (entry?.reason) row.reason = entry.reason;
          yield row;
        }
      }
    }
  }

  async addThrottle(runId: string, count: number, pausedMs: number, now = Date.now()): Promise<void> {
    const ms = Math.round(pausedMs);
    const bucket = timelineBucket(now);
    await this.redis
      .multi()
      .hincrby(this.keys.run(runId), 'throttledCount', count)
      .hincrby(this.keys.run(runId), 'throttledMs', ms)
      .hincrby(this.keys.stats, 'throttledCount', count)
      .hincrby(this.keys.stats, 'throttledMs', ms)
      // Timeline: the 429s and the pause they caused, in the bucket they arrived in.
      .hincrby(this.keys.timeline(runId), `${bucket}:throttled`, count)
      .hincrby(this.keys.timeline(runId), `${bucket}:pausedMs`, ms)
      .exec();
  }

  /** The run's rows finished and 429s per 10 s bucket (src/results/timeline.ts). */
  async timeline(runId: string): Promise<Timeline> {
    return buildTimeline(await this.redis.hgetall(this.keys.timeline(runId)));
  }

  /** A blocked run keeps every key until it is unblocked (see setRunBlocked-1.lua). */
  async setBlocked(runId: string, reason: string | undefined): Promise<void> {
    await runScript(
      this.redis,
      'setRunBlocked',
      [this.keys.run(runId)],
      [reason ? '1' : '0', reason ?? '', this.keys.prefix, this.runRetentionMs, SUFFIXES],
    );
  }

  /**
   * Removes every finished run that finished at least `olderThanMs` ago, with all its keys; never a running or blocked
   * run. Goes through the run list (as long as retention allows, not the rows), one script call per run.
   */
  async prune(
    olderThanMs: number,
    options: { dryRun?: boolean; now?: number; onProgress?: (checked: number, total: number, result: PruneResult) => void } = {},
  ): Promise<PruneResult> {
    const cutoff = (options.now ?? Date.now()) - olderThanMs;
    const result: PruneResult = { runs: 0, rows: 0 };
    const total = await this.redis.zcard(this.keys.runs);
    let checked = 0;
    // Oldest first, by createdAt; a run created after the cutoff cannot have finished before it.
    for (let offset = 0; ;) {
      const ids = await this.redis.zrangebyscore(this.keys.runs, '-inf', cutoff, 'LIMIT', offset, 500);
      if (ids.length === 0) break;
      let kept = 0;
      for (const id of ids) {
        const rows = Number(
          await runScript(
            this.redis,
            'pruneRun',
            [this.keys.run(id)],
            [id, this.keys.prefix, SUFFIXES, cutoff, options.dryRun ? '1' : '0'],
          ),
        );
        if (rows >= 0) {
          result.runs++;
          result.rows += rows;
          if (options.dryRun) kept++;
        } else if (options.dryRun || (await this.redis.zscore(this.keys.runs, id)) !== null) kept++;
        options.onProgress?.(++checked, total, result);
      }
      offset += kept;
    }
    return result;
  }

  async stats(): Promise<FleetStats> {
    const h = await this.redis.hgetall(this.keys.stats);
    return {
      rows: Object.fromEntries(ROW_STATES.map((s) => [s, num(h, `rows:${s}`)])) as Record<RowState, number>,
      rowsLeft: Object.fromEntries(ROW_STATES.map((s) => [s, num(h, `rowsLeft:${s}`)])) as Record<RowState, number>,
      runsOpen: num(h, 'runs:open'),
      runsBlocked: num(h, 'runs:blocked'),
      runsCompleted: num(h, 'runs:completed'),
      runsCompletedWithErrors: num(h, 'runs:completed_with_errors'),
      runsCancelled: num(h, 'runs:cancelled'),
      throttledCount: num(h, 'throttledCount'),
      throttledMs: num(h, 'throttledMs'),
    };
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

  /**
   * A run's rows counted per tenant ('' = default) and state, by reading them (each row's key names its tenant):
   * this costs a pass over the run, so it is only asked for when a tenants file is in use.
   */
  async countByTenant(runId: string): Promise<Record<string, Partial<Record<RowState, number>>>> {
    const out: Record<string, Partial<Record<RowState, number>>> = {};
    for await (const row of this.iterateRows(runId)) {
      const tenant = row.tenantId ?? tenantOfRecordKey(row.key);
      const counts = (out[tenant] ??= {});
      counts[row.state] = (counts[row.state] ?? 0) + 1;
    }
    return out;
  }

  /** The newest `limit` runs, newest first; with `createdSince` (ms), only runs created at or after it. */
  async listRuns(limit = 50, createdSince?: number): Promise<RunStatus[]> {
    // Ids read back are checked too: a stray member of P:runs must not make a phantom run out of another key.
    const listed =
      createdSince === undefined
        ? await this.redis.zrevrange(this.keys.runs, 0, limit - 1)
        : await this.redis.zrevrangebyscore(this.keys.runs, '+inf', createdSince, 'LIMIT', 0, limit);
    const ids = listed.filter(isValidRunId);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.run(id));
    const results = (await pipeline.exec()) ?? [];
    const gone: string[] = [];
    const runs = ids.flatMap((id, i) => {
      const h = results[i]?.[1] as Record<string, string> | undefined;
      if (h && Object.keys(h).length > 0) return [toStatus(id, h)];
      if (!results[i]?.[0]) gone.push(id);
      return [];
    });
    // Expired runs leave the list as soon as anyone lists it.
    if (gone.length > 0) await this.redis.zrem(this.keys.runs, ...gone);
    return runs;
  }
}

// Shared (frozen) objects for the common answers: a million-row import makes a million decisions.
const SIMPLE_DECISIONS: Record<string, AdmitDecision> = Object.fromEntries(
  (['queued', 'unchanged', 'rejected', 'superseded', 'dup', 'failed', 'new', 'changed', 'stale'] as const).map((kind) => [
    kind,
    Object.freeze({ kind }),
  ]),
);

function parseDecision(text: string): AdmitDecision {
  const simple = SIMPLE_DECISIONS[text];
  if (simple) return simple;
  const [kind, a, b, c, d] = text.split('|');
  if (kind === 'queued') return { kind, replaced: { runId: a, line: Number(b), generation: Number(c), version: d } };
  if (kind === 'requeue') return { kind, generation: Number(a), version: b };
  return { kind: kind as 'rejected' | 'unchanged' | 'superseded' | 'dup' | 'failed' | 'new' | 'changed' | 'stale' };
}

const num = (h: Record<string, string>, field: string) => Number(h[field] ?? 0);

function toStatus(runId: string, h: Record<string, string>): RunStatus {
  const counts = Object.fromEntries(ROW_STATES.map((s) => [s, num(h, s)])) as Record<RowState, number>;
  const importFinished = h.importFinished === '1';
  const blocked = h.blocked === '1';
  let state: RunState;
  if (h.cancelledAt) state = 'cancelled';
  else if (blocked) state = 'blocked';
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
    cancelled: counts.cancelled,
    accepted: total - counts.rejected,
    enqueued: num(h, 'enqueued'),
    importFinished,
    ...(h.importError ? { importError: h.importError } : {}),
    createdAt: num(h, 'createdAt'),
    ...(h.finishedAt ? { finishedAt: num(h, 'finishedAt') } : {}),
    ...(h.cancelledAt ? { cancelledAt: num(h, 'cancelledAt') } : {}),
    ...(h.source ? { source: h.source } : {}),
    ...(blocked ? { blockedReason: h.blockedReason } : {}),
    throttledCount: num(h, 'throttledCount'),
    throttledMs: num(h, 'throttledMs'),
  };
}
