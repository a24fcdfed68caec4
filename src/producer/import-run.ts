import type { Logger } from 'pino';
import type { RawRow, ReplacedRow } from '../interfaces.js';
import { PatchQueues, patchJob, type PatchJob, type PatchQueue } from '../queue/queues.js';
import { describeRedisFailure } from '../queue/connection.js';
import type { AdmitResult, AdmitRow, ResultStore } from '../results/store.js';
import { isOutOfMemoryReply, readRedisMemory, RedisOutOfMemoryError } from '../queue/memory.js';
import { versionOf } from '../domain/version.js';
import { decideRunReuse, labelIdentity, RunInputConflictError, type InputIdentity } from './run-input.js';
import { judgeRows, type GraphStates } from './reconcile.js';
import { RememberedMissingJudge } from './remembered-missing.js';
import { MissingStatuses } from '../results/missing-statuses.js';
import { RowChecker, rejectedRow, type TenantDirectory, type UnversionedRow } from './validate-rows.js';

export interface ImportOptions {
  runId: string;
  rows: AsyncIterable<RawRow>;
  sourceLabel: string;
  /**
   * What the run's id stands for; a different input under an existing run id is refused (RunInputConflictError).
   * Default: the source label, which cannot pin content (a finished run is then never continued).
   */
  input?: InputIdentity;
  /** Send every valid row, ignoring the fingerprints of what Graph already holds. */
  full?: boolean;
  /**
   * import --reconcile: compare each row with Graph's state (read once per configuration) before admitting it;
   * rows Graph holds are unchanged, the others are sent whatever the fingerprints say.
   */
  reconcile?: GraphStates;
  /** Run hash fields set when the run is created (schedule --verify sets verifyWhenDone). */
  runFields?: Record<string, string>;
  /** GRAPH_API_VERSION: under v1.0, iosLobAppProvisioningConfiguration rows are rejected. */
  apiVersion?: 'beta' | 'v1.0';
  /** The tenants rows may name (tenantDirectory(config)); without it a row naming a tenant is rejected. */
  tenants?: TenantDirectory;
  renames?: Record<string, string>;
  /**
   * The caller's checker, when it already built one (for the source's column mapping); else one is built from `renames`
   * and `apiVersion`. A caller's checker must have been built with the same apiVersion.
   */
  checker?: RowChecker;
  /** Checked before each chunk is queued; throws RedisOutOfMemoryError when Redis is too full to take more. */
  memoryGuard?: { check(): Promise<void> };
  chunkSize?: number;
  origin?: 'bulk' | 'event';
  onUnknownColumn?: (name: string) => void;
  onProgress?: (progress: ImportProgress) => void;
  /** Called after each chunk's jobs are added, with their ids (the event API answers with them). */
  onJobsQueued?: (jobIds: string[]) => void;
  /**
   * Called once a chunk is admitted, before its jobs are added, with the older queued rows its rows superseded: the
   * event API undoes a request it answers with 503 by cancelling its rows and queueing those again (cancelRun).
   */
  onRowsReplaced?: (rows: ReplacedRow[]) => void;
  logger?: Logger;
}

export interface ImportProgress {
  rows: number;
  accepted: number;
  rejected: number;
  unchanged: number;
  superseded: number;
  enqueued: number;
}

export interface ImportSummary extends ImportProgress {
  runId: string;
  /** True when some lines had been admitted by an earlier, interrupted pass with the same run id. */
  resumed: boolean;
  /**
   * True when the end of the import finished the run (no row was left queued), so no worker will
   * report its completion: the caller is the one to announce it (alerts).
   */
  completed: boolean;
}

/**
 * How many chunks may be unfinished at once, counting the one being read: up to two sent for admission whose jobs
 * are not yet added, so Redis admits the next chunk while this process builds the current chunk's jobs and parses
 * the following rows, and neither side waits for the other. It also bounds memory to a few chunks for any file size.
 * (Measured on a million rows: 2 is ~15% slower for ~20 MB less peak RSS.)
 */
const MAX_CHUNKS_IN_FLIGHT = 3;

/**
 * Streams a source into the queue: validate, then diff and admit in Redis (one script call per chunk),
 * then addBulk the rows that must be sent. Chunks are admitted and queued strictly in input order (one Redis
 * connection runs commands in the order they were sent), but the next chunk is read and validated while earlier
 * ones are still in Redis. At most MAX_CHUNKS_IN_FLIGHT chunks are unfinished, which is the back-pressure that
 * keeps memory flat for any file size.
 */
