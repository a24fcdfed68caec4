import { authorize, bearerToken } from './auth.js';
import { formatRetryAfterSeconds, WriteBudget } from './budget.js';
import { defaultCodeFor, defaultMessageFor, graphError } from './errors.js';
import { createRng, decideFault, ForcedAnswers } from './faults.js';
import { emptyCounters, increment, RequestLog, type RequestLogEntry, type SimulatorCounters } from './metrics.js';
import { mergeOptions, resolveOptions, type ForcedAnswer, type ResolvedOptions, type SimulatorOptions, type TokenGrant } from './options.js';
import { matchUserStatusPath, pathOf, type UserStatusRoute } from './routes.js';
import { UserStatusStore } from './state.js';
import { parseJsonBody, validateUserStatusPatch, type ParsedBody } from './validation.js';

/** Graph's own success content type; clients that insist on exactly "application/json" should notice. */
const GRAPH_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

export interface GraphRequest {
  method: string;
  url: string;
  authorization?: string;
  rawBody?: string;
  requestId: string;
  clientRequestId?: string;
  receivedAt: number;
}

export type Outcome =
  | { kind: 'reply'; status: number; headers: Record<string, string>; body: unknown; delayMs: number }
  | { kind: 'drop'; delayMs: number };

interface Exchange {
  req: GraphRequest;
  path: string;
  /** Parsed JSON when possible, otherwise the raw text, so the log shows what the client really sent. */
  body?: unknown;
  parsed: ParsedBody;
  grant?: TokenGrant;
  delayMs: number;
}

/** Everything the simulator knows and decides, independent of the HTTP framework carrying it. */
export class SimulatorCore {
  private opts: ResolvedOptions;
  private readonly store = new UserStatusStore();
  private readonly log = new RequestLog();
  private counts = emptyCounters();
  private budget: WriteBudget;
  private rng: () => number;
  private readonly forced = new ForcedAnswers();
  /** Per (tenant, app): the latest Retry-After instant promised by a 429. */
  private readonly throttledUntil = new Map<string, number>();

  constructor(options: SimulatorOptions = {}) {
    this.opts = resolveOptions(options);
    this.budget = new WriteBudget(this.opts.budget);
    this.rng = createRng(this.opts.seed);
  }

  get options(): ResolvedOptions {
    return this.opts;
  }

  configure(partial: Partial<SimulatorOptions>): void {
    this.opts = mergeOptions(this.opts, partial);
    // New limits mean new buckets; carrying balances across limits would make tests order-dependent.
    if (partial.budget !== undefined) this.budget = new WriteBudget(this.opts.budget);
    if (partial.seed !== undefined) this.rng = createRng(this.opts.seed);
  }

  injectNext(n: number, answer: ForcedAnswer): void {
    this.forced.push(n, answer);
  }

  reset(): void {
    this.store.clear();
    this.log.clear();
    this.counts = emptyCounters();
    this.budget = new WriteBudget(this.opts.budget);
    this.rng = createRng(this.opts.seed);
    this.forced.clear();
    this.throttledUntil.clear();
  }

  state(): Record<string, Record<string, unknown>> {
    return this.store.snapshot();
  }

  counters(): SimulatorCounters {
    return structuredClone(this.counts);
  }

  requestLog(limit?: number): RequestLogEntry[] {
    return this.log.list(limit);
  }

  handle(req: GraphRequest): Outcome {
    const parsed = parseJsonBody(req.rawBody);
    const ex: Exchange = {
      req,
      path: pathOf(req.url),
      body: parsed.ok ? parsed.value : req.rawBody || undefined,
      parsed,
      delayMs: this.opts.latencyMs,
    };
    const isPatch = req.method === 'PATCH';
    if (isPatch) this.counts.requests += 1;
    const token = bearerToken(req.authorization);
    if (token !== undefined) increment(this.counts.authorizationSeen, token);

    const match = matchUserStatusPath(ex.path);
    if (match.kind === 'unknown') {
      return this.error(ex, 404, 'ResourceNotFound', `No HTTP resource was found that matches the request URI '${ex.path}'.`);
    }
    if (match.kind === 'badEncoding') {
      return this.error(ex, 400, 'BadRequest', `The URI segment '${match.segment}' is not correctly percent-encoded.`);
    }
    if (req.method !== 'GET' && !isPatch) {
      return this.error(ex, 405, 'MethodNotAllowed', `The HTTP method '${req.method}' is not supported on this resource.`, {
        Allow: 'GET, PATCH',
      });
    }

    const auth = authorize(token, this.opts.tokens, isPatch);
    if (!auth.ok) return this.error(ex, auth.status, auth.code, auth.message);
    ex.grant = auth.grant;

    return isPatch ? this.patch(ex, match.route) : this.get(ex, match.route);
  }

  /** Errors raised by the HTTP layer itself (body too large, ...) still count as answers to the client. */
  recordFrameworkError(method: string, url: string, authorization: string | undefined, status: number, at: number): void {
    if (pathOf(url).startsWith('/_sim/')) return;
    if (method === 'PATCH') {
      this.counts.requests += 1;
      increment(this.counts.byStatus, String(status));
    }
    const token = bearerToken(authorization);
    if (token !== undefined) increment(this.counts.authorizationSeen, token);
    this.log.add({ at, method, path: pathOf(url), status });
  }

  private get(ex: Exchange, route: UserStatusRoute): Outcome {
    if (this.opts.missingConfigurations.includes(route.configId)) return this.configNotFound(ex, route);
    const stored = this.store.get(route.key);
    if (!stored) {
      return this.error(ex, 404, 'ResourceNotFound', `The userStatus '${route.userStatusId}' was not found.`);
    }
    return this.reply(ex, 200, stored, { 'content-type': GRAPH_JSON });
  }

