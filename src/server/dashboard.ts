import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimit } from '../config.js';
import { ROW_STATES, type RowResult, type RowState } from '../interfaces.js';
import type { ResultStore } from '../results/store.js';
import fastifyCookie from '@fastify/cookie';
import { requireBearerOrSession, SESSION_COOKIE, sessionCookieOptions, type ApiTokens } from './auth.js';
import { loginPage, runPage, runsPage } from './runs-page.js';
import { filteredRows, readRowsPage, REASON_ID_SCHEMA, runIdRefusal } from './runs-api.js';
import { downloadFileName, DOWNLOAD_TYPES, rowsDownload } from './rows-download.js';
import { groupByReason, runPace, runPageRefreshSeconds, type ReasonGroups } from './run-view.js';
import { escapeHtml } from './html.js';

export interface DashboardOptions {
  store: ResultStore;
  tokens: ApiTokens;
  /** Shown in Bull Board; read-only there, since row state lives in the result store (use `retry`/`resume`). */
  queues: Queue[];
  /** The write budget (SYNC_RATE_LIMIT), drawn on each run's timeline. */
  budget?: RateLimit;
  /** The clock of throughput and ETA (tests). */
  now?: () => number;
}

const BASE = '/admin';
const ROWS_SHOWN = 500;
/** Failure groups are counted from at most this many failed rows, so a run with a million failures still loads. */
export const MAX_GROUPED_ROWS = 50_000;

/** A run's failed rows grouped by reason, from its first MAX_GROUPED_ROWS failed rows. */
async function readFailureGroups(store: ResultStore, runId: string, failed: number): Promise<ReasonGroups & { read: number; of: number }> {
  const rows: Pick<RowResult, 'reason' | 'httpStatus'>[] = [];
  for await (const row of store.iterateRows(runId, ['failed'])) {
    rows.push({ reason: row.reason, httpStatus: row.httpStatus });
    if (rows.length >= MAX_GROUPED_ROWS) break;
  }
  return { ...groupByReason(rows), read: rows.length, of: Math.max(failed, rows.length) };
}
const MAX_LOGIN_BODY_BYTES = 8 * 1024;

/** Pages hold data from inputs and from Graph: no script may run, nothing may frame them, nothing is cached. */
function sendPage(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .send(body);
}

/** Only dashboard paths, so the login form cannot be used to redirect anywhere else. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/admin\/[A-Za-z0-9/_.~:?=&%-]*$/.test(next) && !next.includes('//') ? next : `${BASE}/runs`;
}

const wantsHtml = (request: FastifyRequest) => (request.headers.accept ?? '').includes('text/html');

/**
 * The dashboard under /admin: the runs pages, Bull Board at /admin/queues, and a login form that
 * trades a token for an HttpOnly, SameSite=Strict session cookie (browsers cannot send bearer headers).
 */
