import { authorize, bearerToken, fixedTokens } from './auth.js';
import { looksLikeJwt, publicKeys, verifyJwt } from './jwt.js';
import type { KeyObject } from 'node:crypto';
import { formatRetryAfterSeconds, WriteBudget } from './budget.js';
import { defaultCodeFor, defaultMessageFor, graphError } from './errors.js';
import { toGraphUtc } from './datetime.js';
import { createRng, decideFault, decideThrottleShape, derivedSeed, ForcedAnswers } from './faults.js';
import { emptyCounters, increment, RequestLog, type RequestLogEntry, type SimulatorCounters } from './metrics.js';
import {
  mergeOptions,
  resolveOptions,
  type ForcedAnswer,
  type ResolvedOptions,
  type SimulatorOptions,
  type TokenGrant,
} from './options.js';
import { COLLECTIONS, matchUserStatusPath, pathOf, type Collection, type UserStatusListRoute, type UserStatusRoute } from './routes.js';
import { UserStatusStore } from './state.js';
import { ENTITY_TYPE, parseJsonBody, validateUserStatusPatch, type ParsedBody } from './validation.js';

/** One user status to seed (see SimulatorCore.seed). */
export interface SeedRow {
  tenantId?: string;
  collection?: Collection;
  configId: string;
  userStatusId: string;
  userPrincipalName?: string;
}

/** What a seeded user status holds before any import wrote it: Intune knows the user, nothing reported yet. */
export const PRE_IMPORT_VALUES = {
  userDisplayName: 'Seeded user',
  devicesCount: 0,
  status: 'unknown',
  lastReportedDateTime: '2026-01-01T00:00:00.0000000Z',
} as const;

const READ_SALT = 0x7ead;
const THROTTLE_SALT = 0x429;

/** What a front end (not Graph itself) answers when it throttles: a page, not Graph's JSON error. */
const THROTTLED_HTML =
  '<!DOCTYPE html><html><head><title>429 Too Many ' +
  'Requests</title></head><body><h1>Too Many Requests</h1><p>The request was ' +
  'throttled. Please retry later.</p></body></html>';

/** Properties `$select` may name; Graph refuses any other. */
const SELECTABLE = ['id', 'userDisplayName', 'devicesCount', 'status', 'lastReportedDateTime', 'userPrincipalName'];

/** One change made behind the client's back (see POST /_sim/drift); `values: null` deletes the object. */
export interface DriftChange {
  /** Whose object (default: the tenant of the default token, sim-tenant). */
  tenantId?: string;
  collection?: Collection;
  configId: string;
  userStatusId: string;
  values: Record<string, unknown> | null;
}

/** The tenant of the default token: its objects keep the plain keys `${collection}/${configId}/${userStatusId}`. */
export const DEFAULT_SIM_TENANT = 'sim-tenant';

/**
 * Each tenant has its own objects, as in Graph: the same ids in two tenants are two objects. Another tenant's keys are
 * `${tenantId}|${collection}/...` in the store (and in GET /_sim/state).
 */
export function tenantScoped(tenantId: string | undefined, key: string): string {
  return tenantId === undefined || tenantId === DEFAULT_SIM_TENANT ? key : `${tenantId}|${key}`;
}

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
  /** The Host header, for absolute `@odata.nextLink`s (Graph's are absolute). */
  host?: string;
  accept?: string;
}

