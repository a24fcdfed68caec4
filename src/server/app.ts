import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { tenantDirectory, type SyncConfig, type TrustProxy } from '../config.js';
import type { Logger } from '../logger.js';
import { PatchQueues } from '../queue/queues.js';
import { createScheduleQueue } from '../queue/schedules.js';
import { dataNodes, describeRedisFailure } from '../queue/connection.js';
import { ResultStore } from '../results/store.js';
import { MemoryGuard } from '../queue/memory.js';
import type { RunAlerts } from '../../jobs/alerts.js';
import { requireBearer, type ApiTokens } from './auth.js';
import { registerDashboard } from './dashboard.js';
import { registerIngestRoutes } from './ingest.js';
import { createServerMetrics } from './metrics.js';
import { tenantLabelOptions } from '../domain/tenant-label.js';
import { registerRunsApi } from './runs-api.js';
import { tenantsOf } from '../tenants/tenant.js';
import type { RedisClient } from '../interfaces.js';

export interface ServerOptions {
  config: SyncConfig;
  /** A long-lived connection the caller owns (and closes after the server). */
  redis: RedisClient;
  /** The project's pino logger, so the server's lines carry the same redaction of secrets. */
  logger: Logger;
  tokens: ApiTokens;
  alerts?: RunAlerts;
  maxRecordsPerRequest?: number;
  /** Overrides SYNC_API_BODY_TIMEOUT_MS (tests). */
  bodyTimeoutMs?: number;
  /** The clock that picks the hour's event run (tests). */
  now?: () => number;
}

const READY_PING_TIMEOUT_MS = 1000;

/** SYNC_TRUST_PROXY as Fastify takes it: a hop count becomes "trust the first n hops" (what proxy-addr does with a number). */
export function fastifyTrustProxy(trust: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust !== 'number') return trust;
  return (_address, hop) => hop < trust;
}

/**
 * Node's own timeouts for a request that must arrive whole within `bodyTimeoutMs` (Fastify's requestTimeout).
 * headersTimeout may not exceed it: Node would otherwise swap the two and wait the longer one (60 s by default).
 * Node looks for late requests every connectionsCheckingInterval: a quarter of the timeout, between 250 ms and Node's
 * own 30 s, so a slow request is cut off at most 25 % late rather than up to 30 s late.
 */
export function requestTimeouts(bodyTimeoutMs: number): {
  requestTimeout: number;
  headersTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    requestTimeout: bodyTimeoutMs,
    headersTimeout: Math.min(60_000, bodyTimeoutMs),
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(bodyTimeoutMs / 4))),
  };
}

/** A URL as logged: the path only, since a query string may hold a token someone pasted there. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?[query removed]`;
}

/** Every data node answers (on a cluster, each master: a PING to the cluster would reach one node at random). */
async function redisAnswers(redis: RedisClient): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), READY_PING_TIMEOUT_MS)));
  const ping = Promise.all(dataNodes(redis).map((node) => node.ping())).then(
    (answers) => answers.every((a) => a === 'PONG'),
    () => false,
  );
  const ok = await Promise.race([ping, timeout]);
  clearTimeout(timer);
  return ok;
}

