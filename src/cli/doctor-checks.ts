import { GRAPH_CLOUDS } from '../clouds.js';
import { loadConfig, type Credentials, type RateLimit, type SyncConfig } from '../config.js';
import { createTokenSource } from '../graph/auth.js';
import { decodeJwtPayload, judgeToken, writePermissionsFor } from '../graph/token-claims.js';
import {
  describeManagedIdentity,
  explainManagedIdentityFailure,
  managedIdentityRoleFix,
  managedIdentitySource,
} from '../graph/managed-identity.js';
import type { ConfigurationType, DoctorCheck, RedisClient } from '../interfaces.js';
import { readFleetPauses, type FleetPause } from '../pacing/pauses.js';
import { pacedReads, ReadFailedError } from '../pacing/reads.js';
import { checkProbeWrite, type ProbeWriteTarget } from './doctor-probe-write.js';
import { connectRedis, dataNodes, describeRedisTarget, isCluster, redisTargetOf, type RedisTarget } from '../queue/connection.js';
import { judgeClockSkew, judgeRedis, judgeRedisCluster, readClusterFacts, readRedisClock, readRedisFacts } from '../queue/redis-health.js';
import { defaultTenantOf, tenantsOf } from '../tenants/tenant.js';

/**
 * The checks of `compliance-sync doctor`, each a small function returning DoctorCheck lines; the verdicts
 * themselves are pure functions (here, in src/queue/redis-health.ts and src/graph/token-claims.ts).
 * A check that cannot run says why, as a failure, and the others still run.
 */

/** Intune's write budget per app (README.md): a configured budget above it will be throttled down to it. */
export const INTUNE_WRITE_LIMIT: RateLimit = { limit: 100, windowMs: 20_000 };

const perSecond = (r: RateLimit) => (r.limit * 1000) / r.windowMs;