export type Outcome =
  /** `text`, when set, is sent as it is instead of `body` as JSON (a front end's HTML page, say). */
  | { kind: 'reply'; status: number; headers: Record<string, string>; body: unknown; text?: string; delayMs: number }
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
  private jwtKeys: KeyObject[] = [];
  private readonly store = new UserStatusStore();
  private readonly log = new RequestLog();
  private counts = emptyCounters();
  private budget: WriteBudget;
  /** The "any request" buckets; the same bucket logic, charged by GETs and PATCHes alike. */
  private anyBudget: WriteBudget;
  private rng: () => number;
  /** Faults of reads, on dice of their own so that reads never shift the PATCH fault sequence of a seed. */
  private readRng: () => number;
  /** How each 429 looks (Retry-After or not, Graph JSON or HTML). */
  private throttleRng: () => number;
  private readonly forced = new ForcedAnswers();
  /** Per (tenant, app): the latest Retry-After instant promised by a 429. */
  private readonly throttledUntil = new Map<string, number>();

  constructor(options: SimulatorOptions = {}) {
    this.opts = resolveOptions(options);
    this.jwtKeys = publicKeys(this.opts.jwtKeys);
    this.budget = new WriteBudget(this.opts.budget);
    this.anyBudget = new WriteBudget(this.opts.anyBudget);
    this.rng = createRng(this.opts.seed);
    this.readRng = createRng(derivedSeed(this.opts.seed, READ_SALT));
    this.throttleRng = createRng(derivedSeed(this.opts.seed, THROTTLE_SALT));
  }

  get options(): ResolvedOptions {
    return this.opts;
  }

  configure(partial: Partial<SimulatorOptions>): void {
    this.opts = mergeOptions(this.opts, partial);
    if (partial.jwtKeys !== undefined) this.jwtKeys = publicKeys(this.opts.jwtKeys);
    // New limits mean new buckets; carrying balances across limits would make tests order-dependent.
    if (partial.budget !== undefined) this.budget = new WriteBudget(this.opts.budget);
    if (partial.budget !== undefined || partial.anyBudget !== undefined) this.anyBudget = new WriteBudget(this.opts.anyBudget);
    if (partial.seed !== undefined) this.reseed();
  }

  private reseed(): void {
    this.rng = createRng(this.opts.seed);
    this.readRng = createRng(derivedSeed(this.opts.seed, READ_SALT));
    this.throttleRng = createRng(derivedSeed(this.opts.seed, THROTTLE_SALT));
  }

  injectNext(n: number, answer: ForcedAnswer): void {
    this.forced.push(n, answer);
  }

  reset(): void {
    this.store.clear();
    this.log.clear();
    this.counts = emptyCounters();
    this.budget = new WriteBudget(this.opts.budget);
    this.anyBudget = new WriteBudget(this.opts.anyBudget);
    this.reseed();
    this.forced.clear();
    this.throttledUntil.clear();
  }

  /** Applies changes behind the client's back; returns how many were applied. */
  drift(changes: DriftChange[]): number {
    for (const c of changes) {
      const collection = c.collection ?? 'mobileAppConfigurations';
      if (!(COLLECTIONS as readonly string[]).includes(collection)) throw new Error(`unknown collection ${String(collection)}`);
      if (typeof c.configId !== 'string' || typeof c.userStatusId !== 'string' || c.configId === '' || c.userStatusId === '') {
        throw new Error('each change needs configId and userStatusId (non-empty strings)');
      }
      if (c.values !== null && (typeof c.values !== 'object' || Array.isArray(c.values)))
        throw new Error('values must be an object or null');
      for (const name of Object.keys(c.values ?? {})) {
        if (!SELECTABLE.includes(name) || name === 'id') throw new Error(`values may not set '${name}'`);
      }
    }
    for (const c of changes) {
      this.store.setBehindClientsBack(
        tenantScoped(c.tenantId, `${c.collection ?? 'mobileAppConfigurations'}/${c.configId}/`),
        c.userStatusId,
        c.values && this.asStored(c.values),
      );
    }
    return changes.length;
  }

  /**
   * Creates the user statuses `rows` name that the tenant does not hold yet, in a state before any import (see
   * PRE_IMPORT_VALUES); a status already held is left as it is. Returns how many were created and how many existed.
   */
  seed(rows: SeedRow[]): { created: number; existing: number } {
    const changes: DriftChange[] = [];
    let existing = 0;
    const seen = new Set<string>();
    for (const row of rows) {
      const collection = row.collection ?? 'mobileAppConfigurations';
      const key = tenantScoped(row.tenantId, `${collection}/${row.configId}/${row.userStatusId}`);
      if (seen.has(key)) continue;
      seen.add(key);
      if (this.store.get(key)) {
        existing += 1;
        continue;
      }
      const values: Record<string, unknown> = { ...PRE_IMPORT_VALUES };
      if (row.userPrincipalName) values.userPrincipalName = row.userPrincipalName;
      changes.push({ tenantId: row.tenantId, collection, configId: row.configId, userStatusId: row.userStatusId, values });
    }
    return { created: this.drift(changes), existing };
  }

  /** Values as Graph keeps them: dates in UTC with seven fraction digits (unless `echoDates`). */
  private asStored(values: Record<string, unknown>): Record<string, unknown> {
    if (this.opts.echoDates || typeof values.lastReportedDateTime !== 'string') return values;
    const utc = toGraphUtc(values.lastReportedDateTime);
    return utc === undefined ? values : { ...values, lastReportedDateTime: utc };
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
    if (req.method === 'GET') this.counts.reads += 1;
    const token = bearerToken(req.authorization);
    if (token !== undefined) increment(this.counts.authorizationSeen, token);

    const match = matchUserStatusPath(ex.path);
    if (match.kind === 'unknown') {
      return this.error(ex, 404, 'ResourceNotFound', `No HTTP resource was found that matches the request URI '${ex.path}'.`);
    }
    if (match.kind === 'badEncoding') {
      return this.error(ex, 400, 'BadRequest', `The URI segment '${match.segment}' is not correctly percent-encoded.`);
    }
    // v1.0 has no iosLobAppProvisioningConfigurations (Graph's published v1.0 metadata lacks the entity set).
    if (match.route.version === 'v1.0' && match.route.collection === 'iosLobAppProvisioningConfigurations') {
      return this.error(ex, 400, 'BadRequest', "Resource not found for the segment 'iosLobAppProvisioningConfigurations'.");
    }
    const allowed = match.kind === 'list' ? ['GET'] : ['GET', 'PATCH'];
    if (!allowed.includes(req.method)) {
      return this.error(ex, 405, 'MethodNotAllowed', `The HTTP method '${req.method}' is not supported on this resource.`, {
        Allow: allowed.join(', '),
      });
    }

    const auth = authorize(token, (t) => this.grantFor(t, req.receivedAt), isPatch);
    if (!auth.ok) {
      // A 403 still knows whose token it was: the request log shows which tenant and app were refused.
      if (auth.grant) ex.grant = auth.grant;
      return this.error(ex, auth.status, auth.code, auth.message);
    }
    ex.grant = auth.grant;

    if (match.kind === 'list') return this.list(ex, match.route);
    return isPatch ? this.patch(ex, match.route) : this.get(ex, match.route);
  }

  /** A fixed opaque token of the options, else (when keys are given) a JWT checked as Graph checks it. */
  private grantFor(token: string, nowMs: number): TokenGrant | { refused: string } {
    const fixed = fixedTokens(this.opts.tokens)(token);
    if (!('refused' in fixed) || this.jwtKeys.length === 0 || !looksLikeJwt(token)) return fixed;
    const verdict = verifyJwt(token, this.jwtKeys, this.opts.graphCloud, nowMs);
    return verdict.ok ? verdict.grant : { refused: verdict.message };
  }

  /**
   * What a read meets before its answer: the "any request" buckets (a 429 there works as for writes), a forced GET
   * answer, then the same faults as writes (503, 504, dropped socket, slowness) unless `faultsOnWritesOnly`.
   * Undefined: answer the read normally.
   */
  private readGate(ex: Exchange): Outcome | undefined {
    const grant = ex.grant as TokenGrant;
    const any = this.anyBudget.take(grant.tenantId, grant.appId, ex.req.receivedAt);
    const forced = this.forced.take('GET');
    if (forced) {
      if (forced.drop) return this.drop(ex);
      if (forced.status >= 200 && forced.status < 300) return undefined;
      return this.forcedError(ex, forced);
    }
    if (any.throttled) return this.throttled(ex, `per-${any.scope} request budget exhausted`, any.retryAfterMs);
    if (this.opts.faultsOnWritesOnly) return undefined;
    return this.fault(ex, decideFault(this.readRng, this.opts.faults));
  }

  /** A 429 as Graph (or the front end before it) answers: see ThrottleShape. */
  private throttled(ex: Exchange, why: string, retryAfterMs: number): Outcome {
    const shape = decideThrottleShape(this.throttleRng, this.opts.throttleShape);
    const headers: Record<string, string> = shape.retryAfter
      ? { 'Retry-After': formatRetryAfterSeconds(retryAfterMs, this.opts.throttleShape.fractionalRetryAfter) }
      : {};
    if (!shape.html) return this.error(ex, 429, 'TooManyRequests', `${defaultMessageFor(429)} (${why})`, headers);
    const outcome: Outcome = {
      kind: 'reply',
      status: 429,
      headers: { 'content-type': 'text/html; charset=utf-8', ...headers },
      body: undefined,
      text: THROTTLED_HTML,
      delayMs: ex.delayMs,
    };
    this.record(ex, 429, headers['Retry-After']);
    return outcome;
  }

  /** The answer a rolled fault gives; undefined for none (slowness only adds to the delay). */
  private fault(ex: Exchange, fault: ReturnType<typeof decideFault>): Outcome | undefined {
    if (fault.kind === '503') {
      return this.error(ex, 503, 'ServiceUnavailable', defaultMessageFor(503), {
        'Retry-After': String(this.opts.faults.retryAfter503Seconds),
      });
    }
    if (fault.kind === '504') return this.error(ex, 504, 'GatewayTimeout', defaultMessageFor(504));
    if (fault.kind === 'drop') return this.drop(ex);
    if (fault.slow) ex.delayMs += this.opts.faults.slowMs;
    return undefined;
  }

  /** Parses `$select`; undefined when absent, a Graph error when it names a property the type lacks. */
  private select(ex: Exchange, query: URLSearchParams): { fields?: string[] } | { error: Outcome } {
    const raw = query.get('$select');
    if (raw === null) return {};
    const fields = raw.split(',').map((f) => f.trim());
    const unknown = fields.find((f) => !SELECTABLE.includes(f));
    if (unknown !== undefined) {
      return { error: this.error(ex, 400, 'BadRequest', `Could not find a property named '${unknown}' on type '${ENTITY_TYPE}'.`) };
    }
    return { fields };
  }

  private list(ex: Exchange, route: UserStatusListRoute): Outcome {
    const gated = this.readGate(ex);
    if (gated) return gated;
    const query = queryOf(ex.req.url);
    const selected = this.select(ex, query);
    if ('error' in selected) return selected.error;
    let size = this.opts.pageSize;
    const top = query.get('$top');
    if (top !== null) {
      if (!/^\d+$/.test(top) || Number(top) < 1) return this.error(ex, 400, 'BadRequest', `Invalid value '${top}' for $top query option.`);
      size = Math.min(Number(top), this.opts.maxPageSize);
    }
    let offset = 0;
    const skiptoken = query.get('$skiptoken');
    if (skiptoken !== null) {
      const decoded = decodeSkipToken(skiptoken);
      if (decoded === undefined) return this.error(ex, 400, 'BadRequest', 'The $skiptoken is invalid or has expired.');
      offset = decoded;
    }
    if (this.opts.missingConfigurations.includes(route.configId)) return this.configNotFound(ex, route);

    const page = this.store.page(tenantScoped((ex.grant as TokenGrant).tenantId, route.keyPrefix), offset, size);
    const body: Record<string, unknown> = {
      '@odata.context':
        `https://graph.microsoft.com/${route.version}` +
        `/$metadata#deviceAppManagement/${route.collection}('${route.configId}` +
        `')/userStatuses`,
      value: page.items.map((item) => withListNulls(project(item, selected.fields, this.opts.selectAddsId), this.opts.listNulls)),
    };
    if (page.more) {
      body['@odata.nextLink'] = this.nextLink(ex, route, selected.fields, top !== null ? size : undefined, offset + size);
    }
    return this.reply(ex, 200, body, { 'content-type': GRAPH_JSON });
  }

  /** See SimulatorOptions.nextLinkForm: Graph's own form by default, or the kinder one on the request's Host. */
  private nextLink(ex: Exchange, route: UserStatusListRoute, fields: string[] | undefined, top: number | undefined, skip: number): string {
    if (this.opts.nextLinkForm === 'kinder') {
      const next = new URLSearchParams();
      if (fields) next.set('$select', fields.join(','));
      if (top !== undefined) next.set('$top', String(top));
      next.set('$skiptoken', encodeSkipToken(skip));
      return `http://${ex.req.host ?? '127.0.0.1'}${route.rawPath}?${next.toString()}`;
    }
    const query: string[] = [];
    if (fields) query.push(`$select=${fields.map(encodeURIComponent).join(',')}`);
    if (top !== undefined) query.push(`$top=${top}`);
    query.push(`$skiptoken=skipCount%3d${skip}`);
    const key = encodeURIComponent(route.configId.replace(/'/g, "''"));
    return `${this.opts.nextLinkHost}/${route.version}/deviceAppManagement/${route.collection}('${key}')/userStatuses?${query.join('&')}`;
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
    const gated = this.readGate(ex);
    if (gated) return gated;
    const selected = this.select(ex, queryOf(ex.req.url));
    if ('error' in selected) return selected.error;
    if (this.opts.missingConfigurations.includes(route.configId)) return this.configNotFound(ex, route);
    const stored = this.store.get(tenantScoped((ex.grant as TokenGrant).tenantId, route.key));
    if (!stored) {
      return this.error(ex, 404, 'ResourceNotFound', `The userStatus '${route.userStatusId}' was not found.`);
    }
    return this.reply(ex, 200, project(stored, selected.fields, this.opts.selectAddsId), { 'content-type': GRAPH_JSON });
  }

  private patch(ex: Exchange, route: UserStatusRoute): Outcome {
    const grant = ex.grant as TokenGrant;
    // Charged before anything else is decided: Graph bills refused and forced-failure writes alike.
    const writes = this.budget.take(grant.tenantId, grant.appId, ex.req.receivedAt);
    // A write counts against the "any request" limits as well; the longer wait is the one to honour.
    const any = this.anyBudget.take(grant.tenantId, grant.appId, ex.req.receivedAt);
    const budget = !any.throttled || (writes.throttled && writes.retryAfterMs >= any.retryAfterMs) ? writes : any;
    const budgetName = budget === writes ? 'write' : 'request';

    const forced = this.forced.take('PATCH');
    if (forced) return this.forcedAnswer(ex, route, forced);

    if (budget.throttled) return this.throttled(ex, `per-${budget.scope} ${budgetName} budget exhausted`, budget.retryAfterMs);

    if (this.opts.refusePatches) return this.error(ex, 400, 'BadRequest', noPatchRouteMessage(ex.req, route));

    const fault = decideFault(this.rng, this.opts.faults);
    if (fault.kind === 'drop' && fault.applyBeforeDrop) this.validateAndApply(ex, route, false);
    return this.fault(ex, fault) ?? this.validateAndApply(ex, route, true);
  }

  private forcedAnswer(ex: Exchange, route: UserStatusRoute, answer: ForcedAnswer): Outcome {
    if (answer.drop) {
      if (answer.applyBeforeDrop) this.validateAndApply(ex, route, false);
      return this.drop(ex);
    }
    if (answer.status >= 200 && answer.status < 300) return this.validateAndApply(ex, route, true);
    return this.forcedError(ex, answer);
  }

  private forcedError(ex: Exchange, answer: ForcedAnswer): Outcome {
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
    const key = tenantScoped((ex.grant as TokenGrant).tenantId, route.key);
    // Graph's PATCH updates; it never creates a user status (they come from Intune's own reporting).
    if (!this.opts.createOnPatch && !this.store.get(key)) {
      return failed(this.error(ex, 404, 'ResourceNotFound', `The userStatus '${route.userStatusId}' was not found.`, {}, answer));
    }

    const outcome = this.store.apply(key, route.userStatusId, this.asStored(valid.patch));
    this.counts.applied += 1;
    if (outcome.identicalToPrevious) this.counts.appliedTwice += 1;
    if (outcome.stale) this.counts.staleWrites += 1;
    // The service recomputes these after the write: the answer shows what was written, later reads what it set.
    if (Object.keys(this.opts.serviceSets).length > 0)
      this.store.setByService(tenantScoped((ex.grant as TokenGrant).tenantId, route.key), this.opts.serviceSets);
    if (!answer) return { kind: 'drop', delayMs: ex.delayMs };
    return this.opts.patchNoContent
      ? this.reply(ex, 204, undefined, {})
      : this.reply(ex, 200, outcome.stored, { 'content-type': GRAPH_JSON });
  }

  private configNotFound(ex: Exchange, route: Pick<UserStatusRoute, 'collection' | 'configId'>, record = true): Outcome {
    const kind =
      route.collection === 'mobileAppConfigurations' ? 'managedDeviceMobileAppConfiguration' : 'iosLobAppProvisioningConfiguration';
    return this.error(ex, 404, 'ResourceNotFound', `The ${kind} with id '${route.configId}' was not found.`, {}, record);
  }

  private error(ex: Exchange, status: number, code: string, message: string, headers: Record<string, string> = {}, record = true): Outcome {
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
    if (req.method === 'GET') increment(this.counts.readsByStatus, String(status));
    const entry: RequestLogEntry = { at: req.receivedAt, method: req.method, path: ex.path, status };
    if (grant) {
      entry.tenantId = grant.tenantId;
      entry.appId = grant.appId;
    }
    if (ex.body !== undefined) entry.body = ex.body;
    if (req.clientRequestId !== undefined) entry.clientRequestId = req.clientRequestId;
    if (req.accept !== undefined) entry.accept = req.accept;
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

/**
 * Intune's answer when it has no PATCH route for an object: its own error, serialised as JSON, is Graph's `message`.
 * The ids, the activity id and the front-end host differ on every request, so no two messages are equal as text.
 */
function noPatchRouteMessage(req: GraphRequest, route: UserStatusRoute): string {
  const request =
    `/DeviceConfiguration_2411/StatelessDeviceConfigurationFEService/deviceAppManagement/${route.collection}` +
    `('${route.configId}')/userStatuses('${route.userStatusId}')`;
  const inner =
    `No OData route exists that match template ~/singleton/navigation/key/navigation/key with http verb PATCH for request ${request}.` +
    (` - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - ` +
      `Activity ID: ${req.requestId} - Url: ` +
      `https://fef.msua06.manage.microsoft.com${request}?api-version=2024-11-01`);
  return JSON.stringify({
    _version: 3,
    Message: inner,
    CustomApiErrorPhrase: '',
    RetryAfter: null,
    ErrorSourceService: '',
    HttpHeaders: '{}',
  });
}

/** Retry-After is either delta-seconds (possibly fractional here) or an HTTP date. */
function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

/** `$select` keeps only the named properties (and each object's type); `addId` (kinder than Graph) adds the id too. */
function project(item: Record<string, unknown>, fields: string[] | undefined, addId: boolean): Record<string, unknown> {
  if (!fields) return item;
  const out: Record<string, unknown> = { '@odata.type': item['@odata.type'] };
  if (addId) out.id = item.id;
  for (const f of fields) if (f in item) out[f] = item[f];
  return out;
}

/** A listing's item with the properties Intune lists as null (a GET of the one status still holds them). */
function withListNulls(item: Record<string, unknown>, names: string[]): Record<string, unknown> {
  if (names.length === 0) return item;
  const out = { ...item };
  for (const name of names) if (name in out) out[name] = null;
  return out;
}

/** Opaque to clients, as Graph's are: they must follow the nextLink rather than build one. */
function encodeSkipToken(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

/** Graph's form (`skipCount=<n>`, as the nextLink's `skipCount%3d<n>` decodes) or the kinder form's opaque one. */
function decodeSkipToken(token: string): number | undefined {
  const graph = /^skipCount=(\d{1,9})$/.exec(token);
  if (graph) return Number(graph[1]);
  const m = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : undefined;
}