/**
 * The HTTP side of compliance-sync:
 *   GET  /healthz, /readyz, /metrics            no auth
 *   POST /v1/user-statuses                      events (bearer)
 *   GET  /v1/runs, /v1/runs/:id, /v1/runs/:id/rows, /v1/runs/:id/timeline   (bearer)
 *   GET  /admin/runs, /admin/queues (Bull Board)     (bearer or dashboard session)
 * It only enqueues and reads: workers (`compliance-sync worker`) do the sending.
 */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { config, redis, tokens } = options;
  const store = new ResultStore(redis, config.prefix, { runRetentionMs: config.runRetentionMs });
  const tenants = tenantsOf(config);
  const [defaultTenant] = tenants;
  const patchQueue = defaultTenant.queue(redis);
  // The other tenants' queues, opened once for every request rather than per request.
  const patchQueues = new PatchQueues(redis, config.prefix, patchQueue);
  const importQueue = createScheduleQueue(redis, config.prefix);
  const breaker = defaultTenant.breaker(redis);
  const metrics = createServerMetrics({
    store,
    queue: patchQueues,
    breaker,
    redis,
    prefix: config.prefix,
    rateLimit: config.rateLimit,
    memoryHighWaterPercent: config.memoryHighWaterPercent,
    tenants: tenantLabelOptions(config),
  });

  const bodyTimeoutMs = options.bodyTimeoutMs ?? config.apiBodyTimeoutMs;
  const timeouts = requestTimeouts(bodyTimeoutMs);
  const app = Fastify({
    // The assertion widens Fastify's logger type parameter, which FastifyInstance below needs.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- see above
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: config.apiBodyLimitBytes,
    // Requests arriving during shutdown get 503 and can be retried elsewhere; accepted ones finish first.
    return503OnClosing: true,
    // Fastify's own request lines log the URL with its query string, where a careless client may put a token;
    // the onResponse hook below logs the path instead.
    logController: new LogController({ disableRequestLogging: true }),
    // Run ids may have 128 characters: a longer one must get the run-id rule's 400, not fastify's 414.
    routerOptions: { maxParamLength: 512 },
    // A request (headers and body) must arrive whole within the body timeout: Node answers 408 to a client trickling
    // its body and closes the socket. Node looks for such requests every connectionsCheckingInterval.
    requestTimeout: timeouts.requestTimeout,
    http: { headersTimeout: timeouts.headersTimeout, connectionsCheckingInterval: timeouts.connectionsCheckingInterval },
    // Behind a TLS proxy, X-Forwarded-Proto makes request.protocol https, so the session cookie is Secure.
    trustProxy: fastifyTrustProxy(config.trustProxy),
  });
  app.server.on('clientError', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return;
    app.log.warn({ bodyTimeoutMs }, 'request too slow to arrive: answered 408 and closed the connection');
  });
  // Only JSON bodies (and the dashboard's login form) are read; fastify's default text/plain parser would hand
  // the events route a string, which then got 400 instead of the 415 a wrong media type deserves.
  app.removeContentTypeParser('text/plain');
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, path: pathOf(request.url), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request completed',
    );
  });
  app.addHook('onClose', async () => {
    await Promise.all([patchQueue.close(), importQueue.close(), patchQueues.close()]);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const redisFailure = describeRedisFailure(error, config.redisCommandTimeoutMs);
    if (redisFailure) {
      request.log.warn({ err: error.message }, 'request refused: RedisClient unavailable');
      return reply.code(503).header('retry-after', '5').send({ statusCode: 503, error: 'Service Unavailable', message: redisFailure });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(status).send({
        statusCode: status,
        error: 'Internal Server Error',
        message: `internal error; see the server log for request ${request.id}`,
      });
    }
    const message =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `the request body is larger than SYNC_API_BODY_LIMIT_BYTES (${config.apiBodyLimitBytes} bytes); send fewer records per request`
        : error.message;
    return reply.code(status).send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', code: error.code, message });
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const redisOk = await redisAnswers(redis);
    const breakerState = redisOk ? await breaker.state() : undefined;
    const ready = redisOk && breakerState?.tripped === false;
    return reply.code(ready ? 200 : 503).send({
      ready,
      redis: redisOk ? 'ok' : 'unreachable',
      ...(breakerState ? { breaker: breakerState.tripped ? { tripped: true, reason: breakerState.reason } : { tripped: false } } : {}),
    });
  });

  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.render()));

  await app.register(
    async (v1) => {
      v1.addHook('onRequest', requireBearer(tokens));
      await registerIngestRoutes(v1, {
        store,
        queue: patchQueues,
        alerts: options.alerts,
        maxRecords: options.maxRecordsPerRequest,
        commandTimeoutMs: config.redisCommandTimeoutMs,
        memoryGuard: new MemoryGuard(redis, config.memoryHighWaterPercent),
        now: options.now,
        apiVersion: config.apiVersion,
        tenants: tenantDirectory(config),
      });
      await registerRunsApi(v1, { store, tenants: { fleet: { prefix: config.prefix, tenants }, redis } });
    },
    { prefix: '/v1' },
  );
  const dashboard = { store, tokens, queues: [patchQueue, importQueue], budget: config.rateLimit, now: options.now };
  await app.register(async (admin) => registerDashboard(admin, dashboard), { prefix: '/admin' });
  return app;
}
