import { Command } from 'commander';
import { parseRateLimit } from '../config.js';
import { readFileSync } from 'node:fs';
import { defaultTokens, startSimulator, type SimulatorOptions, type TokenGrant } from '../simulator/index.js';
import { OperatorError, EXIT } from '../errors.js';

const probability = (name: string) => (value: string) => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new OperatorError(`${name} must be between 0 and 1, got "${value}"`, EXIT.usage);
  return n;
};
const bucket = (name: string) => (value: string) => {
  try {
    return parseRateLimit(value);
  } catch (err) {
    throw new OperatorError(`${name}: ${(err as Error).message}`, EXIT.usage);
  }
};
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--service-sets devicesCount=3` (repeatable): the value is read as JSON when it is JSON (3, true, null), else as a string. */
export function parseServiceSet(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf('=');
  const name = eq > 0 ? value.slice(0, eq).trim() : '';
  if (!name || name === 'id' || name === '@odata.type')
    throw new OperatorError(`--service-sets needs <property>=<value> for a property other than id, got "${value}"`, EXIT.usage);
  const text = value.slice(eq + 1);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the text itself (e.g. a status name).
  }
  return { ...previous, [name]: parsed };
}

/**
 * `--tokens-file`: JSON `{ "<bearer token>": { "tenantId", "appId", "permissions": [...] } }`, accepted besides sim-token,
 * so one simulator serves several tenants (each with its own buckets and objects) and apps.
 */
export function readTokensFile(path: string): Record<string, TokenGrant> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new OperatorError(`--tokens-file ${path}: ${(err as Error).message}`, EXIT.usage);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new OperatorError(`--tokens-file ${path}: must be a JSON object of token -> { tenantId, appId, permissions }`, EXIT.usage);
  for (const [token, grant] of Object.entries(parsed as Record<string, Partial<TokenGrant>>)) {
    if (
      typeof grant?.tenantId !== 'string' ||
      typeof grant.appId !== 'string' ||
      !Array.isArray(grant.permissions) ||
      !grant.permissions.every((p) => typeof p === 'string')
    ) {
      // The token itself is a secret in a real deployment: it is named by position, not printed.
      throw new OperatorError(
        `--tokens-file ${path}: token #${Object.keys(parsed).indexOf(token) + 1} needs ` +
          `tenantId, appId (strings) and permissions (array of strings)`,
        EXIT.usage,
      );
    }
  }
  return parsed as Record<string, TokenGrant>;
}

