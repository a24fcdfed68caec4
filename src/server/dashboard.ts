import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROW_STATES, type RowState } from '../interfaces.js';
import type { ResultStore } from '../results/store.js';
import fastifyCookie from '@fastify/cookie';
import { requireBearerOrSession, SESSION_COOKIE, sessionCookieOptions, type ApiTokens } from './auth.js';
import { loginPage, runPage, runsPage } from './runs-page.js';
import { readRowsPage, runIdRefusal } from './runs-api.js';
import { escapeHtml } from './html.js';

export interface DashboardOptions {
  store: ResultStore;
  tokens: ApiTokens;
  /** Shown in Bull Board; read-only there, since row state lives in the result store (use `retry`/`resume`). */
  queues: Queue[];
}

const BASE = '/admin';
const ROWS_SHOWN = 500;
const MAX_LOGIN_BODY_BYTES = 8 * 1024;

/** Pages hold data from inputs and from Graph: no script may run, nothing may frame them, nothing is cached. */
function sendPage(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
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
  // Parses the Cookie header for this scope (request.cookies) and adds reply.setCookie; the session is our own HMAC.
  await app.register(fastifyCookie);

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_LOGIN_BODY_BYTES }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.get('/login', async (request, reply) => sendPage(reply, loginPage({ next: safeNext((request.query as { next?: string }).next) })));

  app.post<{ Body: { token?: string; next?: string } }>('/login', async (request, reply) => {
    const session = tokens.sessionForToken(typeof request.body?.token === 'string' ? request.body.token : '');
    if (!session) {
      request.log.warn({ ip: request.ip }, 'dashboard login refused');
      return sendPage(reply, loginPage({ next: safeNext(request.body?.next), failed: true }), 401);
    }
    return reply.setCookie(SESSION_COOKIE, session, sessionCookieOptions(request.protocol === 'https')).redirect(safeNext(request.body?.next), 303);
  });

  app.get('/logout', async (request, reply) => reply.setCookie(SESSION_COOKIE, '', sessionCookieOptions(request.protocol === 'https', 0)).redirect(`${BASE}/login`, 303));

  await app.register(async (secured) => {
    // A browser without a session gets the login form (still a 401); API clients get the JSON 401.
    secured.addHook(
      'onRequest',
      requireBearerOrSession(tokens, (request, reply) =>
        wantsHtml(request) ? sendPage(reply, loginPage({ next: safeNext(request.url) }), 401) : reply.code(401).header('connection', 'close').send({ statusCode: 401, error: 'Unauthorized', message: 'sign in at /admin/login or send Authorization: Bearer <token>' }),
      ),
    );

    secured.get('/', async (_request, reply) => reply.redirect(`${BASE}/runs`, 303));

    secured.get<{ Querystring: { refresh?: number } }>(
      '/runs',
      { schema: { querystring: { type: 'object', properties: { refresh: { type: 'integer', minimum: 2, maximum: 3600 } } } } },
      async (request, reply) => sendPage(reply, runsPage(await store.listRuns(100), request.query.refresh)),
    );

    secured.get<{ Params: { id: string }; Querystring: { state?: RowState | 'all' } }>(
      '/runs/:id',
      { schema: { querystring: { type: 'object', properties: { state: { type: 'string', enum: ['all', ...ROW_STATES] } } } } },
      async (request, reply) => {
        const refusal = runIdRefusal(request.params.id);
        if (refusal) return sendPage(reply, `<!doctype html><title>Bad request</title><p>${escapeHtml(refusal.message)} <a href="${BASE}/runs">All runs</a></p>`, 400);
        const status = await store.status(request.params.id);
        if (!status) return sendPage(reply, `<!doctype html><title>Not found</title><p>No such run. <a href="${BASE}/runs">All runs</a></p>`, 404);
        const requested = request.query.state ?? (status.failed > 0 ? 'failed' : 'all');
        const state = requested === 'all' ? undefined : requested;
        const rows = await readRowsPage(store, status.runId, state, 0, ROWS_SHOWN);
        return sendPage(reply, runPage(status, state, rows.rows, rows.nextAfter !== undefined, await store.timeline(status.runId)));
      },
    );

    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(`${BASE}/queues`);
    createBullBoard({
      queues: options.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'compliance-sync' } },
    });
    await secured.register(serverAdapter.registerPlugin(), { prefix: '/queues' });
  });
}
