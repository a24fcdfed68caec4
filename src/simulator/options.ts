import { GRAPH_HOSTS, publicKeys } from './jwt.js';

/** A bearer token the simulator accepts, and who it stands for. */
export interface TokenGrant {
  tenantId: string;
  appId: string;
  permissions: string[];
}

export interface BucketLimit {
  /** Bucket capacity; also how far below zero refused requests can drive it. */
  limit: number;
  /** Time for an empty bucket to refill to `limit`. */
  windowMs: number;
}

export interface BudgetOptions {
  perApp: BucketLimit;
  perTenant: BucketLimit;
}

/** Probabilities are in 0..1 and rolled independently per PATCH that passed auth and throttling. */
export interface FaultOptions {
  rate503?: number;
  rate504?: number;
  rateSlow?: number;
  rateDrop?: number;
  retryAfter503Seconds?: number;
  slowMs?: number;
  /** Share of dropped connections whose write is applied before the socket dies. */
  dropAfterApplyShare?: number;
}

/**
 * How 429s look. Graph's Retry-After is whole seconds, some 429s carry none, and some come from a front end with a
 * body that is not Graph JSON (an HTML page). Rolled on a dice of their own, seeded from `seed`, so fault sequences stay put.
 */
export interface ThrottleShape {
  /** Share of 429s without a Retry-After header. */
  missingRetryAfterShare?: number;
  /** Share of 429s whose body is an HTML page instead of a Graph error. */
  htmlBodyShare?: number;
  /** Kinder than Graph: Retry-After in tenths of a second (e.g. "0.3") instead of whole seconds. */
  fractionalRetryAfter?: boolean;
}

/** What the next injected answers (PATCH unless `method` says GET) should look like. */
export interface ForcedAnswer {
  /** Which requests the answer is for; GET covers single reads and list pages alike. Default PATCH. */
  method?: 'GET' | 'PATCH';
  /** A 2xx status means "handle normally but skip throttling and faults". */
  status: number;
  code?: string;
  message?: string;
  retryAfter?: string | number;
  /** Destroy the socket without answering; `status` is then ignored. */
  drop?: boolean;
  /** With `drop`: apply the write (if valid) before destroying the socket. Default false. */
  applyBeforeDrop?: boolean;
}

export interface SimulatorOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  logger?: boolean;
  tokens?: Record<string, TokenGrant>;
  /**
   * Public keys (PEM) whose RS256 JWTs are accepted besides `tokens`: signature, `exp`, `nbf` and an audience of
   * `graphCloud` are checked as Graph does; the grant comes from `tid`, `appid`/`azp` and `roles`.
   */
  jwtKeys?: string[];
  /** The Graph host whose tokens are accepted (Graph's audience check): one of GRAPH_HOSTS. Default the global cloud. */
  graphCloud?: string;
  missingConfigurations?: string[];
  /** `false` disables throttling; a missing bucket keeps its default. */
  budget?: Partial<BudgetOptions> | false;
  /**
   * Intune's "any request" limits (GET and PATCH alike). Unless set explicitly, `budget: false` switches it off
   * too, so a simulator without throttling has none at all.
   */
  anyBudget?: Partial<BudgetOptions> | false;
  /** Page size of a GET list without `$top`. */
  pageSize?: number;
  /** Largest page a GET list returns, whatever `$top` asks. */
  maxPageSize?: number;
  /**
   * How `@odata.nextLink` is written. 'graph' (default), as Graph writes it: absolute on the cloud's Graph host
   * (`nextLinkHost`), the key in parentheses (`mobileAppConfigurations('<id>')/userStatuses`) and
   * `$skiptoken=skipCount%3d<n>`; a client reaches the simulator only by re-hosting it onto its own base URL.
   * 'kinder': on the request's own Host, in the path as it was requested (a link any client can follow as is).
   */
  nextLinkForm?: 'graph' | 'kinder';
  /** The origin of nextLinks in the 'graph' form; default https://graph.microsoft.com (a national cloud: its host). */
  nextLinkHost?: string;
  /** Answer a successful PATCH with 204 No Content instead of 200 and the object (Graph may do either). */
  patchNoContent?: boolean;
  /**
   * Refuse every PATCH with 400, as Intune does when it has no PATCH route for the object (`No OData route exists that
   * match template ~/singleton/navigation/key/navigation/key with http verb PATCH ...`), its message being JSON inside
   * Graph's `message` string. Charged to the budgets like any write; nothing is applied.
   */
  refusePatches?: boolean;
  /**
   * Properties a LISTING answers as `null` although a GET of the one status holds them, as Intune does (default
   * `['userPrincipalName']`). `[]` is kinder than Graph: a listing then holds every value.
   */
  listNulls?: string[];
  /** Merged over the current faults, so one rate can be changed alone. */
  faults?: FaultOptions;
  /**
   * Kinder than Graph: reads (GET of one status and list pages) get none of the faults. By default they get 503, 504,
   * dropped sockets and slowness at the same rates as PATCHes, as Graph's do.
   */
  faultsOnWritesOnly?: boolean;
  /** Kinder than Graph: a PATCH of a user status that does not exist creates it (Graph answers 404). */
  createOnPatch?: boolean;
  /** Kinder than Graph: `$select` answers `id` even when it does not name it (Graph answers only what it names). */
  selectAddsId?: boolean;
  /**
   * Kinder than Graph: dates come back exactly as written. By default they are stored and answered in UTC with seven
   * fraction digits (`2026-11-20T10:00:05.0000000Z`), whatever offset and precision were written.
   */
  echoDates?: boolean;
  /** Merged over the current shape. */
  throttleShape?: ThrottleShape;
  seed?: number;
  latencyMs?: number;
  /**
   * Properties the service sets itself after each applied PATCH, as Intune recomputes `devicesCount` from the devices
   * it knows: the PATCH is answered with what was written, and a read afterwards shows these values. Default: none.
   */
  serviceSets?: Record<string, unknown>;
}

