import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { GRAPH_CLOUDS, type GraphCloud } from './clouds.js';
import { EXIT, OperatorError } from './errors.js';
import { keyPrefix } from './redis-layout.js';

/** Environment and flags resolved to one typed, validated config. Every variable is documented in README.md. */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

export type Credentials =
  | { kind: 'accessToken'; token: string }
  | { kind: 'clientSecret'; tenantId: string; clientId: string; clientSecret: string }
  | { kind: 'clientCertificate'; tenantId: string; clientId: string; certificatePath: string }
  /** An Azure managed identity: the system-assigned one, or (clientId) a user-assigned one of the host. */
  | { kind: 'managedIdentity'; clientId?: string }
  | { kind: 'none' };

/** AZURE_CREDENTIAL and a tenant's `credential`: the kind of credential, chosen explicitly instead of inferred. */
export const CREDENTIAL_CHOICES = ['secret', 'certificate', 'managed-identity'] as const;
export type CredentialChoice = (typeof CREDENTIAL_CHOICES)[number];
const isCredentialChoice = (v: string): v is CredentialChoice => (CREDENTIAL_CHOICES as readonly string[]).includes(v);

export interface RedisNode {
  host: string;
  port: number;
}

/**
 * One tenant of the tenants file (SYNC_TENANTS_FILE): its own credentials, cloud and budgets. The default tenant (rows
 * without tenantId) is described by the environment variables and is not in this list.
 */
export interface TenantConfig {
  /** Lower-case GUID: rows name it in any case. */
  tenantId: string;
  cloud: GraphCloud;
  /** The tenant's own `graphBaseUrl` (a proxy, the simulator), else its cloud's Graph host; never GRAPH_BASE_URL. */
  graphBaseUrl: string;
  authorityHost: string;
  credentials: Credentials;
  rateLimit: RateLimit;
  readRateLimit: RateLimit;
  /** For an accessToken given as `${NAME}`: the variable re-read when a 401 asks for a fresh token. */
  accessTokenEnv?: string;
}

export interface SyncConfig {
  /** A single Redis (REDIS_URL); not used when `redisCluster` is set. */
  redisUrl: string;
  /** SYNC_REDIS_CLUSTER: seed nodes of a Redis Cluster, which then replaces REDIS_URL. */
  redisCluster?: RedisNode[];
  /**
   * The prefix of every Redis key (redisKeys()): SYNC_PREFIX on one Redis, `{SYNC_PREFIX}` (a hash tag) on a cluster,
   * see keyPrefix() in src/redis-layout.ts.
   */
  prefix: string;
  cloud: GraphCloud;
  graphBaseUrl: string;
  authorityHost: string;
  apiVersion: 'beta' | 'v1.0';
  credentials: Credentials;
  rateLimit: RateLimit;
  /** The fleet-wide read budget (GET pages), separate from writes, inside Graph's "any request" limit. */
  readRateLimit: RateLimit;
  /** How long a configuration's snapshot read from Graph is reused by `import --reconcile`. */
  snapshotMaxAgeMs: number;
  requestTimeoutMs: number;
  /**
   * The longest any one Retry-After is waited, on reads and writes (SYNC_MAX_RETRY_AFTER, default 10 min): a longer
   * one, or a date far ahead, is cut to it.
   */
  maxRetryAfterMs: number;
  /** A row that cannot finish within this time (throttling, outages) fails with a clear reason instead of waiting forever. */
  maxRowAgeMs: number;
  logLevel: string;
  /** SYNC_LOG_FORMAT or --log-format; undefined: pretty on a terminal, JSON otherwise. */
  logFormat?: 'pretty' | 'json';
  /** Bearer tokens `serve` accepts (SYNC_API_TOKENS, comma-separated); empty when unset, and `serve` refuses to start. */
  apiTokens: string[];
  /** Largest request body `serve` reads; bigger ones get 413 before any record is looked at. */
  apiBodyLimitBytes: number;
  /** Where run alerts (completed, blocked, failed_threshold) are POSTed; unset disables alerts. */
  alertWebhookUrl?: string;
  /** Alert once a run's failed rows reach this percent of its accepted rows; unset disables that alert. */
  alertFailedPercent?: number;
  /** A request (headers and body) must arrive within this time; a slower one loses its connection. */
  apiBodyTimeoutMs: number;
  /**
   * SYNC_TRUST_PROXY: which proxies `serve` believes about X-Forwarded-Proto/-For (Fastify's trustProxy), so the
   * session cookie is Secure behind a TLS proxy. false (default): none; true: any; a hop count; or addresses/CIDRs.
   */
  trustProxy: TrustProxy;
  /** Largest input row in bytes; a bigger one is rejected (NDJSON) or stops a CSV import at its line. */
  maxRowBytes: number;
  /** Every Redis command must be answered within this time, so a stalled Redis fails commands instead of hanging them. */
  redisCommandTimeoutMs: number;
  /**
   * How long long-lived processes (worker, serve) keep reconnecting through a Redis outage, start-up included,
   * before giving up; unset: the default of each (see src/queue/connection.ts).
   */
  redisConnectTimeoutMs?: number;
  /** How long a finished run (its status, rows and every other key of it) is kept after it finishes (SYNC_RUN_RETENTION). */
  runRetentionMs: number;
  /**
   * Imports and events stop queueing at this percent of Redis's maxmemory
   * (SYNC_REDIS_MEMORY_HIGH_WATER; 100 = only when Redis refuses).
   */
  memoryHighWaterPercent: number;
  /**
   * SYNC_METRICS_TENANTS: how many tenants of the tenants file (the first, in the file's order) get metric series of
   * their own; the others are summed under tenant="other" (src/domain/tenant-label.ts). Default 20.
   */
  metricsTenantLimit: number;
  /** The tenants of SYNC_TENANTS_FILE (empty without it), in the file's order. */
  tenants: TenantConfig[];
  /** AZURE_TENANT_ID in lower case, when set: a row naming it belongs to the default tenant. */
  defaultTenantId?: string;
}