export const simulateCommand = new Command('simulate')
  .description("Run the Graph simulator: both userStatus PATCH routes with Graph's validation, errors, throttling and faults")
  .option('--port <n>', 'port (0 picks a free one)', (v) => Number(v), 0)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--app-limit <count/window>', "per tenant and app write budget (Intune's is 100/20s)", bucket('--app-limit'))
  .option('--tenant-limit <count/window>', "per tenant write budget (Intune's is 200/20s)", bucket('--tenant-limit'))
  .option(
    '--any-app-limit <count/window>',
    "per tenant and app budget of any request, reads and writes (Intune's is 1000/20s)",
    bucket('--any-app-limit'),
  )
  .option('--any-tenant-limit <count/window>', "per tenant budget of any request (Intune's is 2000/20s)", bucket('--any-tenant-limit'))
  .option('--page-size <n>', 'page size of a GET list without $top (default 100)', (v) => Number(v))
  .option('--max-page-size <n>', 'largest page a GET list returns, whatever $top asks (default 1000)', (v) => Number(v))
  .option('--patch-no-content', 'answer a successful PATCH with 204 No Content instead of 200 and the object')
  .option(
    '--refuse-patches',
    'refuse every PATCH with 400 "No OData route exists ..." as Intune does for a ' +
      'route it lacks (also POST /_sim/configure {"refusePatches": true|false})',
  )
  .option('--no-budget', 'never answer 429')
  .option('--rate-503 <p>', 'share of PATCHes answered 503 with Retry-After', probability('--rate-503'))
  .option('--rate-504 <p>', 'share of PATCHes answered 504', probability('--rate-504'))
  .option('--rate-drop <p>', 'share of PATCHes whose connection is dropped', probability('--rate-drop'))
  .option('--rate-slow <p>', 'share of PATCHes answered slowly', probability('--rate-slow'))
  .option(
    '--faults-on-writes-only',
    'kinder than Graph: reads (GET) get none of the --rate-* faults (by default they get the same as PATCHes)',
  )
  .option('--retry-after-missing <p>', 'share of 429s without a Retry-After header (default 0.25)', probability('--retry-after-missing'))
  .option('--throttle-html <p>', 'share of 429s whose body is an HTML page, not Graph JSON (default 0.125)', probability('--throttle-html'))
  .option('--fractional-retry-after', "kinder than Graph: Retry-After in tenths of a second (Graph's is whole seconds)")
  .option('--create-on-patch', 'kinder than Graph: a PATCH of a user status that does not exist creates it (Graph answers 404)')
  .option('--select-adds-id', 'kinder than Graph: $select answers the id even when it does not name it')
  .option('--echo-dates', 'kinder than Graph: dates come back as written (Graph answers UTC with seven fraction digits)')
  .option(
    '--seed-from <csv>',
    'create the user statuses this CSV names (configurationId, userStatusId, ' +
      'configurationType...) before listening, as Graph holds them before a first sync ' +
      '(repeatable)',
    collect,
  )
  .option('--missing-config <id>', 'a configuration id that answers 404 (repeatable)', collect)
  .option(
    '--service-sets <property=value>',
    'after each applied PATCH the service sets this property itself, as Intune ' +
      'recomputes devicesCount (repeatable; value read as JSON when it is)',
    parseServiceSet,
  )
  .option('--seed <n>', 'seed for the fault dice', (v) => Number(v))
  .option(
    '--jwt-key <pem file>',
    'a public key (PEM): RS256 JWTs it signed are accepted, checked for signature, exp, nbf and audience (repeatable)',
    collect,
  )
  .option(
    '--graph-cloud <host>',
    'the Graph host whose tokens a JWT must be for (its audience), e.g. https://graph.microsoft.us (default https://graph.microsoft.com)',
  )
  .option(
    '--tokens-file <path>',
    'JSON {"<token>": {"tenantId","appId","permissions":[...]}}: more accepted ' +
      'tokens, e.g. one per tenant (each tenant has its own buckets and objects)',
  )
  .addHelpText(
    'after',
    '\nThe accepted bearer token is "sim-token" (and, with --jwt-key, JWTs signed by ' +
      'that key for the --graph-cloud audience). State and counters: GET /_sim/state, ' +
      '/_sim/counters; POST /_sim/configure, /_sim/inject, /_sim/reset,\n/_sim/drift ' +
      '{"changes":[{"collection","configId","userStatusId","values":{...}|null}]} ' +
      "(changes stored values behind the client's back),\n/_sim/seed <CSV text> or " +
      '{"rows":[{"configurationId","userStatusId","configurationType"}]} (creates the ' +
      'user statuses an export names).\nLike Graph, a PATCH never creates a user ' +
      'status: seed first (--seed-from, /_sim/seed), or --create-on-patch.',
  )
  .action(
    async (flags: {
      port: number;
      host: string;
      appLimit?: { limit: number; windowMs: number };
      tenantLimit?: { limit: number; windowMs: number };
      anyAppLimit?: { limit: number; windowMs: number };
      anyTenantLimit?: { limit: number; windowMs: number };
      pageSize?: number;
      maxPageSize?: number;
      patchNoContent?: boolean;
      refusePatches?: boolean;
      budget: boolean;
      rate503?: number;
      rate504?: number;
      rateDrop?: number;
      rateSlow?: number;
      missingConfig?: string[];
      seed?: number;
      tokensFile?: string;
      serviceSets?: Record<string, unknown>;
      jwtKey?: string[];
      graphCloud?: string;
      faultsOnWritesOnly?: boolean;
      retryAfterMissing?: number;
      throttleHtml?: number;
      fractionalRetryAfter?: boolean;
      createOnPatch?: boolean;
      selectAddsId?: boolean;
      echoDates?: boolean;
      seedFrom?: string[];
    }) => {
      const extraTokens = flags.tokensFile ? readTokensFile(flags.tokensFile) : {};
      const jwtKeys = (flags.jwtKey ?? []).map((path) => {
        try {
          return readFileSync(path, 'utf8');
        } catch (err) {
          throw new OperatorError(`--jwt-key ${path}: ${(err as Error).message}`, EXIT.usage);
        }
      });
      const options: SimulatorOptions = {
        host: flags.host,
        jwtKeys,
        graphCloud: flags.graphCloud,
        port: flags.port,
        seed: flags.seed,
        tokens: { ...defaultTokens(), ...extraTokens },
        missingConfigurations: flags.missingConfig,
        budget: flags.budget
          ? { ...(flags.appLimit ? { perApp: flags.appLimit } : {}), ...(flags.tenantLimit ? { perTenant: flags.tenantLimit } : {}) }
          : false,
        ...(flags.budget && (flags.anyAppLimit || flags.anyTenantLimit)
          ? {
              anyBudget: {
                ...(flags.anyAppLimit ? { perApp: flags.anyAppLimit } : {}),
                ...(flags.anyTenantLimit ? { perTenant: flags.anyTenantLimit } : {}),
              },
            }
          : {}),
        pageSize: flags.pageSize,
        maxPageSize: flags.maxPageSize,
        patchNoContent: flags.patchNoContent === true,
        refusePatches: flags.refusePatches === true,
        faults: { rate503: flags.rate503, rate504: flags.rate504, rateDrop: flags.rateDrop, rateSlow: flags.rateSlow },
        ...(flags.serviceSets ? { serviceSets: flags.serviceSets } : {}),
        faultsOnWritesOnly: flags.faultsOnWritesOnly === true,
        createOnPatch: flags.createOnPatch === true,
        selectAddsId: flags.selectAddsId === true,
        echoDates: flags.echoDates === true,
        throttleShape: {
          missingRetryAfterShare: flags.retryAfterMissing,
          htmlBodyShare: flags.throttleHtml,
          fractionalRetryAfter: flags.fractionalRetryAfter === true,
        },
      };
      // Read before listening, so a bad file fails the command rather than leaving a simulator without its objects.
      const seedFiles = (flags.seedFrom ?? []).map((path) => {
        try {
          return { path, text: readFileSync(path, 'utf8') };
        } catch (err) {
          throw new OperatorError(`--seed-from ${path}: ${(err as Error).message}`, EXIT.usage);
        }
      });
      let sim: Awaited<ReturnType<typeof startSimulator>>;
      try {
        sim = await startSimulator(options);
      } catch (err) {
        // Bad keys or an unknown --graph-cloud are the operator's to fix, not a crash.
        if ((err as Error).message.startsWith('Invalid simulator option')) throw new OperatorError((err as Error).message, EXIT.usage);
        throw err;
      }
      let seeded = 0;
      for (const file of seedFiles) {
        try {
          seeded += sim.seed(file.text).created;
        } catch (err) {
          await sim.close();
          throw new OperatorError(`--seed-from ${file.path}: ${(err as Error).message}`, EXIT.usage);
        }
      }
      const ready = {
        url: sim.url,
        port: sim.port,
        token: 'sim-token',
        ...(flags.tokensFile ? { tokens: Object.keys(extraTokens).length + 1 } : {}),
        ...(seedFiles.length > 0 ? { seeded } : {}),
      };
      process.stdout.write(`${JSON.stringify(ready)}\n`);
      const stop = () => void sim.close().then(() => process.exit(EXIT.ok));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise<void>(() => undefined);
    },
  );