export function judgeWriteBudget(rateLimit: RateLimit, intune: RateLimit = INTUNE_WRITE_LIMIT): DoctorCheck {
  const name = 'config.write-budget';
  const detail =
    `SYNC_RATE_LIMIT allows ${rateLimit.limit} per ${rateLimit.windowMs / 1000} s ` +
    `(${perSecond(rateLimit).toFixed(2)}/s) across the fleet`;
  if (perSecond(rateLimit) > perSecond(intune)) {
    return {
      name,
      result: 'warn',
      detail:
        `${detail}, more than Intune's ${intune.limit} per ${intune.windowMs / 1000} s ` +
        `per app: Graph will answer 429 and the fleet will slow down to Graph's rate`,
      fix:
        `set SYNC_RATE_LIMIT=${intune.limit}/${intune.windowMs / 1000}s unless this ` +
        `tenant has a higher limit (the simulator's can be anything)`,
    };
  }
  return { name, result: 'ok', detail, fix: '' };
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/** Where PATCHes go: the cloud's Graph host, or (GRAPH_BASE_URL) a proxy or the simulator, which must not be reached in cleartext. */
export function judgeGraphEndpoint(config: Pick<SyncConfig, 'cloud' | 'graphBaseUrl' | 'apiVersion'>): DoctorCheck {
  const name = 'config.graph';
  const cloudHost = GRAPH_CLOUDS[config.cloud].graphHost;
  const base = `${config.graphBaseUrl}/${config.apiVersion}`;
  if (config.graphBaseUrl === cloudHost)
    return { name, result: 'ok', detail: `GRAPH_CLOUD ${config.cloud}: requests go to ${base}`, fix: '' };
  let url: URL;
  try {
    url = new URL(config.graphBaseUrl);
  } catch {
    return {
      name,
      result: 'fail',
      detail: 'GRAPH_BASE_URL is not a URL',
      fix: "set GRAPH_BASE_URL to an http(s) URL, or unset it to use the cloud's Graph host",
    };
  }
  const where = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}/${config.apiVersion}`;
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
    return {
      name,
      result: 'warn',
      detail: `GRAPH_BASE_URL sends requests, bearer token included, in cleartext to ${where}`,
      fix: "use https:// for GRAPH_BASE_URL, or unset it to use the cloud's Graph host",
    };
  }
  return {
    name,
    result: 'ok',
    detail:
      `GRAPH_BASE_URL sends requests to ${where} instead of ${cloudHost} (a proxy or ` +
      `the simulator); tokens are still requested for ${cloudHost}`,
    fix: '',
  };
}

/**
 * The credential in use, named with the variable it comes from (never its value). `env`: where a managed identity's
 * token comes from (the variables ManagedIdentityCredential reads).
 */
export function credentialsLabel(credentials: Credentials, env: Record<string, string | undefined> = {}): string {
  if (credentials.kind === 'managedIdentity') {
    const source = managedIdentitySource(env, credentials.clientId);
    return describeManagedIdentity(source, credentials.clientId);
  }
  if (credentials.kind === 'accessToken') return 'a fixed bearer token from GRAPH_ACCESS_TOKEN (never renewed)';
  if (credentials.kind === 'clientSecret')
    return (
      `the client secret in AZURE_CLIENT_SECRET for app ${credentials.clientId} ` +
      `(AZURE_CLIENT_ID) in tenant ${credentials.tenantId} (AZURE_TENANT_ID)`
    );
  if (credentials.kind === 'clientCertificate')
    return (
      `the client certificate ${credentials.certificatePath} ` +
      `(AZURE_CLIENT_CERTIFICATE_PATH) for app ${credentials.clientId} ` +
      `(AZURE_CLIENT_ID) in tenant ${credentials.tenantId} (AZURE_TENANT_ID)`
    );
  return 'none';
}

const isSet = (env: Record<string, string | undefined>, name: string) => (env[name] ?? '') !== '';

/**
 * Which credential the default tenant uses, from the environment. Ambiguity fails: with GRAPH_ACCESS_TOKEN and AZURE_*
 * both set, the fixed token would win and the app credentials be silently ignored (a production .env that still
 * carries the simulator's token, or the reverse). AZURE_TENANT_ID alone does not count: it also names the default
 * tenant of rows (README.md, "Many tenants, one fleet"), which a token user may set.
 */
export function judgeCredentials(env: Record<string, string | undefined>): DoctorCheck {
  const name = 'config.credentials';
  if (env.AZURE_CREDENTIAL === 'managed-identity') return judgeManagedIdentityChoice(env);
  const azure = ['AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH'].filter((v) => isSet(env, v));
  if (isSet(env, 'GRAPH_ACCESS_TOKEN') && azure.length > 0) {
    return {
      name,
      result: 'fail',
      detail: `both GRAPH_ACCESS_TOKEN and ${azure.join(', ')} are set: GRAPH_ACCESS_TOKEN would be used and the app credentials ignored`,
      fix:
        'unset GRAPH_ACCESS_TOKEN to use the AZURE_* app credentials (production), or ' +
        'unset AZURE_* to use the fixed token (the simulator, a short test)',
    };
  }
  if (isSet(env, 'AZURE_CLIENT_SECRET') && isSet(env, 'AZURE_CLIENT_CERTIFICATE_PATH')) {
    return {
      name,
      result: 'fail',
      detail: 'both AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH are set: the secret would be used and the certificate ignored',
      fix: 'unset one of AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH',
    };
  }
  if (isSet(env, 'GRAPH_ACCESS_TOKEN'))
    return { name, result: 'ok', detail: `credential: ${credentialsLabel({ kind: 'accessToken', token: '' })}`, fix: '' };
  const tenantId = env.AZURE_TENANT_ID ?? '';
  const clientId = env.AZURE_CLIENT_ID ?? '';
  if (tenantId !== '' && clientId !== '' && isSet(env, 'AZURE_CLIENT_SECRET')) {
    return {
      name,
      result: 'ok',
      detail: `credential: ${credentialsLabel({ kind: 'clientSecret', tenantId, clientId, clientSecret: '' })}`,
      fix: '',
    };
  }
  if (tenantId !== '' && clientId !== '' && isSet(env, 'AZURE_CLIENT_CERTIFICATE_PATH')) {
    return {
      name,
      result: 'ok',
      detail: `credential: ${credentialsLabel({
        kind: 'clientCertificate',
        tenantId,
        clientId,
        certificatePath: env.AZURE_CLIENT_CERTIFICATE_PATH ?? '',
      })}`,
      fix: '',
    };
  }
  const missing = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID'].filter((v) => !isSet(env, v));
  // An identity endpoint in the environment: App Service, Functions, Container Apps, Cloud Shell, Azure ML.
  const onAzure = isSet(env, 'IDENTITY_ENDPOINT') || isSet(env, 'MSI_ENDPOINT');
  const incomplete =
    missing.length > 0
      ? `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set`
      : 'neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set';
  return {
    name,
    result: 'fail',
    detail:
      azure.length > 0 || isSet(env, 'AZURE_TENANT_ID')
        ? `the AZURE_* credentials are incomplete: ${incomplete}`
        : 'no Graph credentials are configured',
    fix:
      'set AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH ' +
      '(or GRAPH_ACCESS_TOKEN, for the simulator)' +
      (onAzure ? ', or AZURE_CREDENTIAL=managed-identity: this host offers a managed identity' : ''),
  };
}

/** AZURE_CREDENTIAL=managed-identity: nothing else may claim to be the credential (loadConfig refuses it too). */
function judgeManagedIdentityChoice(env: Record<string, string | undefined>): DoctorCheck {
  const name = 'config.credentials';
  const ignored = ['GRAPH_ACCESS_TOKEN', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH'].filter((v) => isSet(env, v));
  if (ignored.length > 0) {
    return {
      name,
      result: 'fail',
      detail: `AZURE_CREDENTIAL=managed-identity is set together with ${ignored.join(' and ')}, which a managed identity does not use`,
      fix: `unset ${ignored.join(' and ')}, or unset AZURE_CREDENTIAL (or set it to secret or certificate) to use them`,
    };
  }
  const clientId = isSet(env, 'AZURE_CLIENT_ID') ? env.AZURE_CLIENT_ID!.toLowerCase() : undefined;
  const label = credentialsLabel({ kind: 'managedIdentity', ...(clientId ? { clientId } : {}) }, env);
  return { name, result: 'ok', detail: `credential: ${label}`, fix: '' };
}

/** Where each tenant of SYNC_TENANTS_FILE sends its requests, and with which kind of credential (its values are never shown). */
export function describeTenants(tenants: SyncConfig['tenants']): DoctorCheck[] {
  if (tenants.length === 0) return [];
  const field = {
    accessToken: 'accessToken',
    clientSecret: 'clientSecret',
    clientCertificate: 'clientCertificatePath',
    managedIdentity: 'credential "managed-identity"',
    none: 'none',
  } as const;
  const lines = tenants.map((t) => `${t.tenantId}: ${field[t.credentials.kind]} -> ${t.graphBaseUrl}`);
  return [
    {
      name: 'config.tenants',
      result: 'ok',
      detail:
        `SYNC_TENANTS_FILE holds ${tenants.length} ` +
        `tenant${tenants.length === 1 ? '' : 's'} (${lines.join('; ')}); only the ` +
        `default tenant's credentials are checked below`,
      fix: '',
    },
  ];
}

