import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfiguration, judgeCredentials, judgeIdentityTenant } from '../../src/cli/doctor-checks.js';
import { ConfigError, loadConfig, parseTenantsFile } from '../../src/config.js';
import {
  describeManagedIdentity,
  explainManagedIdentityFailure,
  managedIdentityRoleFix,
  managedIdentitySource,
} from '../../src/graph/managed-identity.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const IDENTITY = '0b9f7c3e-1d2a-4c5b-8e6f-7a8b9c0d1e2f';
const SECRET = 'sekrit-value-123';
const APP_SERVICE = { IDENTITY_ENDPOINT: 'http://127.0.0.1:41234/msi/token', IDENTITY_HEADER: 'h' };
const MI = { AZURE_CREDENTIAL: 'managed-identity' };
/** The tenant and app of an app registration. */
const APP = { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: IDENTITY };
const kindOf = (env: NodeJS.ProcessEnv) => loadConfig(env).credentials.kind;

/** Asserts a ConfigError whose message matches every pattern and never prints the secret. */
const refuses = (fn: () => unknown, patterns: RegExp[]) =>
  assert.throws(fn, (err: Error) => {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${err.name}: ${err.message}`);
    for (const p of patterns) assert.match(err.message, p);
    assert.ok(!err.message.includes(SECRET), `no secret in: ${err.message}`);
    return true;
  });

describe('AZURE_CREDENTIAL: the credential chosen explicitly', () => {
  it('managed-identity: the system-assigned identity, or with AZURE_CLIENT_ID a user-assigned one (its client id in lower case)', () => {
    assert.deepEqual(loadConfig({ AZURE_CREDENTIAL: 'managed-identity' }).credentials, { kind: 'managedIdentity' });
    assert.deepEqual(loadConfig({ AZURE_CREDENTIAL: 'managed-identity', AZURE_CLIENT_ID: IDENTITY.toUpperCase() }).credentials, {
      kind: 'managedIdentity',
      clientId: IDENTITY,
    });
    // AZURE_TENANT_ID still names the default tenant of rows; empty variables (a compose or .env line) are unset.
    const config = loadConfig({ ...MI, AZURE_TENANT_ID: TENANT, AZURE_CLIENT_SECRET: '', GRAPH_ACCESS_TOKEN: '' });
    assert.equal(config.credentials.kind, 'managedIdentity');
    assert.equal(config.defaultTenantId, TENANT);
  });

  it('refuses a managed identity given together with a secret, a certificate or a token: one of them would be ignored', () => {
    refuses(() => loadConfig({ ...MI, AZURE_CLIENT_SECRET: SECRET }), [/managed-identity/, /AZURE_CLIENT_SECRET/, /unset it/]);
    refuses(() => loadConfig({ ...MI, AZURE_CLIENT_CERTIFICATE_PATH: '/c.pem' }), [/AZURE_CLIENT_CERTIFICATE_PATH/]);
    refuses(
      () => loadConfig({ ...MI, GRAPH_ACCESS_TOKEN: SECRET, AZURE_CLIENT_SECRET: SECRET }),
      [/GRAPH_ACCESS_TOKEN and AZURE_CLIENT_SECRET/],
    );
  });

  it('refuses a user-assigned client id that is not a GUID (an object id is one too: the fix names the client id)', () => {
    refuses(() => loadConfig({ ...MI, AZURE_CLIENT_ID: 'my-identity' }), [/AZURE_CLIENT_ID is not a GUID/, /user-assigned/]);
    refuses(() => loadConfig({ ...MI, AZURE_CLIENT_ID: `${IDENTITY}\n` }), [/not a GUID/]);
  });

  it('secret and certificate need their variables and refuse the other kind and GRAPH_ACCESS_TOKEN; no fallback to another kind', () => {
    assert.equal(kindOf({ AZURE_CREDENTIAL: 'secret', ...APP, AZURE_CLIENT_SECRET: SECRET }), 'clientSecret');
    const cert = { AZURE_CREDENTIAL: 'certificate', ...APP, AZURE_CLIENT_CERTIFICATE_PATH: '/c.pem' };
    assert.equal(kindOf(cert), 'clientCertificate');
    refuses(() => loadConfig({ ...cert, AZURE_CLIENT_SECRET: SECRET }), [/AZURE_CREDENTIAL=certificate/, /AZURE_CLIENT_SECRET/]);
    refuses(() => loadConfig({ AZURE_CREDENTIAL: 'secret', AZURE_CLIENT_ID: IDENTITY }), [/needs AZURE_TENANT_ID and AZURE_CLIENT_SECRET/]);
    refuses(() => loadConfig({ AZURE_CREDENTIAL: 'secret', GRAPH_ACCESS_TOKEN: SECRET, ...APP }), [/GRAPH_ACCESS_TOKEN/]);
  });

  it('unset or empty, the kind is inferred exactly as before', () => {
    for (const choice of [{}, { AZURE_CREDENTIAL: '' }]) {
      assert.equal(kindOf({ ...choice, GRAPH_ACCESS_TOKEN: 't', ...APP, AZURE_CLIENT_SECRET: 'c' }), 'accessToken');
      assert.equal(kindOf({ ...choice, ...APP, AZURE_CLIENT_SECRET: 'c' }), 'clientSecret');
      assert.equal(kindOf({ ...choice, AZURE_CLIENT_ID: IDENTITY, ...APP_SERVICE }), 'none', 'never a managed identity unless chosen');
    }
  });

  it('refuses an unknown kind, naming the variable and the choices but not echoing the value', () => {
    refuses(() => loadConfig({ AZURE_CREDENTIAL: SECRET }), [/AZURE_CREDENTIAL must be one of secret, certificate, managed-identity/]);
    refuses(() => loadConfig({ AZURE_CREDENTIAL: 'Managed-Identity' }), [/AZURE_CREDENTIAL/]);
  });
});

describe('tenants file: a tenant\'s "credential"', () => {
  const DEFAULTS = { file: 'tenants.json', rateLimit: { limit: 100, windowMs: 20_000 }, readRateLimit: { limit: 800, windowMs: 20_000 } };
  const parse = (entry: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    parseTenantsFile(JSON.stringify({ tenants: { [TENANT]: entry } }), env, DEFAULTS)[0].credentials;

  it('"managed-identity": system-assigned, or user-assigned with clientId', () => {
    assert.deepEqual(parse({ credential: 'managed-identity' }), { kind: 'managedIdentity' });
    const userAssigned = parse({ credential: 'managed-identity', clientId: '${MI_ID}' }, { MI_ID: IDENTITY });
    assert.deepEqual(userAssigned, { kind: 'managedIdentity', clientId: IDENTITY });
  });

  it('refuses the fields another kind uses, a non-GUID clientId, a missing secret and an unknown kind, never printing a secret', () => {
    const mi = { credential: 'managed-identity' };
    refuses(() => parse({ ...mi, clientSecret: SECRET }), [/tenant "72f988bf/, /field "clientSecret"/, /managed-identity/]);
    refuses(() => parse({ credential: 'managed-identity', accessToken: SECRET }), [/field "accessToken"/]);
    refuses(() => parse({ credential: 'managed-identity', clientId: 'object:1' }), [/field "clientId"/, /not a GUID/]);
    refuses(() => parse({ credential: 'secret', clientId: IDENTITY }), [/field "clientSecret"/, /required with credential "secret"/]);
    refuses(() => parse({ credential: 'certificate', clientId: IDENTITY, clientSecret: SECRET }), [/field "clientSecret"/]);
    refuses(() => parse({ credential: 'kerberos', clientId: IDENTITY }), [/field "credential"/, /secret, certificate, managed-identity/]);
    refuses(() => parse({ credential: 7 }), [/field "credential"/]);
    assert.equal(parse({ credential: 'secret', clientId: IDENTITY, clientSecret: SECRET }).kind, 'clientSecret');
  });
});

describe('managed identity: where the token comes from', () => {
  it("follows the library's order of sources, from the variables each platform sets", () => {
    assert.equal(managedIdentitySource(APP_SERVICE).name, 'App Service');
    assert.equal(managedIdentitySource(APP_SERVICE).endpoint, APP_SERVICE.IDENTITY_ENDPOINT);
    assert.equal(managedIdentitySource({ ...APP_SERVICE, IDENTITY_SERVER_THUMBPRINT: 'x' }).name, 'Service Fabric');
    const arc = { IDENTITY_ENDPOINT: 'http://localhost:40342/metadata/identity/oauth2/token', IMDS_ENDPOINT: 'http://localhost:40342' };
    assert.equal(managedIdentitySource(arc).name, 'Azure Arc');
    assert.equal(managedIdentitySource({ MSI_ENDPOINT: 'http://localhost:50342/oauth2/token' }).name, 'Cloud Shell');
    assert.equal(managedIdentitySource({ MSI_ENDPOINT: 'http://x', MSI_SECRET: 's' }).name, 'Azure Machine Learning');
    const workload = { AZURE_TENANT_ID: TENANT, AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token' };
    assert.equal(managedIdentitySource(workload, IDENTITY).name, 'AKS workload identity');
    assert.equal(managedIdentitySource(workload).name, 'IMDS', 'no client id: no token exchange');
    const imds = managedIdentitySource({ IDENTITY_ENDPOINT: 'http://half-set' });
    assert.deepEqual([imds.name, imds.variables], ['IMDS', '']);
    assert.match(imds.endpoint, /169\.254\.169\.254/);
  });

  it('names the identity, system- or user-assigned, and its source', () => {
    const source = managedIdentitySource(APP_SERVICE);
    assert.equal(
      describeManagedIdentity(source),
      'the system-assigned managed identity (AZURE_CREDENTIAL=managed-identity), ' +
        `through App Service at ${APP_SERVICE.IDENTITY_ENDPOINT} (IDENTITY_ENDPOINT and IDENTITY_HEADER)`,
    );
    assert.match(describeManagedIdentity(source, IDENTITY), new RegExp(`^the user-assigned managed identity ${IDENTITY} `));
  });
});

describe('managed identity: why no token came, and what to do', () => {
  const appService = managedIdentitySource(APP_SERVICE);
  const imds = managedIdentitySource({});
  const unreachable =
    'ManagedIdentityCredential: Network unreachable. Message: network_error: See https://aka.ms/msal.js.errors#network_error for details';
  const appServiceRefusal =
    'ManagedIdentityCredential: Authentication failed. Message : Error(s): Not Available - Timestamp: Not Available - Description: ' +
    'Unable to load the proper Managed Identity. - Correlation ID: 6aecc11c-8b52-41bd-9682-dd7d4e4e5030 - Trace ID: Not Available';
  const imdsRefusal = 'ManagedIdentityCredential: Authentication failed. Message invalid_request: Identity not found';

  it('IMDS not answering: not on Azure, or no identity; the fix says how to run it there, or to use an app off Azure', () => {
    for (const message of [unreachable, 'acquiring a token took longer than 30 s']) {
      const why = explainManagedIdentityFailure(message, imds);
      assert.match(why.detail, /Metadata Service \(http:\/\/169\.254\.169\.254[^)]*\) did not answer: this host is not an Azure VM/);
      assert.match(why.fix, /run it on Azure with a managed identity/);
      assert.match(why.fix, /AZURE_CREDENTIAL=secret or certificate/);
    }
  });

  it('an App Service endpoint not answering: its variables and the fix (turn the identity on, restart)', () => {
    const why = explainManagedIdentityFailure(unreachable, appService);
    assert.match(why.detail, /App Service identity endpoint http:\/\/127\.0\.0\.1:41234\/msi\/token \(IDENTITY_ENDPOINT and/);
    assert.match(why.detail, /did not answer \(ManagedIdentityCredential: Network unreachable/);
    assert.match(why.fix, /turn on a managed identity for this app and restart it/);
  });

  it("identity not found: a wrong user-assigned client id, or no system-assigned identity; in App Service's and IMDS's words", () => {
    for (const message of [appServiceRefusal, imdsRefusal]) {
      const user = explainManagedIdentityFailure(message, appService, IDENTITY);
      assert.match(user.detail, new RegExp(`no user-assigned identity with client id ${IDENTITY} \\(AZURE_CLIENT_ID\\) is assigned`));
      assert.match(user.fix, /client id \(not the object or principal id\)/);
      const system = explainManagedIdentityFailure(message, appService);
      assert.match(system.detail, /this app has no system-assigned managed identity/);
      assert.match(system.fix, /turn on the system-assigned identity/);
    }
    const words = explainManagedIdentityFailure(appServiceRefusal, appService).detail;
    assert.match(words, /App Service answered: Unable to load the proper Managed Identity\.\)$/);
  });

  it('an identity endpoint that is not a URL is named as such; hostile text is printed without control characters, bounded', () => {
    const bad = managedIdentitySource({ IDENTITY_ENDPOINT: 'not a url\u001b[2J', IDENTITY_HEADER: 'h' });
    const why = explainManagedIdentityFailure(unreachable, bad);
    assert.equal(why.detail, `IDENTITY_ENDPOINT "not a url?[2J" is not an http(s) URL, so App Service's identity endpoint cannot be asked`);
    assert.match(why.fix, /unset IDENTITY_ENDPOINT/);
    const answer = `Authentication failed. Description: \u001b[31m${'x'.repeat(5000)} - Correlation ID: 1`;
    const hostile = explainManagedIdentityFailure(answer, appService);
    assert.ok(!hostile.detail.includes('\u001b'), 'no escape sequence reaches the terminal');
    assert.ok(hostile.detail.length < 600, `bounded: ${hostile.detail.length}`);
  });

  it('anything else: the source and its first line', () => {
    const why = explainManagedIdentityFailure('ManagedIdentityCredential: Authentication failed. Message boom\nstack', appService);
    assert.equal(why.detail, 'App Service gave no token: ManagedIdentityCredential: Authentication failed. Message boom');
  });

  it('a missing Graph role is fixed by an app role assignment, not a consent page', () => {
    const apps = 'DeviceManagementApps.ReadWrite.All';
    assert.match(managedIdentityRoleFix([apps]), /app role DeviceManagementApps\.ReadWrite\.All \(New-MgServicePrincipalAppRoleAssignment/);
    const both = managedIdentityRoleFix(['DeviceManagementConfiguration.ReadWrite.All', apps]);
    assert.match(both, /Apps\.ReadWrite\.All \(or DeviceManagementConfiguration/);
  });
});

