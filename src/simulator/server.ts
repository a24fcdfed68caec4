import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { firstHeader, registerAdminRoutes } from './admin.js';
import { SimulatorCore, type DriftChange, type SeedRow } from './core.js';
import { defaultCodeFor, graphError } from './errors.js';
import type { SimulatorCounters, RequestLogEntry } from './metrics.js';
import type { ForcedAnswer, SimulatorOptions } from './options.js';
import { seedRowsFromCsv } from './seed.js';

const BODY_LIMIT = 1024 * 1024;

export interface GraphSimulator {
  /** e.g. http://127.0.0.1:43123, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  /** key `${collection}/${configId}/${userStatusId}` -> stored object (another tenant than sim-tenant: `${tenantId}|${key}`). */
  state(): Record<string, Record<string, unknown>>;
  counters(): SimulatorCounters;
  requestLog(): RequestLogEntry[];
  /** Changes tokens, missingConfigurations, budget, anyBudget, page sizes, patchNoContent, faults, seed or latencyMs at runtime. */
  configure(partial: Partial<SimulatorOptions>): void;
  injectNext(n: number, answer: ForcedAnswer): void;
  /** Changes or seeds stored values behind the client's back (see POST /_sim/drift); returns how many. */
  drift(changes: DriftChange[]): number;
  /**
   * Creates the user statuses that CSV text (or rows) names and the tenant does not hold yet, in a pre-import state,
   * as Graph holds them before a first sync (see POST /_sim/seed).
   */
  seed(csvOrRows: string | SeedRow[]): { created: number; existing: number };
  setLatencyMs(ms: number): void;
  /** Clears state, counters, log, buckets and injections; options stay as configured. */
  reset(): void;
  close(): Promise<void>;
}

/** Time as the simulator sees it: the wall clock, or a test's own clock so throttling and latency are exact. */
export interface SimulatorClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const WALL_CLOCK: SimulatorClock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

export async function startSimulator(options: SimulatorOptions = {}, clock: SimulatorClock = WALL_CLOCK): Promise<GraphSimulator> {
  const core = new SimulatorCore(options);
  const { host, port, logger } = core.options;

  const app = Fastify({
    logger,
    bodyLimit: BODY_LIMIT,
    // Without this, close() waits for idle keep-alive sockets held by undici's pool.
    forceCloseConnections: true,
    genReqId: () => randomUUID(),
    // Real Graph ids are GUIDs, but clients may send anything; never let the router reject them.
    routerOptions: { maxParamLength: 10_000 },
    frameworkErrors: (err, req, reply) => {
      sendFrameworkError(core, clock, err, req, reply);
    },
  });

  // Bodies stay raw text so that JSON errors surface after auth and throttling, as on Graph,
  // and so that any content type (or none) reaches the same rules.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    reply.header('request-id', req.id);
    const clientRequestId = firstHeader(req.headers['client-request-id']);
    if (clientRequestId) reply.header('client-request-id', clientRequestId);
  });

  app.setErrorHandler((err, req, reply) => {
    sendFrameworkError(core, clock, err as { statusCode?: number; message: string }, req, reply);
  });

  registerAdminRoutes(app, core);

  const graphHandler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const outcome = core.handle({
      method: req.method,
      url: req.url,
      authorization: req.headers.authorization,
      rawBody: typeof req.body === 'string' ? req.body : undefined,
      requestId: String(req.id),
      clientRequestId: firstHeader(req.headers['client-request-id']),
      receivedAt: clock.now(),
      host: req.headers.host,
      accept: req.headers.accept,
    });
    if (outcome.delayMs > 0) await clock.sleep(outcome.delayMs);
    if (outcome.kind === 'drop') {
      reply.hijack();
      req.raw.socket.destroy();
      return;
    }
    await reply
      .code(outcome.status)
      .headers(outcome.headers)
      .send(outcome.text ?? JSON.stringify(outcome.body));
  };
  app.all('*', graphHandler);
  app.setNotFoundHandler(graphHandler);

  await app.listen({ host, port });
  const address = app.server.address() as AddressInfo;

  return {
    url: `http://${urlHost(host)}:${address.port}`,
    port: address.port,
    state: () => core.state(),
    counters: () => core.counters(),
    requestLog: () => core.requestLog(),
    configure: (partial) => core.configure(partial),
    injectNext: (n, answer) => core.injectNext(n, answer),
    drift: (changes) => core.drift(changes),
    seed: (csvOrRows) => core.seed(typeof csvOrRows === 'string' ? seedRowsFromCsv(csvOrRows) : csvOrRows),
    setLatencyMs: (ms) => core.configure({ latencyMs: ms }),
    reset: () => core.reset(),
    close: () => app.close(),
  };
}

function sendFrameworkError(
  core: SimulatorCore,
  clock: SimulatorClock,
  err: { statusCode?: number; message: string },
  req: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  core.recordFrameworkError(req.method, req.url, req.headers.authorization, status, clock.now());
  const ids = { requestId: String(req.id), clientRequestId: firstHeader(req.headers['client-request-id']) };
  const message = status === 500 ? 'An internal error occurred in the Graph simulator.' : err.message;
  void reply
    .code(status)
    .header('request-id', String(req.id))
    .type('application/json')
    .send(JSON.stringify(graphError(defaultCodeFor(status), message, ids)));
}

/** Wildcard binds are not dialable, and IPv6 literals need brackets in a URL. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