export function checkConfiguration(env: NodeJS.ProcessEnv): { config?: SyncConfig; checks: DoctorCheck[] } {
  let config: SyncConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    // ConfigError names each variable and what is wrong, never its value.
    return {
      checks: [
        {
          name: 'config',
          result: 'fail',
          detail: (err as Error).message.replace(/\n\s*/g, '; '),
          fix: 'fix those environment variables (README.md, "Configuration")',
        },
      ],
    };
  }
  const redis = config.redisCluster
    ? `Redis Cluster (${config.redisCluster.length} seed ` +
      `node${config.redisCluster.length === 1 ? '' : 's'}, keys under the hash ` +
      `tag ${config.prefix})`
    : `prefix ${config.prefix}`;
  const credentials = credentialsLabel(config.credentials, env);
  const summary = `cloud ${config.cloud}, Graph API ${config.apiVersion}, ${redis}, credentials: ${credentials}`;
  const checks: DoctorCheck[] = [
    { name: 'config', result: 'ok', detail: summary, fix: '' },
    judgeGraphEndpoint(config),
    judgeWriteBudget(config.rateLimit),
    judgeCredentials(env),
    ...describeTenants(config.tenants),
  ];
  return { config, checks };
}

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });

/**
 * Acquires a token as the workers would, then reads what it says about its audience and permissions. `env`: the
 * variables a managed identity's endpoint is read from (process.env in the CLI).
 */
