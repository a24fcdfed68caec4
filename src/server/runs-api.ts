import type { FastifyInstance } from 'fastify';
import { ROW_STATES, type RowResult, type RowState } from '../interfaces.js';
import { reportJson } from '../results/report.js';
import type { ResultStore } from '../results/store.js';
import type { RedisClient } from '../interfaces.js';
import type { Tenant } from '../tenants/tenant.js';
import { tenantFigures } from '../producer/tenant-status.js';
import { withIsoTimes } from '../domain/iso-times.js';
import { NO_REASON, reasonId } from './run-view.js';
import { describeRunId, MAX_RUN_ID_LENGTH, runIdProblem } from '../domain/run-id.js';

export interface RunsApiOptions {
  store: ResultStore;
  /** With them, GET /runs/:id adds byTenant and blockedTenants, as `status --json` does. */
  tenants?: { fleet: { prefix: string; tenants: readonly Tenant[] }; redis: RedisClient };
}

export const MAX_RUNS_PER_PAGE = 1000;
export const MAX_ROWS_PER_PAGE = 10_000;
/** Longer than any reason we record (Graph's messages are cut well before this), short enough for a URL. */
export const MAX_REASON_FILTER_LENGTH = 4096;
export const REASON_ID_SCHEMA = { type: 'string', pattern: '^[0-9a-f]{16}$' } as const;

export interface RowsPage {
  rows: RowResult[];
  /** Pass as `after` for the next page; absent on the last page. */
  nextAfter?: number;
}

/** Which rows: one state (undefined: all); one reason, by its text or its reasonId; from the line after `after`. */
export interface RowFilter {
  state?: RowState;
  reason?: string;
  reasonId?: string;
  after?: number;
}

/** A row's reason as grouped and filtered: a row without one matches NO_REASON. */
const reasonOf = (row: RowResult) => row.reason ?? NO_REASON;

/** Whether a row passes a filter's reason (its state was chosen when reading). */
export function matchesReason(row: RowResult, filter: RowFilter): boolean {
  if (filter.reason !== undefined && reasonOf(row) !== filter.reason) return false;
  return filter.reasonId === undefined || reasonId(reasonOf(row)) === filter.reasonId;
}

/** A run's rows that pass the filter, in line order. */
export async function* filteredRows(store: ResultStore, runId: string, filter: RowFilter): AsyncGenerator<RowResult> {
  for await (const row of store.iterateRows(runId, filter.state ? [filter.state] : undefined, 2000, (filter.after ?? 0) + 1)) {
    if (matchesReason(row, filter)) yield row;
  }
}

/** Reads one page of a run's rows in line order, starting after line `after`; with a reason, only rows with that reason. */
export async function readRowsPage(
  store: ResultStore,
  runId: string,
  state: RowState | undefined,
  after: number,
  limit: number,
  reason: Pick<RowFilter, 'reason' | 'reasonId'> = {},
): Promise<RowsPage> {
  const rows: RowResult[] = [];
  for await (const row of filteredRows(store, runId, { state, after, ...reason })) {
    // One row past the page tells whether there is a next page.
    if (rows.length === limit) return { rows, nextAfter: rows[rows.length - 1].line };
    rows.push(row);
  }
  return { rows };
}

const notFound = (runId: string) => ({ statusCode: 404, error: 'Not Found', message: `no run ${runId}` });

/** The 400 body for a run id that breaks the run-id rule, or undefined when the id is fine. */
export function runIdRefusal(runId: string): { statusCode: 400; error: string; message: string } | undefined {
  const problem = runIdProblem(runId);
  if (!problem) return undefined;
  return {
    statusCode: 400,
    error: 'Bad Request',
    message: `run id ${describeRunId(runId)} ${problem} (1-${MAX_RUN_ID_LENGTH} characters of A-Z a-z 0-9 _ . -, not only dots)`,
  };
}

/**
 * GET /runs, /runs/:id, /runs/:id/rows and /runs/:id/timeline: the figures of `status --json`, the rows of `report`
 * and the run's timeline, as JSON.
 */
export async function registerRunsApi(app: FastifyInstance, { store, tenants }: RunsApiOptions): Promise<void> {
  app.get<{ Querystring: { limit: number } }>(
    '/runs',
    {
      schema: {
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_RUNS_PER_PAGE, default: 50 } } },
      },
    },
    async (request) => ({ runs: (await store.listRuns(request.query.limit)).map(withIsoTimes) }),
  );

  app.get<{ Params: { id: string } }>('/runs/:id', async (request, reply) => {
    const refusal = runIdRefusal(request.params.id);
    if (refusal) return reply.code(400).send(refusal);
    const status = await store.status(request.params.id);
    if (!status) return reply.code(404).send(notFound(request.params.id));
    if (!tenants) return withIsoTimes(status);
    return { ...withIsoTimes(status), ...(await tenantFigures(tenants.fleet, tenants.redis, store, status)) };
  });

  app.get<{ Params: { id: string } }>('/runs/:id/timeline', async (request, reply) => {
    const { id } = request.params;
    const refusal = runIdRefusal(id);
    if (refusal) return reply.code(400).send(refusal);
    if (!(await store.runExists(id))) return reply.code(404).send(notFound(id));
    return { runId: id, ...(await store.timeline(id)) };
  });

  app.get<{ Params: { id: string }; Querystring: { state?: RowState; reason?: string; reasonId?: string; limit: number; after: number } }>(
    '/runs/:id/rows',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: [...ROW_STATES] },
            limit: { type: 'integer', minimum: 1, maximum: MAX_ROWS_PER_PAGE, default: 1000 },
            after: { type: 'integer', minimum: 0, default: 0 },
            // Only rows with exactly this reason (the dashboard's failure groups link here).
            reason: { type: 'string', maxLength: MAX_REASON_FILTER_LENGTH },
            reasonId: REASON_ID_SCHEMA,
          },
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const refusal = runIdRefusal(id);
      if (refusal) return reply.code(400).send(refusal);
      if (!(await store.runExists(id))) return reply.code(404).send(notFound(id));
      const { state, limit, after, reason, reasonId: byId } = request.query;
      const page = await readRowsPage(store, id, state, after, limit, { reason, reasonId: byId });
      return {
        runId: id,
        ...(state ? { state } : {}),
        ...(reason !== undefined ? { reason } : {}),
        ...(byId !== undefined ? { reasonId: byId } : {}),
        rows: page.rows.map(reportJson),
        ...(page.nextAfter !== undefined ? { nextAfter: page.nextAfter } : {}),
      };
    },
  );
}
