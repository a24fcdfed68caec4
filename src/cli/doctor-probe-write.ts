import { GRAPH_CLOUDS } from '../clouds.js';
import type { SyncConfig } from '../config.js';
import { PROPERTY_COLUMNS } from '../domain/columns.js';
import { idProblem } from '../domain/validate.js';
import { GraphRequestError } from '../graph/errors.js';
import type { ConfigurationType, DoctorCheck, RedisClient, UserStatusProperties } from '../interfaces.js';
import { BudgetBlockedError } from '../pacing/budget.js';
import { defaultTenantOf } from '../tenants/tenant.js';
import { pacedReads, ReadFailedError } from '../pacing/reads.js';
import { connectRedis, redisTargetOf } from '../queue/connection.js';

/**
 * `doctor --probe-write <configurationId>/<userStatusId>`: reads one user status, then PATCHes it back with exactly the
 * values it holds. It proves that Graph accepts our write on this route (Intune may refuse PATCH on it with `400 No OData
 * route exists ...`) before a run spends its budget finding out row by row, and changes nothing.
 */

export interface ProbeWriteTarget {
  configurationType: ConfigurationType;
  configurationId: string;
  userStatusId: string;
}

const CHECK = 'graph.probe-write';

/** `<configurationId>/<userStatusId>`, each a valid id; a message saying what is wrong otherwise. */
export function parseProbeWriteTarget(text: string): { configurationId: string; userStatusId: string } | { problem: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { problem: 'expected <configurationId>/<userStatusId>' };
  const configurationId = text.slice(0, slash);
  const userStatusId = text.slice(slash + 1);
  if (configurationId === '' || userStatusId === '') return { problem: 'expected <configurationId>/<userStatusId>, both non-empty' };
  const problem = idProblem(configurationId) ?? idProblem(userStatusId);
  if (problem) return { problem: `expected <configurationId>/<userStatusId>: ${problem}` };
  return { configurationId, userStatusId };
}

/**
 * The writable properties the status holds, exactly as Graph gave them. A property Graph gives as null (or not at all) is
 * left out: PATCH leaves an absent property as it is, so nothing is changed either way.
 */
export function writableValuesOf(status: Record<string, unknown>): UserStatusProperties {
  const values: Record<string, unknown> = {};
  for (const name of PROPERTY_COLUMNS) {
    if (status[name] !== undefined && status[name] !== null) values[name] = status[name];
  }
  return values;
}

/** What happened, for judgeProbeWrite. */
export type ProbeWriteOutcome =
  | { step: 'read'; missing: true }
  | { step: 'read' | 'write'; missing?: false; status?: number; code?: string; message: string }
  | { step: 'done'; written: string[] };

const NO_ROUTE = /No OData route exists|No method match route template/i;