describe('doctor: a managed identity in the configuration', () => {
  it('config.credentials names it; a secret beside it fails with the fix', () => {
    const ok = judgeCredentials({ AZURE_CREDENTIAL: 'managed-identity', AZURE_CLIENT_ID: IDENTITY, ...APP_SERVICE });
    assert.equal(ok.result, 'ok');
    assert.match(ok.detail, new RegExp(`credential: the user-assigned managed identity ${IDENTITY} \\(AZURE_CREDENTIAL=managed`));
    const both = judgeCredentials({ AZURE_CREDENTIAL: 'managed-identity', AZURE_CLIENT_SECRET: SECRET });
    assert.equal(both.result, 'fail');
    assert.match(both.fix, /unset AZURE_CLIENT_SECRET/);
    assert.ok(!JSON.stringify(both).includes(SECRET));
  });

  it('with nothing configured on a host with an identity endpoint, the fix suggests the managed identity', () => {
    assert.match(judgeCredentials(APP_SERVICE).fix, /AZURE_CREDENTIAL=managed-identity: this host offers a managed identity/);
    assert.doesNotMatch(judgeCredentials({}).fix, /managed-identity/);
  });

  it('an ambiguous configuration fails the config check, naming variables only', () => {
    const { config, checks } = checkConfiguration({ AZURE_CREDENTIAL: 'managed-identity', AZURE_CLIENT_SECRET: SECRET });
    assert.equal(config, undefined);
    assert.equal(checks[0].result, 'fail');
    assert.match(checks[0].detail, /AZURE_CREDENTIAL=managed-identity is set together with AZURE_CLIENT_SECRET/);
    assert.ok(!checks[0].detail.includes(SECRET));
  });

  it("credentials.tenant: the identity's tenant (the token's tid) against AZURE_TENANT_ID", () => {
    assert.deepEqual(judgeIdentityTenant(TENANT, undefined), []);
    assert.deepEqual(judgeIdentityTenant(undefined, TENANT), []);
    assert.equal(judgeIdentityTenant(TENANT.toUpperCase(), TENANT)[0].result, 'ok');
    const other = judgeIdentityTenant('11111111-2222-3333-4444-555555555555', TENANT)[0];
    assert.equal(other.result, 'fail');
    assert.match(other.detail, /belongs to tenant "11111111-2222-3333-4444-555555555555", not to AZURE_TENANT_ID 72f988bf/);
    assert.ok(judgeIdentityTenant(`${'x'.repeat(500)}\u001b[31m`, TENANT)[0].detail.length < 300, 'a hostile tid is bounded and quoted');
  });
});