export async function checkCredentials(
  config: SyncConfig,
  now: () => number = Date.now,
  timeoutMs = 30_000,
  env: Record<string, string | undefined> = process.env,
): Promise<DoctorCheck[]> {
  const credentials = config.credentials;
  if (credentials.kind === 'none') return [];
  const label = credentialsLabel(credentials, env);
  let token: string;
  try {
    const source = createTokenSource(config);
    token = await withTimeout(source.getToken(), timeoutMs, 'acquiring a token');
  } catch (err) {
    const message = (err as Error).message;
    if (credentials.kind === 'managedIdentity') {
      const why = explainManagedIdentityFailure(message, managedIdentitySource(env, credentials.clientId), credentials.clientId);
      const detail = `no token could be acquired with ${label}: ${why.detail}`;
      return [{ name: 'credentials.token', result: 'fail', detail, fix: why.fix }];
    }
    return [
      {
        name: 'credentials.token',
        result: 'fail',
        detail: `no token could be acquired with ${label}: ${message.split('\n')[0]}`,
        fix:
          `check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or certificate, and ` +
          `that ${config.authorityHost} (GRAPH_CLOUD ${config.cloud}) is reachable`,
      },
    ];
  }
  const verdicts = judgeToken(token, GRAPH_CLOUDS[config.cloud].graphHost, now(), config.apiVersion);
  if (credentials.kind !== 'managedIdentity') {
    return [{ name: 'credentials.token', result: 'ok', detail: `a token was acquired with ${label}`, fix: '' }, ...verdicts];
  }
  const roleFix = managedIdentityRoleFix(writePermissionsFor(config.apiVersion));
  // A system-assigned identity is named by the token alone: its client id (appid) and tenant (tid).
  const claims = decodeJwtPayload(token);
  const identity = claims?.appid ? ` (client id ${claims.appid}${claims.tid ? `, tenant ${claims.tid}` : ''})` : '';
  return [
    { name: 'credentials.token', result: 'ok', detail: `a token was acquired with ${label}${identity}`, fix: '' },
    // A managed identity has no consent page: its fix is an app role assignment.
    ...verdicts.map((v) => (v.name === 'credentials.permission' && v.result === 'fail' ? { ...v, fix: roleFix } : v)),
    ...judgeIdentityTenant(claims?.tid, config.defaultTenantId),
  ];
}

/**
 * A managed identity gets tokens in its own tenant only: when AZURE_TENANT_ID names another, the rows of that tenant
 * would be written in the identity's tenant instead (or refused).
 */
export function judgeIdentityTenant(tokenTenant: string | undefined, defaultTenantId: string | undefined): DoctorCheck[] {
  if (tokenTenant === undefined || defaultTenantId === undefined) return [];
  if (tokenTenant.toLowerCase() === defaultTenantId) {
    const detail = `the managed identity belongs to tenant ${defaultTenantId} (AZURE_TENANT_ID)`;
    return [{ name: 'credentials.tenant', result: 'ok', detail, fix: '' }];
  }
  return [
    {
      name: 'credentials.tenant',
      result: 'fail',
      detail:
        `the managed identity belongs to tenant ${JSON.stringify(tokenTenant.slice(0, 64))}, not to AZURE_TENANT_ID ${defaultTenantId}: ` +
        'its tokens write only to its own tenant',
      fix: "set AZURE_TENANT_ID to the identity's tenant (or unset it), or use an app registration of that tenant instead",
    },
  ];
}

/**
 * Connects once (failing within seconds, not hanging), then judges the server's settings and its clock against ours;
 * on a cluster, every master's settings (INFO answers for one node) and the cluster's state.
 */
