import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createTokenSource, MissingCredentialsError } from '../../src/graph/auth.js';
import { GRAPH_CLOUDS, graphScopeFor, isCloudAuthority } from '../../src/clouds.js';

const EXPECTED = {
  global: { graph: 'https://graph.microsoft.com', authority: 'https://login.microsoftonline.com' },
  usgov: { graph: 'https://graph.microsoft.us', authority: 'https://login.microsoftonline.us' },
  usgovdod: { graph: 'https://dod-graph.microsoft.us', authority: 'https://login.microsoftonline.us' },
  china: { graph: 'https://microsoftgraph.chinacloudapi.cn', authority: 'https://login.chinacloudapi.cn' },
} as const;

const APP = { AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000001', AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000002' };

describe('national clouds', () => {
  it('knows exactly the four clouds', () => {
    assert.deepEqual(Object.keys(GRAPH_CLOUDS).sort(), Object.keys(EXPECTED).sort());
  });

  for (const [cloud, want] of Object.entries(EXPECTED)) {
    it(`GRAPH_CLOUD=${cloud}: Graph host, token scope and authority all come from that cloud`, () => {
      const config = loadConfig({ GRAPH_CLOUD: cloud, ...APP, AZURE_CLIENT_SECRET: 'not-a-real-secret' });
      assert.equal(config.graphBaseUrl, want.graph);
      assert.equal(config.authorityHost, want.authority);
      assert.equal(graphScopeFor(config.cloud), `${want.graph}/.default`);

      const tokens = createTokenSource(config);
      assert.equal(tokens.scope, `${want.graph}/.default`);
      assert.equal(tokens.authorityHost, want.authority);
      assert.match(tokens.description, /client secret/);
    });
  }

  it('keeps the cloud scope when GRAPH_BASE_URL points at a proxy or the simulator', () => {
    const config = loadConfig({
      GRAPH_CLOUD: 'usgov',
      GRAPH_BASE_URL: 'http://127.0.0.1:9999/',
      ...APP,
      AZURE_CLIENT_CERTIFICATE_PATH: '/nonexistent.pem',
    });
    assert.equal(config.graphBaseUrl, 'http://127.0.0.1:9999');
    const tokens = createTokenSource(config);
    assert.equal(tokens.scope, 'https://graph.microsoft.us/.default');
    assert.equal(tokens.authorityHost, 'https://login.microsoftonline.us');
    assert.match(tokens.description, /client certificate/);
  });

  it("AZURE_AUTHORITY_HOST replaces the authority only (an Entra stand-in, Azure Stack): the scope stays the cloud's", () => {
    const config = loadConfig({
      GRAPH_CLOUD: 'china',
      AZURE_AUTHORITY_HOST: 'https://127.0.0.1:8443/',
      ...APP,
      AZURE_CLIENT_SECRET: 'not-a-real-secret',
    });
    assert.equal(config.authorityHost, 'https://127.0.0.1:8443');
    const tokens = createTokenSource(config);
    assert.equal(tokens.authorityHost, 'https://127.0.0.1:8443');
    assert.equal(tokens.scope, 'https://microsoftgraph.chinacloudapi.cn/.default');
    for (const bad of ['http://login.example.com', 'login.microsoftonline.us', 'https://login.example.com/tenant']) {
      assert.throws(() => loadConfig({ AZURE_AUTHORITY_HOST: bad }), /AZURE_AUTHORITY_HOST must be an https:\/\/ origin/);
    }
  });

  it(
    'shares one token source per app, tenant and cloud in a process, so the worker, a ' + 'reconcile and a verify make one token request',
    () => {
      const config = loadConfig({ ...APP, AZURE_CLIENT_SECRET: 'not-a-real-secret' });
      assert.equal(createTokenSource(config), createTokenSource(loadConfig({ ...APP, AZURE_CLIENT_SECRET: 'not-a-real-secret' })));
      assert.notEqual(
        createTokenSource(config),
        createTokenSource(loadConfig({ ...APP, GRAPH_CLOUD: 'usgov', AZURE_CLIENT_SECRET: 'not-a-real-secret' })),
      );
      assert.notEqual(createTokenSource(config), createTokenSource(loadConfig({ ...APP, AZURE_CLIENT_SECRET: 'another-secret' })));
      assert.notEqual(
        createTokenSource(config),
        createTokenSource(
          loadConfig({ ...APP, AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000009', AZURE_CLIENT_SECRET: 'not-a-real-secret' }),
        ),
      );
      assert.notEqual(
        createTokenSource(config),
        createTokenSource(config, { now: Date.now }),
        "a test's own source (options given) is its own",
      );
    },
  );

  it("knows the clouds' authorities, which need no instance discovery", () => {
    for (const want of Object.values(EXPECTED)) assert.equal(isCloudAuthority(`${want.authority}/`), true);
    assert.equal(isCloudAuthority('https://127.0.0.1:8443'), false);
  });

  it('defaults to the global cloud and refuses unknown clouds by name', () => {
    assert.equal(loadConfig({}).cloud, 'global');
    assert.throws(() => loadConfig({ GRAPH_CLOUD: 'germany' }), /GRAPH_CLOUD/);
  });

  it('uses GRAPH_ACCESS_TOKEN as is, re-reading it on a forced refresh', async () => {
    const tokens = createTokenSource(loadConfig({ GRAPH_ACCESS_TOKEN: 'first' }));
    assert.equal(await tokens.getToken(), 'first');
    const saved = process.env.GRAPH_ACCESS_TOKEN;
    process.env.GRAPH_ACCESS_TOKEN = 'rotated';
    try {
      assert.equal(await tokens.getToken(), 'first');
      assert.equal(await tokens.getToken(true), 'rotated');
    } finally {
      if (saved === undefined) delete process.env.GRAPH_ACCESS_TOKEN;
      else process.env.GRAPH_ACCESS_TOKEN = saved;
    }
  });

  it('names the variables to set when no credentials are configured', () => {
    assert.throws(
      () => createTokenSource(loadConfig({})),
      (err: Error) =>
        err instanceof MissingCredentialsError && /GRAPH_ACCESS_TOKEN/.test(err.message) && /AZURE_CLIENT_SECRET/.test(err.message),
    );
  });
});
