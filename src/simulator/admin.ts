import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DriftChange, SimulatorCore } from './core.js';
import { graphError } from './errors.js';
import type { ForcedAnswer, SimulatorOptions } from './options.js';
import { seedRowsFrom, seedRowsFromCsv } from './seed.js';

// Listening address and logger are fixed once the server is up; accepting them here would lie.
const RUNTIME_OPTIONS = [
  'tokens',
  'jwtKeys',
  'graphCloud',
  'missingConfigurations',
  'budget',
  'anyBudget',
  'pageSize',
  'maxPageSize',
  'nextLinkForm',
  'nextLinkHost',
  'patchNoContent',
  'refusePatches',
  'listNulls',
  'serviceSets',
  'faults',
  'faultsOnWritesOnly',
  'createOnPatch',
  'selectAddsId',
  'echoDates',
  'throttleShape',
  'seed',
  'latencyMs',
] as const;

/**
 * Control plane for other processes (demo, CLI children). No auth and no throttling:
 * it is the test harness talking, not a Graph client.
 */
export function registerAdminRoutes(app: FastifyInstance, core: SimulatorCore): void {
  app.get('/_sim/state', async () => core.state());
  app.get('/_sim/counters', async () => core.counters());
  app.get('/_sim/requests', async (req) => {
    const limit = Number((req.query as Record<string, string | undefined>).limit);
    return core.requestLog(Number.isInteger(limit) && limit >= 0 ? limit : undefined);
  });

  app.post('/_sim/configure', async (req, reply) =>
    withJsonBody(req, reply, (body) => {
      const partial: Partial<SimulatorOptions> = {};
      for (const key of RUNTIME_OPTIONS) {
        if (key in body) (partial as Record<string, unknown>)[key] = body[key];
      }
      core.configure(partial);
      return { ok: true, options: Object.fromEntries(RUNTIME_OPTIONS.map((key) => [key, core.options[key]])) };
    }),
  );

  // Changes stored user statuses behind every client's back (an admin in the portal, Intune itself, another
  // tool), or seeds what Graph already holds. Not a write through Graph: no budget, no counters.
  app.post('/_sim/drift', async (req, reply) =>
    withJsonBody(req, reply, (body) => {
      if (!Array.isArray(body.changes))
        throw new Error('body must be {"changes": [{"key": "<collection>/<configId>/<userStatusId>", "values": {...}}]}');
      return { ok: true, changed: core.drift(body.changes as DriftChange[]) };
    }),
  );

  // Creates the user statuses an export names, as Graph holds them before a first sync, so that PATCHes have
  // something to update (Graph's PATCH never creates). Body: the CSV text itself, or {"rows": [{configurationId, ...}]}.
  app.post('/_sim/seed', async (req, reply) => {
    const raw = typeof req.body === 'string' ? req.body : '';
    if (raw.trimStart().startsWith('{')) {
      return withJsonBody(req, reply, (body) => {
        if (!Array.isArray(body.rows))
          throw new Error(
            'body must be CSV text or {"rows": [{"configurationId", "userStatusId", ' +
              '"configurationType"?, "tenantId"?, "userPrincipalName"?}]}',
          );
        return { ok: true, ...core.seed(seedRowsFrom(body.rows)) };
      });
    }
    try {
      return { ok: true, ...core.seed(seedRowsFromCsv(raw)) };
    } catch (err) {
      const ids = { requestId: String(req.id), clientRequestId: firstHeader(req.headers['client-request-id']) };
      return reply.code(400).send(graphError('BadRequest', (err as Error).message, ids));
    }
  });

  app.post('/_sim/inject', async (req, reply) =>
    withJsonBody(req, reply, (body) => {
      core.injectNext(Number(body.n), body.answer as ForcedAnswer);
      return { ok: true };
    }),
  );

  app.post('/_sim/reset', async () => {
    core.reset();
    return { ok: true };
  });
}

async function withJsonBody(req: FastifyRequest, reply: FastifyReply, act: (body: Record<string, unknown>) => unknown): Promise<unknown> {
  try {
    const raw = typeof req.body === 'string' && req.body.trim() !== '' ? req.body : '{}';
    const body: unknown = JSON.parse(raw);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('body must be a JSON object');
    return act(body as Record<string, unknown>);
  } catch (err) {
    const ids = { requestId: String(req.id), clientRequestId: firstHeader(req.headers['client-request-id']) };
    return reply.code(400).send(graphError('BadRequest', (err as Error).message, ids));
  }
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