export interface ResolvedOptions {
  host: string;
  port: number;
  logger: boolean;
  tokens: Record<string, TokenGrant>;
  jwtKeys: string[];
  graphCloud: string;
  missingConfigurations: string[];
  budget: BudgetOptions | false;
  anyBudget: BudgetOptions | false;
  pageSize: number;
  maxPageSize: number;
  nextLinkForm: 'graph' | 'kinder';
  nextLinkHost: string;
  patchNoContent: boolean;
  refusePatches: boolean;
  listNulls: string[];
  faults: Required<FaultOptions>;
  faultsOnWritesOnly: boolean;
  createOnPatch: boolean;
  selectAddsId: boolean;
  echoDates: boolean;
  throttleShape: Required<ThrottleShape>;
  seed: number;
  latencyMs: number;
  serviceSets: Record<string, unknown>;
}

export const DEFAULT_BUDGET: BudgetOptions = {
  perApp: { limit: 100, windowMs: 20_000 },
  perTenant: { limit: 200, windowMs: 20_000 },
};

/** Intune's "any request" limits: 1,000 requests per 20 s per app per tenant, 2,000 per tenant. */
export const DEFAULT_ANY_BUDGET: BudgetOptions = {
  perApp: { limit: 1000, windowMs: 20_000 },
  perTenant: { limit: 2000, windowMs: 20_000 },
};

export const DEFAULT_FAULTS: Required<FaultOptions> = {
  rate503: 0,
  rate504: 0,
  rateSlow: 0,
  rateDrop: 0,
  retryAfter503Seconds: 1,
  slowMs: 2000,
  dropAfterApplyShare: 0.5,
};

/** A quarter of 429s without Retry-After, an eighth with an HTML body: both happen in front of real tenants. */
export const DEFAULT_THROTTLE_SHAPE: Required<ThrottleShape> = {
  missingRetryAfterShare: 0.25,
  htmlBodyShare: 0.125,
  fractionalRetryAfter: false,
};

export function defaultTokens(): Record<string, TokenGrant> {
  return {
    'sim-token': {
      tenantId: 'sim-tenant',
      appId: 'sim-app',
      permissions: ['DeviceManagementConfiguration.ReadWrite.All'],
    },
  };
}