export async function registerDashboard(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const { store, tokens } = options;
  const now = options.now ?? Date.now;
  // Parses the Cookie header for this scope (request.cookies) and adds reply.setCookie; the session is our own HMAC.
  await app.register(fastifyCookie);

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: MAX_LOGIN_BODY_BYTES },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );

  app.get('/login', async (request, reply) => sendPage(reply, loginPage({ next: safeNext((request.query as { next?: string }).next) })));

  app.post<{ Body: { token?: string; next?: string } }>('/login', async (request, reply) => {
    const session = tokens.sessionForToken(typeof request.body?.token === 'string' ? request.body.token : '');
    if (!session) {
      request.log.warn({ ip: request.ip }, 'dashboard login refused');
      return sendPage(reply, loginPage({ next: safeNext(request.body?.next), failed: true }), 401);
    }
    return reply
      .setCookie(SESSION_COOKIE, session, sessionCookieOptions(request.protocol === 'https'))
      .redirect(safeNext(request.body?.next), 303);
  });

  app.get('/logout', async (request, reply) =>
    reply.setCookie(SESSION_COOKIE, '', sessionCookieOptions(request.protocol === 'https', 0)).redirect(`${BASE}/login`, 303),
  );

  await app.register(async (secured) => {
    // A browser without a session gets the login form (still a 401); API clients get the JSON 401.
    secured.addHook(
      'onRequest',
      requireBearerOrSession(tokens, (request, reply) =>
        wantsHtml(request)
          ? sendPage(reply, loginPage({ next: safeNext(request.url) }), 401)
          : reply
              .code(401)
              .header('connection', 'close')
              .send({ statusCode: 401, error: 'Unauthorized', message: 'sign in at /admin/login or send Authorization: Bearer <token>' }),
      ),
    );

    secured.get('/', async (_request, reply) => reply.redirect(`${BASE}/runs`, 303));

    secured.get<{ Querystring: { refresh?: number } }>(
      '/runs',
      { schema: { querystring: { type: 'object', properties: { refresh: { type: 'integer', minimum: 2, maximum: 3600 } } } } },
      async (request, reply) => sendPage(reply, runsPage(await store.listRuns(100), request.query.refresh)),
    );

    secured.get<{ Params: { id: string }; Querystring: { state?: RowState | 'all'; reasonId?: string; after: number } }>(
      '/runs/:id',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: {
              state: { type: 'string', enum: ['all', ...ROW_STATES] },
              reasonId: REASON_ID_SCHEMA,
              after: { type: 'integer', minimum: 0, default: 0 },
            },
          },
        },
      },
      async (request, reply) => {
        const refusal = runIdRefusal(request.params.id);
        if (refusal)
          return sendPage(
            reply,
            `<!doctype html><title>Bad request</title><p>${escapeHtml(refusal.message)} <a href="${BASE}/runs">All runs</a></p>`,
            400,
          );
        const status = await store.status(request.params.id);
        if (!status)
          return sendPage(reply, `<!doctype html><title>Not found</title><p>No such run. <a href="${BASE}/runs">All runs</a></p>`, 404);
        const { reasonId, after } = request.query;
        const requested = request.query.state ?? (status.failed > 0 ? 'failed' : 'all');
        const state = requested === 'all' ? undefined : requested;
        const [rows, timeline, failures] = await Promise.all([
          readRowsPage(store, status.runId, state, after, ROWS_SHOWN, { reasonId }),
          store.timeline(status.runId),
          status.failed > 0 ? readFailureGroups(store, status.runId, status.failed) : undefined,
        ]);
        const reason =
          reasonId === undefined ? undefined : (failures?.groups.find((g) => g.id === reasonId)?.reason ?? rows.rows[0]?.reason);
        return sendPage(
          reply,
          runPage({
            status,
            state,
            reasonId,
            reason,
            after,
            rows: rows.rows,
            nextAfter: rows.nextAfter,
            timeline,
            budget: options.budget,
            pace: runPace(status, timeline, now()),
            failures,
            refreshSeconds: runPageRefreshSeconds(status),
          }),
        );
      },
    );

    // The rows of a run (in a state, with a reason) as a file, for a browser that holds only the session cookie.
    for (const format of ['csv', 'ndjson'] as const) {
      secured.get<{ Params: { id: string }; Querystring: { state?: RowState; reasonId?: string } }>(
        `/runs/:id/rows.${format}`,
        {
          schema: {
            querystring: { type: 'object', properties: { state: { type: 'string', enum: [...ROW_STATES] }, reasonId: REASON_ID_SCHEMA } },
          },
        },
        async (request, reply) => {
          const { id } = request.params;
          const refusal = runIdRefusal(id);
          if (refusal) return reply.code(400).send(refusal);
          if (!(await store.runExists(id))) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no run ${id}` });
          const { state, reasonId } = request.query;
          const stream = rowsDownload(filteredRows(store, id, { state, reasonId }), format, (err) =>
            request.log.warn({ runId: id, err: err.message }, 'rows download broke off'),
          );
          return reply
            .type(DOWNLOAD_TYPES[format])
            .header('content-disposition', `attachment; filename="${downloadFileName(id, format, state)}"`)
            .header('x-content-type-options', 'nosniff')
            .header('cache-control', 'no-store')
            .send(stream);
        },
      );
    }

    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(`${BASE}/queues`);
    createBullBoard({
      queues: options.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
      serverAdapter,
      // Bull Board's header links back to the rest of the dashboard.
      options: {
        uiConfig: {
          boardTitle: 'compliance-sync',
          miscLinks: [
            { text: 'Runs', url: `${BASE}/runs` },
            { text: 'Log out', url: `${BASE}/logout` },
          ],
        },
      },
    });
    await secured.register(serverAdapter.registerPlugin(), { prefix: '/queues' });
  });
}