  private patch(ex: Exchange, route: UserStatusRoute): Outcome {
    const grant = ex.grant as TokenGrant;
    // Charged before anything else is decided: Graph bills refused and forced-failure writes alike.
    const budget = this.budget.take(grant.tenantId, grant.appId, ex.req.receivedAt);

    const forced = this.forced.take();
    if (forced) return this.forcedAnswer(ex, route, forced);

    if (budget.throttled) {
      return this.error(ex, 429, 'TooManyRequests', `${defaultMessageFor(429)} (per-${budget.scope} write budget exhausted)`, {
        'Retry-After': formatRetryAfterSeconds(budget.retryAfterMs),
      });
    }

    const fault = decideFault(this.rng, this.opts.faults);
    if (fault.kind === '503') {
      return this.error(ex, 503, 'ServiceUnavailable', defaultMessageFor(503), {
        'Retry-After': String(this.opts.faults.retryAfter503Seconds),
      });
    }
    if (fault.kind === '504') return this.error(ex, 504, 'GatewayTimeout', defaultMessageFor(504));
    if (fault.kind === 'drop') {
      if (fault.applyBeforeDrop) this.validateAndApply(ex, route, false);
      return this.drop(ex);
    }
    if (fault.slow) ex.delayMs += this.opts.faults.slowMs;
    return this.validateAndApply(ex, route, true);
  }

  private forcedAnswer(ex: Exchange, route: UserStatusRoute, answer: ForcedAnswer): Outcome {
    if (answer.drop) {
      if (answer.applyBeforeDrop) this.validateAndApply(ex, route, false);
      return this.drop(ex);
    }
    if (answer.status >= 200 && answer.status < 300) return this.validateAndApply(ex, route, true);
    const headers: Record<string, string> = {};
    if (answer.retryAfter !== undefined) headers['Retry-After'] = String(answer.retryAfter);
    return this.error(
      ex,
      answer.status,
      answer.code ?? defaultCodeFor(answer.status),
      answer.message ?? defaultMessageFor(answer.status),
      headers,
    );
  }

  /** With `answer` false the write still lands but nothing is reported, as when the socket dies afterwards. */
  private validateAndApply(ex: Exchange, route: UserStatusRoute, answer: boolean): Outcome {
    const failed = (o: Outcome): Outcome => (answer ? o : { kind: 'drop', delayMs: ex.delayMs });
    const parsed = ex.parsed;
    if (!parsed.ok) return failed(this.error(ex, 400, 'BadRequest', parsed.message, {}, answer));
    const valid = validateUserStatusPatch(parsed.value, route.userStatusId);
    if (!valid.ok) return failed(this.error(ex, 400, 'BadRequest', valid.message, {}, answer));
    if (this.opts.missingConfigurations.includes(route.configId)) {
      return failed(this.configNotFound(ex, route, answer));
    }

    const outcome = this.store.apply(route.key, route.userStatusId, valid.patch);
    this.counts.applied += 1;
    if (outcome.identicalToPrevious) this.counts.appliedTwice += 1;
    if (outcome.stale) this.counts.staleWrites += 1;
    return answer ? this.reply(ex, 200, outcome.stored, { 'content-type': GRAPH_JSON }) : { kind: 'drop', delayMs: ex.delayMs };
  }

  private configNotFound(ex: Exchange, route: UserStatusRoute, record = true): Outcome {
    const kind = route.collection === 'mobileAppConfigurations' ? 'managedDeviceMobileAppConfiguration' : 'iosLobAppProvisioningConfiguration';
    return this.error(ex, 404, 'ResourceNotFound', `The ${kind} with id '${route.configId}' was not found.`, {}, record);
  }

  private error(
    ex: Exchange,
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
    record = true,
  ): Outcome {
    const body = graphError(code, message, { requestId: ex.req.requestId, clientRequestId: ex.req.clientRequestId });
    return this.reply(ex, status, body, { 'content-type': 'application/json', ...headers }, record);
  }

  private reply(ex: Exchange, status: number, body: unknown, headers: Record<string, string>, record = true): Outcome {
    const outcome: Outcome = { kind: 'reply', status, headers, body, delayMs: ex.delayMs };
    if (record) this.record(ex, status, headers['Retry-After']);
    return outcome;
  }

  private drop(ex: Exchange): Outcome {
    this.record(ex, 'dropped');
    return { kind: 'drop', delayMs: ex.delayMs };
  }

  private record(ex: Exchange, status: number | 'dropped', retryAfter?: string): void {
    const { req, grant } = ex;
    if (req.method === 'PATCH') {
      increment(this.counts.byStatus, String(status));
      if (status === 429 && grant) this.noteThrottled(`${grant.tenantId}\u0000${grant.appId}`, req.receivedAt, retryAfter);
    }
    const entry: RequestLogEntry = { at: req.receivedAt, method: req.method, path: ex.path, status };
    if (grant) {
      entry.tenantId = grant.tenantId;
      entry.appId = grant.appId;
    }
    if (ex.body !== undefined) entry.body = ex.body;
    this.log.add(entry);
  }

  private noteThrottled(client: string, at: number, retryAfter: string | undefined): void {
    this.counts.throttled += 1;
    const until = this.throttledUntil.get(client);
    if (until !== undefined && at < until) this.counts.refusedWhileThrottled += 1;
    const waitMs = retryAfterMs(retryAfter, at);
    if (waitMs !== undefined) this.throttledUntil.set(client, Math.max(until ?? 0, at + waitMs));
  }
}

/** Retry-After is either delta-seconds (possibly fractional here) or an HTTP date. */
function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