const BASE: ResolvedOptions = {
  host: '127.0.0.1',
  port: 0,
  logger: false,
  tokens: defaultTokens(),
  jwtKeys: [],
  graphCloud: GRAPH_HOSTS[0],
  missingConfigurations: [],
  budget: DEFAULT_BUDGET,
  anyBudget: DEFAULT_ANY_BUDGET,
  pageSize: 100,
  maxPageSize: 1000,
  nextLinkForm: 'graph',
  nextLinkHost: 'https://graph.microsoft.com',
  patchNoContent: false,
  refusePatches: false,
  // Intune's listings give null for the user's UPN that a GET of the one status holds.
  listNulls: ['userPrincipalName'],
  faults: DEFAULT_FAULTS,
  faultsOnWritesOnly: false,
  createOnPatch: false,
  selectAddsId: false,
  echoDates: false,
  throttleShape: DEFAULT_THROTTLE_SHAPE,
  // A fixed default keeps fault sequences reproducible unless a caller asks otherwise.
  seed: 0x5eed,
  latencyMs: 0,
  serviceSets: {},
};

export function resolveOptions(options: SimulatorOptions = {}): ResolvedOptions {
  return mergeOptions(BASE, options);
}

/** Applies a partial update; throws on values that would make the simulator misbehave silently. */
export function mergeOptions(current: ResolvedOptions, partial: Partial<SimulatorOptions>): ResolvedOptions {
  const next: ResolvedOptions = {
    host: partial.host ?? current.host,
    port: partial.port ?? current.port,
    logger: partial.logger ?? current.logger,
    tokens: partial.tokens ? structuredClone(partial.tokens) : current.tokens,
    jwtKeys: partial.jwtKeys ? [...partial.jwtKeys] : current.jwtKeys,
    graphCloud: (partial.graphCloud ?? current.graphCloud).replace(/\/+$/, ''),
    missingConfigurations: partial.missingConfigurations ? [...partial.missingConfigurations] : current.missingConfigurations,
    budget: mergeBudget(current.budget, partial.budget),
    anyBudget:
      partial.anyBudget !== undefined
        ? mergeBudget(current.anyBudget, partial.anyBudget, DEFAULT_ANY_BUDGET)
        : partial.budget === false
          ? false
          : current.anyBudget,
    pageSize: partial.pageSize ?? current.pageSize,
    maxPageSize: partial.maxPageSize ?? current.maxPageSize,
    nextLinkForm: partial.nextLinkForm ?? current.nextLinkForm,
    nextLinkHost: partial.nextLinkHost ?? current.nextLinkHost,
    patchNoContent: partial.patchNoContent ?? current.patchNoContent,
    refusePatches: partial.refusePatches ?? current.refusePatches,
    listNulls: partial.listNulls ? [...partial.listNulls] : current.listNulls,
    faults: { ...current.faults, ...definedOnly(partial.faults ?? {}) },
    faultsOnWritesOnly: partial.faultsOnWritesOnly ?? current.faultsOnWritesOnly,
    createOnPatch: partial.createOnPatch ?? current.createOnPatch,
    selectAddsId: partial.selectAddsId ?? current.selectAddsId,
    echoDates: partial.echoDates ?? current.echoDates,
    throttleShape: { ...current.throttleShape, ...definedOnly(partial.throttleShape ?? {}) },
    seed: partial.seed ?? current.seed,
    latencyMs: partial.latencyMs ?? current.latencyMs,
    serviceSets: partial.serviceSets !== undefined ? structuredClone(partial.serviceSets) : current.serviceSets,
  };
  checkOptions(next);
  return next;
}

