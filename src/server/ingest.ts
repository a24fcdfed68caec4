import type { FastifyInstance } from 'fastify';
import type { FieldError, RawRow, ReplacedRow } from '../interfaces.js';
import { importRun, type ImportSummary } from '../producer/import-run.js';
import { HTTP_IDENTITY } from '../producer/run-input.js';
import { RowChecker, type TenantDirectory } from '../producer/validate-rows.js';
import type { PatchQueue, PatchQueues } from '../queue/queues.js';
import { isOutOfMemoryReply, readRedisMemory, RedisOutOfMemoryError } from '../queue/memory.js';
import type { ResultStore } from '../results/store.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, describeRedisFailure } from '../queue/connection.js';
import type { RunAlerts } from '../../jobs/alerts.js';

export interface IngestOptions {
  store: ResultStore;
  /** Each record goes to its tenant's queue. */
  queue: PatchQueue | PatchQueues;
  alerts?: RunAlerts;
  /** Records accepted in one request; more get 413 before any is looked at. */
  maxRecords?: number;
  /** Checked before queueing; when Redis is too full, the request gets 503 and nothing is queued. */
  memoryGuard?: { check(): Promise<void> };
  /** The clock that picks the event run (tests). */
  now?: () => number;
  /** SYNC_REDIS_COMMAND_TIMEOUT_MS, for the 503's message. */
  commandTimeoutMs?: number;
  /** GRAPH_API_VERSION: under v1.0, iosLobAppProvisioningConfiguration records are refused as at import. */
  apiVersion?: 'beta' | 'v1.0';
  /** The tenants a record may name (tenantDirectory(config)). */
  tenants?: TenantDirectory;
}

export const CANCELLED_REASON = 'not sent: the server answered this request with 503 because Redis did not answer in time';
export const OUT_OF_MEMORY_CANCELLED_REASON =
  'not sent: the server answered this request with 503 because Redis was out of memory before its rows were queued';
const CANCEL_RETRY_MS = 1000;
const CANCEL_GIVE_UP_MS = 10 * 60_000;

/**
 * Cancels the run of a request answered with 503, retrying until Redis answers: the request's own writes may
 * be waiting in a stalled Redis (or its socket) and run later; this runs after them and fails their rows.
 * `replaced`: the older queued rows its rows superseded, as far as known; those still waiting for their job wait again.
 */
export function cancelTimedOutRun(
  store: ResultStore,
  runId: string,
  lines: { first: number; last: number },
  log: { warn: (o: object, m: string) => void; error: (o: object, m: string) => void },
  startedAt = Date.now(),
  reason = CANCELLED_REASON,
  replaced: readonly ReplacedRow[] = [],
): void {
  store.cancelRun(runId, reason, lines.first, lines.last, replaced).then(
    (cancelled) => {
      if (cancelled > 0) log.warn({ runId, cancelled, reason }, 'rows of a request answered with 503 were cancelled');
    },
    (err: Error) => {
      if (Date.now() - startedAt > CANCEL_GIVE_UP_MS)
        return log.error({ runId, err: err.message }, 'could not cancel the run of a request answered with 503');
      setTimeout(() => cancelTimedOutRun(store, runId, lines, log, startedAt, reason, replaced), CANCEL_RETRY_MS).unref();
    },
  );
}

export const MAX_RECORDS_PER_REQUEST = 1000;
export const EVENT_SOURCE_LABEL = 'http POST /v1/user-statuses';
/** Unknown field names echoed back as a hint are capped, so a hostile body cannot make a huge answer. */
const MAX_IGNORED_FIELDS_REPORTED = 20;

export interface RecordErrors {
  /** 0-based position in the posted array (0 for a single object); the run's `line` is index + 1. */
  index: number;
  errors: FieldError[];
}

/**
 * Events that arrive in the same UTC hour share one run, `evt-<yyyymmdd>T<hh>`, so a steady stream of events makes
 * 24 runs a day, not one per request, and never buries bulk runs. Each request takes its own block of lines in that
 * run (answered as `firstLine`), so its records can still be followed: record i is line firstLine + i.
 */
export function eventRunId(now = Date.now()): string {
  const iso = new Date(now).toISOString();
  return `evt-${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}`;
}

const isRecordObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function toRawRows(items: unknown[], firstLine = 1): RawRow[] {
  return items.map((item, i) =>
    isRecordObject(item)
      ? { line: firstLine + i, fields: item }
      : { line: firstLine + i, fields: {}, problem: { column: '(row)', reason: 'is not a JSON object' } },
  );
}

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

const badRequest = (message: string) => ({ statusCode: 400, error: 'Bad Request', message });

/**
 * POST /user-statuses: one record or an array of records, with the same fields and rules as `import`.
 * Valid records jump ahead of bulk rows (origin 'event'), and newest-wins applies across both.
 * 202: all queued. 207: some rejected (recorded in the run, like an import's rejected rows).
 * 400: none valid, and then no run is created and nothing is queued.
 */