export class ConfigError extends OperatorError {
  override name = 'ConfigError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export type TrustProxy = boolean | number | string[];

/** Names proxy-addr (behind Fastify's trustProxy) knows for address ranges. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An IP address, or a CIDR range whose prefix fits the address family. */
function isProxyAddress(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** Parses SYNC_TRUST_PROXY: unset, "false" or "0" trusts no proxy; "true"; a hop count; or comma-separated addresses. */
export function parseTrustProxy(text: string | undefined): TrustProxy {
  const value = (text ?? '').trim();
  if (value === '' || value === 'false' || value === '0') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 100) throw new ConfigError(`SYNC_TRUST_PROXY: ${hops} proxy hops is not plausible; give a count from 1 to 100`);
    return hops;
  }
  const entries = value.split(',').map((e) => e.trim());
  for (const entry of entries) {
    if (!PROXY_RANGE_NAMES.has(entry) && !isProxyAddress(entry)) {
      throw new ConfigError(
        `SYNC_TRUST_PROXY: entry ${JSON.stringify(entry.slice(0, 60))} is not an IP address, a CIDR range ` +
          'or loopback|linklocal|uniquelocal; ' +
          'use true, false, a hop count, or e.g. 10.0.0.0/8,127.0.0.1',
      );
    }
  }
  return entries;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** Parses "100/20s", "5/s", "300/1m" or "20/500ms". */
export function parseRateLimit(text: string, name = 'SYNC_RATE_LIMIT'): RateLimit {
  const match = /^\s*(\d+)\s*\/\s*(\d*(?:\.\d+)?)\s*(ms|s|m|min|h)\s*$/.exec(text);
  if (!match) throw new ConfigError(`${name} "${text}" is not of the form <count>/<window>, e.g. 100/20s or 5/s`);
  const limit = Number(match[1]);
  const windowMs = (match[2] === '' ? 1 : Number(match[2])) * UNITS[match[3]];
  if (limit < 1 || !(windowMs > 0)) throw new ConfigError(`${name} "${text}" must allow at least 1 request in a positive window`);
  return { limit, windowMs };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration to ms: one or more whole numbers each with a unit, largest unit first, such as "90s", "1h30m",
 * "7d", "2d12h", "500ms" (units d, h, m, s, ms). This is the one duration parser of every flag and variable.
 * Returns undefined for anything else (a bare number too: callers that take milliseconds say so), so each caller can
 * name the variable or flag in its error.
 */
export function parseDuration(text: string): number | undefined {
  // Spaces are allowed between the parts ("1h 30m", "30 d"), as the earlier one-unit parser allowed them.
  const trimmed = text.replace(/\s+/g, '');
  if (!/^(?:\d{1,12}(?:ms|s|m|h|d))+$/.test(trimmed)) return undefined;
  let ms = 0;
  let previousUnit = Infinity;
  for (const [, amount, unit] of trimmed.matchAll(/(\d{1,12})(ms|s|m|h|d)/g)) {
    const unitMs = DURATION_UNITS[unit];
    // "30m1h" or "1h1h" is a typo, not a duration.
    if (unitMs >= previousUnit) return undefined;
    previousUnit = unitMs;
    ms += Number(amount) * unitMs;
  }
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** A setting in milliseconds: a plain number of ms (as before), or a duration parseDuration reads. */
export function parseMilliseconds(text: string): number | undefined {
  return /^\s*\d{1,15}\s*$/.test(text) ? Number(text) : parseDuration(text);
}

/** A required positive duration (parseDuration's forms, or a bare number of ms); a bad value is a ConfigError naming the variable. */
function positiveDuration(text: string, name: string): number {
  const ms = parseMilliseconds(text);
  if (ms === undefined || ms < 1) throw new ConfigError(`${name} "${text}" is not a positive duration such as 15m, 900s or 500ms`);
  return ms;
}

/** Node's timers take at most 2^31-1 ms (24.8 days); a longer wait would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** SYNC_MAX_RETRY_AFTER: a positive duration no longer than a timer can wait. */
function maxRetryAfter(text: string): number {
  const ms = positiveDuration(text, 'SYNC_MAX_RETRY_AFTER');
  if (ms > MAX_TIMER_MS)
    throw new ConfigError(
      `SYNC_MAX_RETRY_AFTER "${text}" is longer than the 24 days a timer can wait: give at most 24d (the default is 10m)`,
    );
  return ms;
}

/** A `_MS` setting: a positive number of milliseconds, or a duration (`90s`, `1h30m`); `allowZero` for "0 = default". */
const positiveMs = (name: string, fallback: number, allowZero = false) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const ms = parseMilliseconds(v);
      if (ms === undefined || ms < (allowZero ? 0 : 1)) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a positive integer (milliseconds) or a duration such as 90s or 1h30m, got "${v}"`,
        });
        return z.NEVER;
      }
      return ms;
    });

const positiveInt = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a positive integer, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

/**
 * Parses SYNC_REDIS_CLUSTER: comma-separated `host:port` seed nodes (an IPv6 host in brackets, `[::1]:7000`). Any
 * entry that is not one is named in the error; empty entries (a trailing comma) are skipped.
 */
export function parseClusterNodes(text: string, name = 'SYNC_REDIS_CLUSTER'): RedisNode[] {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0)
    throw new ConfigError(`${name} names no node: give comma-separated host:port seed nodes, e.g. redis-1:6379,redis-2:6379`);
  return entries.map((entry) => {
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65535) {
      throw new ConfigError(`${name}: "${entry}" is not a host:port seed node (e.g. redis-1:6379 or [::1]:7000)`);
    }
    return { host: match[1] ?? match[2], port };
  });
}

/** What SYNC_PREFIX may be: no glob character (key patterns use it unescaped) and no braces (a cluster's hash tag). */
export const SYNC_PREFIX_RULE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** SYNC_PREFIX when unset. */
export const DEFAULT_SYNC_PREFIX = 'csync';

const envSchema = z.object({
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  SYNC_REDIS_CLUSTER: z.string().optional(),
  SYNC_PREFIX: z
    .string()
    .default(DEFAULT_SYNC_PREFIX)
    .refine((v) => SYNC_PREFIX_RULE.test(v), 'SYNC_PREFIX may hold only letters, digits and _ . : - (1-64 chars)'),
  GRAPH_CLOUD: z.enum(Object.keys(GRAPH_CLOUDS) as [GraphCloud, ...GraphCloud[]]).default('global'),
  // Empty is unset: a compose file or .env line `GRAPH_BASE_URL=` means "the cloud's Graph host", not an invalid URL.
  GRAPH_BASE_URL: z.preprocess((v) => (v === '' ? undefined : v), z.string().url().optional()),
  GRAPH_API_VERSION: z.enum(['beta', 'v1.0']).default('beta'),
  GRAPH_ACCESS_TOKEN: z.string().optional(),
  AZURE_TENANT_ID: z.string().optional(),
  AZURE_CLIENT_ID: z.string().optional(),
  AZURE_CLIENT_SECRET: z.string().optional(),
  AZURE_CLIENT_CERTIFICATE_PATH: z.string().optional(),
  // Empty is unset (a compose file's `AZURE_CREDENTIAL:` line): the kind is then inferred from the variables set, as before.
  AZURE_CREDENTIAL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      if (isCredentialChoice(v)) return v;
      ctx.addIssue({ code: 'custom', message: `AZURE_CREDENTIAL must be one of ${CREDENTIAL_CHOICES.join(', ')} (or unset, to infer it)` });
      return z.NEVER;
    }),
  // The Entra authority of the default tenant, instead of GRAPH_CLOUD's (the name @azure/identity itself reads).
  AZURE_AUTHORITY_HOST: z
    .string()
    .optional()
    .refine(
      (v) => v === undefined || v === '' || /^https:\/\/[^\s/?#]+\/?$/i.test(v),
      'AZURE_AUTHORITY_HOST must be an https:// origin, e.g. https://login.microsoftonline.us',
    ),
  SYNC_RATE_LIMIT: z.string().default('100/20s'),
  // 800 of Intune's 1,000 "any request" per 20 s per app leaves the writes' 100 (and some slack) their room.
  SYNC_READ_RATE_LIMIT: z.string().default('800/20s'),
  SYNC_SNAPSHOT_MAX_AGE: z.string().default('15m'),
  SYNC_REQUEST_TIMEOUT_MS: positiveMs('SYNC_REQUEST_TIMEOUT_MS', 30_000),
  SYNC_MAX_ROW_AGE_MS: positiveMs('SYNC_MAX_ROW_AGE_MS', 6 * 3_600_000),
  SYNC_MAX_RETRY_AFTER: z.string().default('10m'),
  SYNC_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SYNC_LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  SYNC_API_TOKENS: z.string().optional(),
  SYNC_API_BODY_LIMIT_BYTES: positiveInt('SYNC_API_BODY_LIMIT_BYTES', 1024 * 1024),
  SYNC_API_BODY_TIMEOUT_MS: positiveMs('SYNC_API_BODY_TIMEOUT_MS', 30_000),
  SYNC_MAX_ROW_BYTES: positiveInt('SYNC_MAX_ROW_BYTES', 64 * 1024),
  SYNC_REDIS_COMMAND_TIMEOUT_MS: positiveMs('SYNC_REDIS_COMMAND_TIMEOUT_MS', 10_000),
  SYNC_REDIS_CONNECT_TIMEOUT_MS: positiveMs('SYNC_REDIS_CONNECT_TIMEOUT_MS', 0),
  SYNC_ALERT_WEBHOOK_URL: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || /^https?:\/\/[^\s]+$/i.test(v), 'SYNC_ALERT_WEBHOOK_URL must be an http(s) URL'),
  SYNC_RUN_RETENTION: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 30 * 86_400_000;
      const ms = parseDuration(v);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: 'SYNC_RUN_RETENTION must be a positive duration such as 30d, 12h, 90m or 45s' });
        return z.NEVER;
      }
      return ms;
    }),
  SYNC_REDIS_MEMORY_HIGH_WATER: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 90;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 100) {
        ctx.addIssue({ code: 'custom', message: 'SYNC_REDIS_MEMORY_HIGH_WATER must be a whole percent from 1 to 100' });
        return z.NEVER;
      }
      return n;
    }),
  SYNC_METRICS_TENANTS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return 20;
      const n = Number(v);
      if (!/^\s*\d+\s*$/.test(v) || n > 1000) {
        ctx.addIssue({ code: 'custom', message: 'SYNC_METRICS_TENANTS must be a whole number from 0 to 1000 (tenants with own series)' });
        return z.NEVER;
      }
      return n;
    }),
  SYNC_TENANTS_FILE: z.string().optional(),
  SYNC_TRUST_PROXY: z.string().optional(),
  SYNC_ALERT_FAILED_PERCENT: z
    .string()
    .optional()
    .refine(
      (v) => v === undefined || v === '' || (Number(v) > 0 && Number(v) <= 100),
      'SYNC_ALERT_FAILED_PERCENT must be a number above 0 and at most 100',
    ),
});

function credentialsFrom(env: z.infer<typeof envSchema>): Credentials {
  if (env.AZURE_CREDENTIAL !== undefined) return chosenCredentials(env.AZURE_CREDENTIAL, env);
  if (env.GRAPH_ACCESS_TOKEN) return { kind: 'accessToken', token: env.GRAPH_ACCESS_TOKEN };
  const { AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: clientId } = env;
  if (tenantId && clientId && env.AZURE_CLIENT_SECRET) {
    return { kind: 'clientSecret', tenantId, clientId, clientSecret: env.AZURE_CLIENT_SECRET };
  }
  if (tenantId && clientId && env.AZURE_CLIENT_CERTIFICATE_PATH) {
    return { kind: 'clientCertificate', tenantId, clientId, certificatePath: env.AZURE_CLIENT_CERTIFICATE_PATH };
  }
  return { kind: 'none' };
}

/** The variable each choice reads its proof from; the others' must be unset, or one of them would be silently ignored. */
const PROOF_VARIABLE: Record<CredentialChoice, 'AZURE_CLIENT_SECRET' | 'AZURE_CLIENT_CERTIFICATE_PATH' | undefined> = {
  secret: 'AZURE_CLIENT_SECRET',
  certificate: 'AZURE_CLIENT_CERTIFICATE_PATH',
  'managed-identity': undefined,
};

/**
 * AZURE_CREDENTIAL's credential. Anything that would be ignored is refused (GRAPH_ACCESS_TOKEN, the other kind's
 * secret or certificate), and so is anything missing: an explicit choice never falls back to another kind.
 */
function chosenCredentials(choice: CredentialChoice, env: z.infer<typeof envSchema>): Credentials {
  const set = (name: keyof z.infer<typeof envSchema>) => (env[name] ?? '') !== '';
  const ignored = (['GRAPH_ACCESS_TOKEN', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH'] as const).filter(
    (name) => set(name) && name !== PROOF_VARIABLE[choice],
  );
  if (ignored.length > 0) {
    throw new ConfigError(
      `AZURE_CREDENTIAL=${choice} is set together with ${ignored.join(' and ')}, which ${choice} does not use: ` +
        `unset ${ignored.length === 1 ? 'it' : 'them'}, or choose the credential ${ignored.length === 1 ? 'it belongs' : 'they belong'} to`,
    );
  }
  const clientId = env.AZURE_CLIENT_ID ?? '';
  if (choice === 'managed-identity') {
    if (clientId === '') return { kind: 'managedIdentity' };
    if (!isGuid(clientId)) {
      throw new ConfigError(
        'AZURE_CLIENT_ID is not a GUID: with AZURE_CREDENTIAL=managed-identity it is the client id of a user-assigned identity ' +
          '(unset it for the system-assigned one)',
      );
    }
    return { kind: 'managedIdentity', clientId: clientId.toLowerCase() };
  }
  const proof = PROOF_VARIABLE[choice]!;
  const missing = (['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', proof] as const).filter((name) => !set(name));
  if (missing.length > 0) {
    throw new ConfigError(`AZURE_CREDENTIAL=${choice} needs ${missing.join(' and ')}, which ${missing.length === 1 ? 'is' : 'are'} unset`);
  }
  const tenantId = env.AZURE_TENANT_ID!;
  return choice === 'secret'
    ? { kind: 'clientSecret', tenantId, clientId, clientSecret: env.AZURE_CLIENT_SECRET! }
    : { kind: 'clientCertificate', tenantId, clientId, certificatePath: env.AZURE_CLIENT_CERTIFICATE_PATH! };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(text: string): boolean {
  return GUID.test(text);
}

const tenantEntrySchema = z
  .object({
    cloud: z.enum(Object.keys(GRAPH_CLOUDS) as [GraphCloud, ...GraphCloud[]]).optional(),
    graphBaseUrl: z
      .string()
      .refine(
        (v) => /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/i.test(v),
        'must be an http(s) URL without query or fragment, e.g. https://graph-proxy.example.com',
      )
      .optional(),
    credential: z
      .string()
      .refine(isCredentialChoice, `must be one of ${CREDENTIAL_CHOICES.join(', ')} (or left out, to infer it)`)
      .optional(),
    clientId: z.string().min(1, 'must not be empty').optional(),
    clientSecret: z.string().min(1, 'must not be empty').optional(),
    clientCertificatePath: z.string().min(1, 'must not be empty').optional(),
    accessToken: z.string().min(1, 'must not be empty').optional(),
    rateLimit: z.string().optional(),
    readRateLimit: z.string().optional(),
  })
  .strict();

type TenantEntry = z.infer<typeof tenantEntrySchema>;
type Fail = (where: string, message: string) => never;

/** A tenant's credential from the fields given, as before `credential` existed. */
function inferredTenantCredentials(e: TenantEntry, tenantId: string, where: string, fail: Fail): Credentials {
  if (e.accessToken !== undefined) {
    if (e.clientSecret !== undefined || e.clientCertificatePath !== undefined) {
      fail(`${where} field "accessToken"`, 'is given together with clientSecret or clientCertificatePath: give one kind of credential');
    }
    return { kind: 'accessToken', token: e.accessToken };
  }
  if (e.clientId === undefined) fail(`${where} field "clientId"`, 'is required (or give accessToken)');
  if (e.clientSecret !== undefined && e.clientCertificatePath !== undefined) {
    fail(`${where} field "clientSecret"`, 'is given together with clientCertificatePath: give one of them');
  }
  if (e.clientSecret === undefined && e.clientCertificatePath === undefined) {
    fail(`${where} field "clientSecret"`, 'is required with clientId (or give clientCertificatePath)');
  }
  return e.clientSecret !== undefined
    ? { kind: 'clientSecret', tenantId, clientId: e.clientId, clientSecret: e.clientSecret }
    : { kind: 'clientCertificate', tenantId, clientId: e.clientId, certificatePath: e.clientCertificatePath! };
}

/** A tenant's `credential`: the fields another kind uses are refused, as AZURE_CREDENTIAL refuses their variables. */
function chosenTenantCredentials(choice: CredentialChoice, e: TenantEntry, tenantId: string, where: string, fail: Fail): Credentials {
  const own = { secret: 'clientSecret', certificate: 'clientCertificatePath', 'managed-identity': undefined }[choice];
  const ignored = (['accessToken', 'clientSecret', 'clientCertificatePath'] as const).find((f) => e[f] !== undefined && f !== own);
  if (ignored !== undefined) {
    fail(`${where} field "${ignored}"`, `is given with credential "${choice}", which does not use it: give one kind of credential`);
  }
  if (choice === 'managed-identity') {
    if (e.clientId === undefined) return { kind: 'managedIdentity' };
    if (!isGuid(e.clientId)) {
      fail(
        `${where} field "clientId"`,
        'is not a GUID: with credential "managed-identity" it is the client id of a user-assigned identity',
      );
    }
    return { kind: 'managedIdentity', clientId: e.clientId.toLowerCase() };
  }
  if (e.clientId === undefined) fail(`${where} field "clientId"`, `is required with credential "${choice}"`);
  if (choice === 'secret') {
    if (e.clientSecret === undefined) fail(`${where} field "clientSecret"`, 'is required with credential "secret"');
    return { kind: 'clientSecret', tenantId, clientId: e.clientId, clientSecret: e.clientSecret };
  }
  if (e.clientCertificatePath === undefined) fail(`${where} field "clientCertificatePath"`, 'is required with credential "certificate"');
  return { kind: 'clientCertificate', tenantId, clientId: e.clientId, certificatePath: e.clientCertificatePath };
}

/**
 * Reads the tenants file's JSON (`{ "tenants": { "<GUID>": { ... } } }`) into tenant configs. A tenant's requests go to
 * its `graphBaseUrl` when given, else to its cloud's Graph host; GRAPH_BASE_URL applies to the default tenant only. `${NAME}` in a value is
 * read from `env`. Every problem is a ConfigError naming the file, the tenant and the field, never a secret's value.
 * Pure: the caller reads the file.
 */
export function parseTenantsFile(
  text: string,
  env: NodeJS.ProcessEnv,
  defaults: { file: string; rateLimit: RateLimit; readRateLimit: RateLimit; defaultTenantId?: string },
): TenantConfig[] {
  const fail = (where: string, message: string): never => {
    throw new ConfigError(`SYNC_TENANTS_FILE ${defaults.file}: ${where}: ${message}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    fail('not valid JSON', (err as Error).message);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('file', 'must be a JSON object with a "tenants" object');
  const top = json as Record<string, unknown>;
  const extra = Object.keys(top).find((k) => k !== 'tenants');
  if (extra !== undefined) fail(`field "${extra}"`, 'is not a known field (the file holds only "tenants")');
  const tenants = top.tenants;
  if (typeof tenants !== 'object' || tenants === null || Array.isArray(tenants))
    fail('field "tenants"', 'must be an object of tenant GUID -> tenant');
  const seen = new Set<string>();
  const out: TenantConfig[] = [];
  for (const [rawId, rawEntry] of Object.entries(tenants as Record<string, unknown>)) {
    const where = `tenant "${rawId}"`;
    if (!isGuid(rawId)) fail(where, 'is not a GUID (tenant ids look like 72f988bf-86f1-41af-91ab-2d7cd011db47)');
    const tenantId = rawId.toLowerCase();
    if (seen.has(tenantId)) fail(where, 'is listed twice');
    seen.add(tenantId);
    if (tenantId === defaults.defaultTenantId)
      fail(where, 'is the default tenant (AZURE_TENANT_ID): its rows use the environment variables, so it must not be in the file');
    if (typeof rawEntry !== 'object' || rawEntry === null || Array.isArray(rawEntry)) fail(where, 'must be an object');
    // `${NAME}` first, so the schema checks what will be used; a missing variable names the variable, not a value.
    const expanded: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(rawEntry as Record<string, unknown>)) {
      if (typeof value !== 'string') {
        expanded[field] = value;
        continue;
      }
      expanded[field] = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
        const found = env[name];
        if (found === undefined || found === '') fail(`${where} field "${field}"`, `environment variable ${name} is not set`);
        return found as string;
      });
    }
    const parsed = tenantEntrySchema.safeParse(expanded);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      if (issue.code === 'unrecognized_keys')
        fail(`${where} field "${issue.keys[0]}"`, `is not a known field (known: ${Object.keys(tenantEntrySchema.shape).join(', ')})`);
      const field = String(issue.path[0] ?? '');
      // zod's messages never quote the value, so a secret cannot leak through them.
      fail(`${where} field "${field}"`, issue.message);
    }
    const e = parsed.data!;
    const credentials =
      e.credential !== undefined
        ? chosenTenantCredentials(e.credential, e, tenantId, where, fail)
        : inferredTenantCredentials(e, tenantId, where, fail);
    const rate = (field: 'rateLimit' | 'readRateLimit', fallback: RateLimit): RateLimit => {
      const value = e[field];
      if (value === undefined) return fallback;
      try {
        return parseRateLimit(value, field);
      } catch (err) {
        return fail(`${where} field "${field}"`, (err as Error).message);
      }
    };
    const cloud = e.cloud ?? 'global';
    const rawToken = (rawEntry as Record<string, unknown>).accessToken;
    const tokenEnv = typeof rawToken === 'string' ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(rawToken)?.[1] : undefined;
    out.push({
      tenantId,
      cloud,
      // GRAPH_BASE_URL is the default tenant's alone: a tenant's requests go to its own graphBaseUrl (a proxy, the
      // simulator) or its cloud's Graph host, so a proxy set for one tenant never carries another tenant's token.
      graphBaseUrl: (e.graphBaseUrl ?? GRAPH_CLOUDS[cloud].graphHost).replace(/\/+$/, ''),
      authorityHost: GRAPH_CLOUDS[cloud].authorityHost,
      credentials,
      rateLimit: rate('rateLimit', defaults.rateLimit),
      readRateLimit: rate('readRateLimit', defaults.readRateLimit),
      ...(tokenEnv ? { accessTokenEnv: tokenEnv } : {}),
    });
  }
  return out;
}