/** The verdict on a probe-write, naming the refusal and its fix. Pure. */
export function judgeProbeWrite(
  outcome: ProbeWriteOutcome,
  target: ProbeWriteTarget,
  config: Pick<SyncConfig, 'apiVersion' | 'cloud' | 'graphBaseUrl'>,
): DoctorCheck {
  const what = `user status ${target.userStatusId} of ${target.configurationType} ${target.configurationId}`;
  if (outcome.step === 'done') {
    const wrote = outcome.written.length > 0 ? outcome.written.join(', ') : 'no property (Graph holds none of them)';
    return {
      name: CHECK,
      result: 'ok',
      detail: `read ${what} and wrote it back unchanged (${wrote}): Graph accepts PATCH on this route (${config.apiVersion})`,
      fix: '',
    };
  }
  if (outcome.missing) {
    return {
      name: CHECK,
      result: 'fail',
      detail: `Graph holds no ${what} (404 on GET), so nothing was written`,
      fix:
        `pick a user status Graph lists (PATCH updates, it cannot create one): check ` +
        `both ids, --probe-type, GRAPH_API_VERSION ${config.apiVersion} and GRAPH_CLOUD`,
    };
  }
  const verb = outcome.step === 'read' ? 'reading' : 'writing back';
  const detail = `${verb} ${what} failed: ${outcome.message.split('\n')[0]}`;
  const status = outcome.status;
  let refusal: string;
  let fix: string;
  if (status === 400 && NO_ROUTE.test(outcome.message)) {
    refusal = 'no route: Graph refuses PATCH on this route';
    fix =
      `Intune does not accept PATCH on these user statuses under ` +
      `GRAPH_API_VERSION ${config.apiVersion} for this configuration type: check ` +
      `--probe-type and GRAPH_API_VERSION (beta); until the probe passes, a run would ` +
      `be blocked by the refusal breaker`;
  } else if (status === 403) {
    refusal = '403 permission';
    fix =
      'grant the app DeviceManagementConfiguration.ReadWrite.All or ' +
      'DeviceManagementApps.ReadWrite.All (application permission, with admin consent)';
  } else if (status === 404) {
    refusal = '404 not found';
    fix =
      `Graph has no such user status or configuration under ` +
      `GRAPH_API_VERSION ${config.apiVersion}: check both ids and --probe-type (PATCH ` +
      `cannot create a user status)`;
  } else if (status === 401) {
    refusal = '401 token refused';
    fix = `check the credentials, and that the token is for ${GRAPH_CLOUDS[config.cloud].graphHost} (GRAPH_CLOUD)`;
  } else if (status === 429) {
    refusal = '429 throttled';
    fix = 'Graph is throttling this app: try again once the running import has slowed, or later';
  } else if (status === 400) {
    refusal = '400 refused';
    fix = "Graph refused the values it holds itself: report Graph's message above to Microsoft support; a run would be refused alike";
  } else {
    refusal = status === undefined ? 'no answer' : `${status}`;
    fix = 'check that GRAPH_BASE_URL / GRAPH_CLOUD point at Graph and that it is reachable from here, then probe again';
  }
  return { name: CHECK, result: 'fail', detail: `${detail} (${refusal})`, fix };
}

const withTimeout = <T>(promise: Promise<T>, ms: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the probe took longer than ${ms / 1000} s`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });

function failureOf(step: 'read' | 'write', err: unknown): ProbeWriteOutcome {
  if (err instanceof GraphRequestError) return { step, status: err.status, code: err.code, message: err.message };
  if (err instanceof ReadFailedError) return { step, status: err.status, code: err.code, message: err.message };
  return { step, message: (err as Error).message };
}

/**
 * One GET (through the read budget) and one PATCH of the same values (paced by the write budget). The PATCH is sent even
 * while a breaker blocks the tenant: proving the fix before `resume` is what it is for.
 */
export async function checkProbeWrite(config: SyncConfig, target: ProbeWriteTarget, timeoutMs = 60_000): Promise<DoctorCheck> {
  let redis: RedisClient;
  try {
    redis = await connectRedis(redisTargetOf(config), 'command');
  } catch (err) {
    return {
      name: CHECK,
      result: 'fail',
      detail: `not probed: the budgets live in Redis, and ${(err as Error).message}`,
      fix: 'start Redis, or set REDIS_URL',
    };
  }
  const outcome = async (): Promise<ProbeWriteOutcome> => {
    const tenant = defaultTenantOf(config);
    const client = tenant.writer(tenant.tokens());
    let status: Record<string, unknown> | undefined;
    try {
      const pace = pacedReads(tenant.readBudget(redis));
      status = await pace(() => client.getUserStatus(target.configurationType, target.configurationId, target.userStatusId));
    } catch (err) {
      return failureOf('read', err);
    }
    if (!status) return { step: 'read', missing: true };
    const properties = writableValuesOf(status);
    try {
      await tenant.writeBudget(redis).acquire(Date.now() + timeoutMs);
    } catch (err) {
      if (!(err instanceof BudgetBlockedError)) throw err;
    }
    try {
      await client.patch({
        configurationType: target.configurationType,
        configurationId: target.configurationId,
        userStatusId: target.userStatusId,
        properties,
      });
    } catch (err) {
      return failureOf('write', err);
    }
    return { step: 'done', written: Object.keys(properties) };
  };
  try {
    return judgeProbeWrite(await withTimeout(outcome(), timeoutMs), target, config);
  } catch (err) {
    return judgeProbeWrite({ step: 'write', message: (err as Error).message }, target, config);
  } finally {
    redis.disconnect();
  }
}