export async function importRun(store: ResultStore, queue: PatchQueue | PatchQueues, options: ImportOptions): Promise<ImportSummary> {
  // Rows go to their tenant's queue; a caller that gave only the default queue gets the others opened (and closed) here.
  const queues = PatchQueues.of(queue, store.keys.prefix);
  try {
    return await importInto(store, queues, options);
  } finally {
    if (queues !== queue) await queues.close();
  }
}

async function importInto(store: ResultStore, queue: PatchQueues, options: ImportOptions): Promise<ImportSummary> {
  const chunkSize = options.chunkSize ?? 1000;
  const full = options.full === true;
  const origin = options.origin ?? 'bulk';
  const checker =
    options.checker ??
    new RowChecker(options.renames, options.onUnknownColumn, { apiVersion: options.apiVersion, tenants: options.tenants });
  const progress: ImportProgress = { rows: 0, accepted: 0, rejected: 0, unchanged: 0, superseded: 0, enqueued: 0 };
  const reconcile = options.reconcile;
  const remembered = new RememberedMissingJudge(new MissingStatuses(store.redis, store.keys.prefix));
  // A chunk's verdicts may need reads of varying length (Graph with reconcile, else the P:missing memory): each chunk is
  // judged once the previous chunk's admission was sent (not finished), so admissions still reach Redis in input order.
  let lastSent: Promise<void> = Promise.resolve();
  let resumed = false;
  let pending: UnversionedRow[] = [];

  // The run is created with its first rows, so an input refused at its header leaves no empty run behind.
  let runCreated = false;
  const ensureRun = async () => {
    if (runCreated) return;
    const input = options.input ?? labelIdentity(options.sourceLabel);
    const outcome = await store.createRun(options.runId, options.sourceLabel, input.id, Date.now(), { fields: options.runFields });
    if (!outcome.created) {
      const decision = decideRunReuse(options.runId, outcome.existing, input);
      if (decision.kind === 'refuse') throw new RunInputConflictError(decision.reason);
      await store.reopenImport(options.runId);
    }
    runCreated = true;
  };

  /** Adds the jobs of one admitted chunk. Chunks pass through here one at a time, in input order. */
  const enqueue = async (chunk: UnversionedRow[], admission: Promise<AdmitResult>) => {
    const { firstSequence, decisions } = await admission;
    const jobs: PatchJob[] = [];
    const toWrite: UnversionedRow[] = [];
    const replaced: ReplacedRow[] = [];
    const now = Date.now();
    for (let i = 0; i < decisions.length; i++) {
      const decision = decisions[i];
      const row = chunk[i];
      progress.rows++;
      if (decision.kind === 'dup') {
        resumed = true;
        continue;
      }
      if (decision.kind === 'rejected') progress.rejected++;
      else progress.accepted++;
      if (decision.kind === 'unchanged') progress.unchanged++;
      if (decision.kind === 'superseded') progress.superseded++;
      if (decision.kind === 'queued' || decision.kind === 'requeue') {
        const generation = decision.kind === 'requeue' ? decision.generation : 0;
        const version = decision.kind === 'requeue' ? decision.version : versionOf(row.reportedTicks, firstSequence + i);
        if (decision.kind === 'requeue') resumed = true;
        else progress.enqueued++;
        // The older row's job is left in its queue: a worker that claims it ends it unsent (claimRow-5.lua). Removing it
        // here would scan the queue's wait list (LREM), so superseding a large backlog would cost O(backlog) per row.
        if (decision.kind === 'queued' && decision.replaced && options.onRowsReplaced) {
          replaced.push({ ...decision.replaced, key: row.key });
        }
        toWrite.push(row);
        jobs.push(
          patchJob({
            runId: options.runId,
            line: row.line,
            key: row.key,
            record: row.record!,
            fingerprint: row.fingerprint,
            version,
            enqueuedAt: now,
            generation,
            origin,
          }),
        );
      }
    }
    if (replaced.length > 0) options.onRowsReplaced?.(replaced);
    // Unchanged rows are only a bit in the run's bitmap: their keys, values and reconcile reasons are kept per chunk
    // (a resumed pass re-adds them if missing).
    if (decisions.some((d) => d.kind === 'unchanged' || d.kind === 'dup')) {
      await store.storeChunkKeys(options.runId, chunk.filter((row) => row.record).map(admitRowOf));
    }
    if (reconcile) await reconcile.markPending(toWrite);
    if (jobs.length > 0) await queue.addBulk(jobs);
    if (jobs.length > 0) options.onJobsQueued?.(jobs.map((j) => j.opts.jobId));
    options.onProgress?.({ ...progress });
  };

  const inFlight: Promise<void>[] = [];
  // The first line of the earliest chunk that was not fully queued, if any (for an out-of-memory stop).
  let firstUnqueuedLine: number | undefined;
  const noteUnqueued = (line: number | undefined) => {
    if (line !== undefined && (firstUnqueuedLine === undefined || line < firstUnqueuedLine)) firstUnqueuedLine = line;
  };
  // Memory checks go out with the chunks and are awaited MAX_CHUNKS_IN_FLIGHT - 1 chunks later: awaited at once, an
  // INFO queued behind the previous chunk's admission would make every chunk wait for the one before it.
  const memoryChecks: Promise<void>[] = [];
  const startMemoryCheck = () => {
    const check = options.memoryGuard?.check();
    if (!check) return;
    check.catch(() => undefined);
    memoryChecks.push(check);
  };
  const flush = async () => {
    if (pending.length === 0) return;
    try {
      if (!runCreated) startMemoryCheck();
      while (memoryChecks.length >= (runCreated ? MAX_CHUNKS_IN_FLIGHT - 1 : 1)) await memoryChecks.shift();
      await ensureRun();
    } catch (err) {
      noteUnqueued(pending[0].line);
      throw err;
    }
    const chunk = pending;
    pending = [];
    // Sent now: Redis runs it after the earlier chunks' commands, so it sees their rows.
    let markSent!: () => void;
    const sent = new Promise<void>((resolve) => (markSent = resolve));
    const admission: Promise<AdmitResult> = lastSent.then(async () => {
      try {
        // With --reconcile, Graph's state judges each row; without, only what is remembered missing from Graph.
        await (reconcile ? judgeRows(reconcile, chunk) : remembered.judge(chunk));
        // admitRows sends its script before its first await: the next chunk may be judged from here on.
        return store.admitRows(options.runId, full, chunk.map(admitRowOf));
      } finally {
        markSent();
      }
    });
    lastSent = sent;
    const previous = inFlight.length > 0 ? inFlight[inFlight.length - 1] : Promise.resolve();
    const done = previous
      .then(() => enqueue(chunk, admission))
      .catch((err: unknown) => {
        noteUnqueued(chunk[0].line);
        throw err;
      });
    // Failures surface where `done` is awaited (below, or when draining); these only keep them from counting as unhandled.
    admission.catch(() => undefined);
    done.catch(() => undefined);
    inFlight.push(done);
    startMemoryCheck();
    while (inFlight.length >= MAX_CHUNKS_IN_FLIGHT) await inFlight.shift();
  };

  let importError: Error | undefined;
  try {
    for await (const raw of options.rows) {
      pending.push(checker.checkUnversioned(raw));
      if (pending.length >= chunkSize) await flush();
    }
    await flush();
  } catch (err) {
    importError = err as Error;
  }
  // Every chunk read in full is admitted and queued before the run is closed, even if the input broke off later.
  for (const outcome of await Promise.allSettled(inFlight.splice(0))) {
    if (outcome.status === 'rejected') importError ??= outcome.reason as Error;
  }
  // Out of memory: the run stays open (not finished, nothing reported as done), and rerunning with the same run id
  // picks up where this pass stopped once memory is freed.
  if (importError && isOutOfMemoryReply(importError)) {
    // INFO is allowed while Redis refuses writes; the figures tell the operator how full it is.
    const memoryError =
      importError instanceof RedisOutOfMemoryError
        ? importError
        : new RedisOutOfMemoryError(await readRedisMemory(store.redis).catch(() => undefined));
    throw memoryError.withLine(firstUnqueuedLine);
  }
  // Nothing more is sent to a Redis that failed to answer: each further command would only wait out its own timeout.
  if (importError && (!runCreated || describeRedisFailure(importError, 0) !== undefined)) throw importError;
  // A broken input still leaves a finished run: what was admitted is processed, and the error is kept with it.
  await ensureRun();
  let finished: 'completed' | 'running';
  try {
    finished = await store.finishImport(options.runId, importError?.message);
  } catch (err) {
    if (importError || !isOutOfMemoryReply(err)) throw importError ?? err;
    // Every row is queued; only closing the run failed. It stays open until a rerun (or the next event request) closes it.
    throw new RedisOutOfMemoryError(await readRedisMemory(store.redis).catch(() => undefined), undefined, {
      runId: options.runId,
      ...progress,
      resumed,
      completed: false,
    });
  }
  if (importError) throw importError;
  return { runId: options.runId, ...progress, resumed, completed: finished === 'completed' };
}

/** A valid row already has every field admitRows reads, so it goes as it is (no copy per row). */
function admitRowOf(row: UnversionedRow): AdmitRow {
  if (row.record) return row;
  const { state: _state, line: _line, ...rejected } = rejectedRow(row);
  return { line: row.line, key: '', fingerprint: '', reportedTicks: '', rejectedJson: JSON.stringify(rejected) };
}