export async function checkRedis(target: RedisTarget): Promise<DoctorCheck[]> {
  const where = describeRedisTarget(target);
  const variable = typeof target === 'string' ? 'REDIS_URL' : 'SYNC_REDIS_CLUSTER';
  let redis: RedisClient;
  try {
    redis = await connectRedis(target, 'command');
  } catch (err) {
    const fix =
      typeof target === 'string'
        ? 'start Redis, or set REDIS_URL to where it runs (redis://[:password@]host:port)'
        : 'start the cluster, or set SYNC_REDIS_CLUSTER to nodes of it ' +
          '(host:port,host:port,...); a Redis not in cluster mode needs REDIS_URL instead';
    return [{ name: 'redis.connection', result: 'fail', detail: (err as Error).message, fix }];
  }
  try {
    const { localMs, redisMs } = await readRedisClock(redis);
    if (!isCluster(redis))
      return [
        { name: 'redis.connection', result: 'ok', detail: `${where} answers`, fix: '' },
        ...judgeRedis(await readRedisFacts(redis)),
        judgeClockSkew(localMs, redisMs),
      ];
    const masters = dataNodes(redis);
    const perNode = await Promise.all(
      masters.map(async (node) => ({ node: `${node.options.host ?? '?'}:${node.options.port ?? '?'}`, facts: await readRedisFacts(node) })),
    );
    const cluster = await readClusterFacts(redis);
    return [
      { name: 'redis.connection', result: 'ok', detail: `${where} answers (${masters.length} masters reached)`, fix: '' },
      ...judgeRedisCluster(perNode, cluster),
      judgeClockSkew(localMs, redisMs),
    ];
  } catch (err) {
    return [
      {
        name: 'redis.connection',
        result: 'fail',
        detail: `${where} did not answer INFO and TIME: ${(err as Error).message}`,
        fix:
          `give this user INFO and ` +
          `TIME${typeof target === 'string' ? '' : ' and CLUSTER INFO'} (ACL), or check ` +
          `that ${variable} points to Redis`,
      },
    ];
  } finally {
    redis.disconnect();
  }
}

export interface ProbeTarget {
  configurationId: string;
  configurationType: ConfigurationType;
}

/** What a refused probe means, and what to do about it. */
function probeFailure(err: unknown, target: ProbeTarget, config: SyncConfig): DoctorCheck {
  const what = `${target.configurationType} ${target.configurationId}`;
  const status = err instanceof ReadFailedError ? err.status : undefined;
  const detail = `reading the user statuses of ${what} from ${config.graphBaseUrl} failed: ${(err as Error).message.split('\n')[0]}`;
  const fix =
    status === 404
      ? `Graph has no ${what} under GRAPH_API_VERSION ${config.apiVersion}: check the ` +
        `configuration id (and its type, --probe-type), and GRAPH_CLOUD`
      : status === 403
        ? `grant the app ${writePermissionsFor(config.apiVersion).join(' or ')} ` +
          `(application permission, with admin consent; under ` +
          `GRAPH_API_VERSION ${config.apiVersion})`
        : status === 401
          ? `the token was refused: check the credentials, and that the token is for ${GRAPH_CLOUDS[config.cloud].graphHost} (GRAPH_CLOUD)`
          : 'check that GRAPH_BASE_URL / GRAPH_CLOUD point at Graph and that it is reachable from here';
  return { name: 'graph.probe', result: 'fail', detail, fix };
}

/**
 * One read of a configuration's user statuses ($top=1), through the fleet's read budget: it proves the Graph host,
 * the token and the permission end to end, and spends none of the write budget.
 */