function loadTenants(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  defaults: Omit<Parameters<typeof parseTenantsFile>[2], 'file'>,
): TenantConfig[] {
  if (file === undefined || file === '') return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`SYNC_TENANTS_FILE ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseTenantsFile(text, env, { ...defaults, file });
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): SyncConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    // Issues name the variable, never its value, so secrets cannot leak through a config error.
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const cloud = GRAPH_CLOUDS[e.GRAPH_CLOUD];
  const redisCluster = e.SYNC_REDIS_CLUSTER?.trim() ? parseClusterNodes(e.SYNC_REDIS_CLUSTER) : undefined;
  const rateLimit = parseRateLimit(e.SYNC_RATE_LIMIT);
  const readRateLimit = parseRateLimit(e.SYNC_READ_RATE_LIMIT, 'SYNC_READ_RATE_LIMIT');
  const defaultTenantId = e.AZURE_TENANT_ID && isGuid(e.AZURE_TENANT_ID) ? e.AZURE_TENANT_ID.toLowerCase() : undefined;
  const tenants = loadTenants(e.SYNC_TENANTS_FILE, env, {
    rateLimit,
    readRateLimit,
    ...(defaultTenantId ? { defaultTenantId } : {}),
  });
  return {
    tenants,
    ...(defaultTenantId ? { defaultTenantId } : {}),
    redisUrl: e.REDIS_URL,
    ...(redisCluster ? { redisCluster } : {}),
    prefix: keyPrefix(e.SYNC_PREFIX, redisCluster !== undefined),
    cloud: e.GRAPH_CLOUD,
    graphBaseUrl: (e.GRAPH_BASE_URL ?? cloud.graphHost).replace(/\/+$/, ''),
    authorityHost: (e.AZURE_AUTHORITY_HOST || cloud.authorityHost).replace(/\/+$/, ''),
    apiVersion: e.GRAPH_API_VERSION,
    credentials: credentialsFrom(e),
    rateLimit,
    readRateLimit,
    snapshotMaxAgeMs: positiveDuration(e.SYNC_SNAPSHOT_MAX_AGE, 'SYNC_SNAPSHOT_MAX_AGE'),
    requestTimeoutMs: e.SYNC_REQUEST_TIMEOUT_MS,
    maxRowAgeMs: e.SYNC_MAX_ROW_AGE_MS,
    maxRetryAfterMs: maxRetryAfter(e.SYNC_MAX_RETRY_AFTER),
    logLevel: e.SYNC_LOG_LEVEL,
    logFormat: e.SYNC_LOG_FORMAT,
    apiTokens: (e.SYNC_API_TOKENS ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
    apiBodyLimitBytes: e.SYNC_API_BODY_LIMIT_BYTES,
    runRetentionMs: e.SYNC_RUN_RETENTION,
    memoryHighWaterPercent: e.SYNC_REDIS_MEMORY_HIGH_WATER,
    metricsTenantLimit: e.SYNC_METRICS_TENANTS,
    ...(e.SYNC_ALERT_WEBHOOK_URL ? { alertWebhookUrl: e.SYNC_ALERT_WEBHOOK_URL } : {}),
    ...(e.SYNC_ALERT_FAILED_PERCENT ? { alertFailedPercent: Number(e.SYNC_ALERT_FAILED_PERCENT) } : {}),
    apiBodyTimeoutMs: e.SYNC_API_BODY_TIMEOUT_MS,
    trustProxy: parseTrustProxy(e.SYNC_TRUST_PROXY),
    maxRowBytes: e.SYNC_MAX_ROW_BYTES,
    redisCommandTimeoutMs: e.SYNC_REDIS_COMMAND_TIMEOUT_MS,
    ...(e.SYNC_REDIS_CONNECT_TIMEOUT_MS > 0 ? { redisConnectTimeoutMs: e.SYNC_REDIS_CONNECT_TIMEOUT_MS } : {}),
  };
}

/** The tenants rows may name: those of the tenants file, and the default tenant's GUID (its rows then use today's keys). */
export function tenantDirectory(config: Pick<SyncConfig, 'tenants' | 'defaultTenantId'>): {
  known: ReadonlySet<string>;
  defaultTenantId?: string;
} {
  return {
    known: new Set(config.tenants.map((t) => t.tenantId)),
    ...(config.defaultTenantId ? { defaultTenantId: config.defaultTenantId } : {}),
  };
}