function mergeBudget(
  current: BudgetOptions | false,
  partial: Partial<BudgetOptions> | false | undefined,
  defaults: BudgetOptions = DEFAULT_BUDGET,
): BudgetOptions | false {
  if (partial === undefined) return current;
  if (partial === false) return false;
  // Re-enabling after `false` starts from the defaults, not from nothing.
  const base = current === false ? defaults : current;
  return {
    perApp: partial.perApp ? { ...partial.perApp } : base.perApp,
    perTenant: partial.perTenant ? { ...partial.perTenant } : base.perTenant,
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkOptions(o: ResolvedOptions): void {
  const fail = (what: string): never => {
    throw new Error(`Invalid simulator option: ${what}`);
  };
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) fail(`port ${o.port}`);
  if (!isNonNegative(o.latencyMs)) fail(`latencyMs ${o.latencyMs}`);
  if (!Number.isFinite(o.seed)) fail(`seed ${o.seed}`);
  if (typeof o.tokens !== 'object' || o.tokens === null) fail('tokens must be an object');
  for (const [token, grant] of Object.entries(o.tokens)) {
    if (typeof grant?.tenantId !== 'string' || typeof grant.appId !== 'string' || !Array.isArray(grant.permissions)) {
      fail(`tokens['${token}'] needs tenantId, appId and permissions[]`);
    }
  }
  if (!Array.isArray(o.jwtKeys) || !o.jwtKeys.every((k) => typeof k === 'string')) fail('jwtKeys must be an array of PEM strings');
  try {
    publicKeys(o.jwtKeys);
  } catch (err) {
    fail(`jwtKeys: ${(err as Error).message}`);
  }
  if (!(GRAPH_HOSTS as readonly string[]).includes(o.graphCloud))
    fail(`graphCloud ${JSON.stringify(o.graphCloud)} is none of ${GRAPH_HOSTS.join(', ')}`);
  if (!Array.isArray(o.missingConfigurations)) fail('missingConfigurations must be an array');
  for (const which of ['budget', 'anyBudget'] as const) {
    const limits = o[which];
    if (limits === false) continue;
    for (const [name, bucket] of Object.entries(limits) as [string, BucketLimit][]) {
      if (!(bucket.limit >= 1) || !(bucket.windowMs > 0)) fail(`${which}.${name} needs limit >= 1 and windowMs > 0`);
    }
  }
  for (const key of ['pageSize', 'maxPageSize'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) fail(`${key} must be a positive integer`);
  }
  if (o.nextLinkForm !== 'graph' && o.nextLinkForm !== 'kinder') fail(`nextLinkForm must be 'graph' or 'kinder'`);
  if (!/^https?:\/\/[A-Za-z0-9.-]+(?::\d+)?$/.test(o.nextLinkHost))
    fail('nextLinkHost must be an origin such as https://graph.microsoft.us');
  if (typeof o.serviceSets !== 'object' || o.serviceSets === null || Array.isArray(o.serviceSets)) fail('serviceSets must be an object');
  for (const name of ['id', '@odata.type']) if (name in o.serviceSets) fail(`serviceSets cannot set ${name}`);
  if (typeof o.refusePatches !== 'boolean') fail('refusePatches must be a boolean');
  if (!Array.isArray(o.listNulls) || o.listNulls.some((p) => typeof p !== 'string')) fail('listNulls must be an array of property names');
  for (const key of ['patchNoContent', 'faultsOnWritesOnly', 'createOnPatch', 'selectAddsId', 'echoDates'] as const) {
    if (typeof o[key] !== 'boolean') fail(`${key} must be a boolean`);
  }
  for (const key of ['missingRetryAfterShare', 'htmlBodyShare'] as const) {
    if (!(o.throttleShape[key] >= 0 && o.throttleShape[key] <= 1)) fail(`throttleShape.${key} must be within 0..1`);
  }
  if (typeof o.throttleShape.fractionalRetryAfter !== 'boolean') fail('throttleShape.fractionalRetryAfter must be a boolean');
  const f = o.faults;
  for (const key of ['rate503', 'rate504', 'rateSlow', 'rateDrop', 'dropAfterApplyShare'] as const) {
    if (!(f[key] >= 0 && f[key] <= 1)) fail(`faults.${key} must be within 0..1`);
  }
  if (f.rate503 + f.rate504 + f.rateDrop > 1) fail('faults.rate503 + rate504 + rateDrop must not exceed 1');
  if (!isNonNegative(f.retryAfter503Seconds)) fail('faults.retryAfter503Seconds must be >= 0');
  if (!isNonNegative(f.slowMs)) fail('faults.slowMs must be >= 0');
}

function isNonNegative(n: unknown): boolean {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}