export async function registerIngestRoutes(app: FastifyInstance, options: IngestOptions): Promise<void> {
  const maxRecords = options.maxRecords ?? MAX_RECORDS_PER_REQUEST;

  app.post('/user-statuses', async (request, reply) => {
    const body = request.body;
    if (body === null || typeof body !== 'object') {
      return reply.code(400).send(badRequest(`the body must be a JSON object (one record) or an array of up to ${maxRecords} records`));
    }
    const items: unknown[] = Array.isArray(body) ? body : [body];
    if (items.length === 0) return reply.code(400).send(badRequest('the array holds no records'));
    if (items.length > maxRecords) {
      return reply.code(413).send({
        statusCode: 413,
        error: 'Payload Too Large',
        message:
          `${items.length} records in one request; at most ${maxRecords} are accepted. ` +
          `Split the batch, or use \`compliance-sync import\` for bulk files.`,
      });
    }

    // Validate everything first, so a body with no valid record leaves no run behind.
    const rows = toRawRows(items);
    const ignored = new Set<string>();
    const checker = new RowChecker({}, (name) => ignored.add(name.length > 200 ? `${name.slice(0, 200)}…` : name), {
      apiVersion: options.apiVersion,
      tenants: options.tenants,
    });
    const errors: RecordErrors[] = rows.flatMap((raw, index) => {
      const checked = checker.check(raw, 0);
      return checked.errors ? [{ index, errors: checked.errors }] : [];
    });
    const ignoredFields = ignored.size > 0 ? { ignoredFields: [...ignored].slice(0, MAX_IGNORED_FIELDS_REPORTED) } : {};
    if (errors.length === rows.length) {
      return reply
        .code(400)
        .send({ ...badRequest('no record is valid; nothing was queued'), accepted: 0, rejected: errors.length, errors, ...ignoredFields });
    }

    const runId = eventRunId(options.now?.() ?? Date.now());
    const jobIds: string[] = [];
    // Older queued rows this request's rows superseded: a request answered 503 is undone, and those wait again.
    const replaced: ReplacedRow[] = [];
    let summary: ImportSummary;
    let firstLine = 0;
    try {
      await options.memoryGuard?.check();
      firstLine = await options.store.reserveLines(runId, rows.length);
      // Rejected records go in too, so the run's report lists them like an import's rejected rows.
      summary = await importRun(options.store, options.queue, {
        runId,
        rows: iterate(toRawRows(items, firstLine)),
        sourceLabel: EVENT_SOURCE_LABEL,
        input: HTTP_IDENTITY,
        origin: 'event',
        checker,
        apiVersion: options.apiVersion,
        onJobsQueued: (ids) => jobIds.push(...ids),
        onRowsReplaced: (rows) => replaced.push(...rows),
      });
    } catch (err) {
      const failure = describeRedisFailure(err, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
      if (failure) {
        // Writes already on the wire may still run once Redis wakes up: the cancel follows them on the same
        // connection, so nothing of a request answered 503 is ever sent. Without its lines, nothing was written.
        if (firstLine > 0) {
          const lines = { first: firstLine, last: firstLine + rows.length - 1 };
          cancelTimedOutRun(options.store, runId, lines, request.log, Date.now(), CANCELLED_REASON, replaced);
        }
        request.log.warn({ runId, err: (err as Error).message }, 'events refused: Redis did not answer');
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ statusCode: 503, error: 'Service Unavailable', message: `${failure}; nothing was queued, send the request again` });
      }
      if (!isOutOfMemoryReply(err)) throw err;
      if (err instanceof RedisOutOfMemoryError && err.queuedAll && firstLine > 0) {
        // The records are queued; only closing the hour's run failed, and the next request of the hour closes it.
        summary = err.queuedAll as ImportSummary;
      } else {
        const memoryError =
          err instanceof RedisOutOfMemoryError
            ? err
            : new RedisOutOfMemoryError(await readRedisMemory(options.store.redis).catch(() => undefined));
        // Rows may have been admitted before Redis refused their jobs: they would wait forever. The request is undone
        // (its rows failed as not sent, older rows it superseded queued again), so the 503's "nothing was queued" holds
        // and sending it again counts each record once. The cancel may write when Redis is full (allow-oom).
        // Awaited, so a client that sends the request again at once finds it undone.
        if (firstLine > 0) {
          const lines = { first: firstLine, last: firstLine + rows.length - 1 };
          await options.store
            .cancelRun(runId, OUT_OF_MEMORY_CANCELLED_REASON, lines.first, lines.last, replaced)
            .catch(() => cancelTimedOutRun(options.store, runId, lines, request.log, Date.now(), OUT_OF_MEMORY_CANCELLED_REASON, replaced));
        }
        request.log.error({ err: (err as Error).message }, 'Redis is out of memory: events refused');
        return reply
          .code(503)
          .header('retry-after', '30')
          .send({ statusCode: 503, error: 'Service Unavailable', message: `${memoryError.message}; nothing was queued. Retry later.` });
      }
    }
    // Every record was unchanged or superseded (or already sent): no worker will see this run end.
    if (summary.completed) options.alerts?.watch(runId);
    request.log.info({ runId, accepted: summary.accepted, rejected: summary.rejected, queued: jobIds.length }, 'events accepted');
    return reply.code(errors.length > 0 ? 207 : 202).send({
      runId,
      firstLine,
      jobIds,
      accepted: summary.accepted,
      rejected: summary.rejected,
      // Rows this request queued to send: import --json's word for them.
      enqueued: summary.enqueued,
      unchanged: summary.unchanged,
      superseded: summary.superseded,
      ...(errors.length > 0 ? { errors } : {}),
      ...ignoredFields,
    });
  });
}