export async function checkProbe(config: SyncConfig, target: ProbeTarget, timeoutMs = 60_000): Promise<DoctorCheck> {
  let redis: RedisClient;
  try {
    redis = await connectRedis(redisTargetOf(config), 'command');
  } catch (err) {
    return {
      name: 'graph.probe',
      result: 'fail',
      detail: `not probed: the read budget lives in Redis, and ${(err as Error).message}`,
      fix: 'start Redis, or set REDIS_URL',
    };
  }
  try {
    const tenant = defaultTenantOf(config);
    const pace = pacedReads(tenant.readBudget(redis), { maxRetryAfterMs: config.maxRetryAfterMs });
    const client = tenant.writer(tenant.tokens());
    const pages = client.listUserStatuses(target.configurationType, target.configurationId, { top: 1, select: ['id'], pace });
    const first = await withTimeout(pages.next(), timeoutMs, 'the probe');
    await pages.return(undefined);
    const listed = first.done ? 0 : first.value.items.length;
    return {
      name: 'graph.probe',
      result: 'ok',
      detail:
        `read ${target.configurationType} ${target.configurationId} ` +
        `from ${config.graphBaseUrl} (${config.apiVersion}` +
        `): ${listed === 0 ? 'it lists no user status yet' : 'it lists user statuses'}; ` +
        `host, token and permission work end to end`,
      fix: '',
    };
  } catch (err) {
    return probeFailure(err, target, config);
  } finally {
    redis.disconnect();
  }
}

/** The `fleet.pause` line: a Retry-After pause in force is not a fault, but nothing will be sent (or read) until it ends. */
export function judgeFleetPauses(pauses: readonly FleetPause[]): DoctorCheck {
  if (pauses.length === 0)
    return { name: 'fleet.pause', result: 'ok', detail: 'no Retry-After pause in force: the fleet may send and read', fix: '' };
  const held = pauses.map((p) => `tenant ${p.tenant} ${p.budget}s until ${p.until} (${Math.ceil(p.remainingMs / 1000)} s left)`).join('; ');
  return {
    name: 'fleet.pause',
    result: 'warn',
    detail: `Graph's Retry-After pauses the fleet: ${held}`,
    fix: 'nothing to do: rows wait without failing for age and resume when it ends (SYNC_MAX_RETRY_AFTER caps any one Retry-After)',
  };
}

/** Reads the pauses in force from Redis; a Redis that cannot be reached is reported by the redis checks already. */
export async function checkFleetPauses(config: SyncConfig): Promise<DoctorCheck[]> {
  let redis: RedisClient;
  try {
    redis = await connectRedis(redisTargetOf(config), 'command');
  } catch {
    return [];
  }
  try {
    return [judgeFleetPauses(await readFleetPauses(redis, config.prefix, tenantsOf(config)))];
  } catch (err) {
    return [
      {
        name: 'fleet.pause',
        result: 'warn',
        detail: `could not read the budgets' pauses: ${(err as Error).message}`,
        fix: 'check that this Redis user may run HGET and TIME',
      },
    ];
  } finally {
    redis.disconnect();
  }
}

export async function runDoctor(env: NodeJS.ProcessEnv, probe?: ProbeTarget, probeWrite?: ProbeWriteTarget): Promise<DoctorCheck[]> {
  const { config, checks } = checkConfiguration(env);
  // An invalid configuration still gets its Redis checked, at REDIS_URL as given.
  const target = config ? redisTargetOf(config) : (env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const [redisChecks, credentialChecks, pauseChecks] = await Promise.all([
    checkRedis(target),
    config ? checkCredentials(config, Date.now, 30_000, env) : Promise.resolve([]),
    config ? checkFleetPauses(config) : Promise.resolve([]),
  ]);
  const probeChecks = probe && config && config.credentials.kind !== 'none' ? [await checkProbe(config, probe)] : [];
  const probeWriteChecks = probeWrite && config && config.credentials.kind !== 'none' ? [await checkProbeWrite(config, probeWrite)] : [];
  return [...checks, ...redisChecks, ...pauseChecks, ...credentialChecks, ...probeChecks, ...probeWriteChecks];
}

export function doctorFailed(checks: readonly DoctorCheck[]): boolean {
  return checks.some((c) => c.result === 'fail');
}

export function formatCheck(c: DoctorCheck): string {
  const head = `${c.result.padEnd(4)}  ${c.name.padEnd(24)} ${c.detail}`;
  return c.fix ? `${head}\n      fix: ${c.fix}` : head;
}
