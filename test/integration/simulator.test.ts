import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DEFAULT_BUDGET, DEFAULT_FAULTS, startSimulator, type GraphSimulator } from '../../src/simulator/index.js';

const ODATA_TYPE = '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const TOKENS = {
  'sim-token': { tenantId: 'sim-tenant', appId: 'sim-app', permissions: ['DeviceManagementConfiguration.ReadWrite.All'] },
  'other-app': { tenantId: 'sim-tenant', appId: 'other-app', permissions: ['DeviceManagementApps.ReadWrite.All'] },
  'read-only': { tenantId: 'sim-tenant', appId: 'reader', permissions: ['User.Read.All'] },
};

let sim: GraphSimulator;

function userStatusUrl(
  configId = 'cfg-1',
  userStatusId = 'user-1',
  { version = 'beta', collection = 'mobileAppConfigurations' } = {},
): string {
  return `${sim.url}/${version}/deviceAppManagement/${collection}/${encodeURIComponent(configId)}/userStatuses/${encodeURIComponent(userStatusId)}`;
}

async function patch(
  url: string,
  body: unknown,
  { token = 'sim-token', raw = false, headers = {} }: { token?: string | null; raw?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, {
    method: 'PATCH',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

function assertGraphError(res: { status: number; headers: Headers; json: any }, status: number, code: string, messagePart?: string | RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(res.json.error.code, code);
  assert.equal(typeof res.json.error.message, 'string');
  if (typeof messagePart === 'string') assert.ok(res.json.error.message.includes(messagePart), res.json.error.message);
  if (messagePart instanceof RegExp) assert.match(res.json.error.message, messagePart);
  const inner = res.json.error.innerError;
  assert.ok(!Number.isNaN(Date.parse(inner.date)));
  assert.match(inner['request-id'], UUID);
  assert.equal(inner['request-id'], res.headers.get('request-id'));
  assert.equal(typeof inner['client-request-id'], 'string');
}

/** The simulator's clock: time moves only when a test moves it, and latency is recorded instead of slept. */
const clock = {
  ms: 1_800_000_000_000,
  delays: [] as number[],
  now: () => clock.ms,
  sleep: async (ms: number) => {
    clock.delays.push(ms);
  },
};

before(async () => {
  sim = await startSimulator({ port: 0, seed: 42 }, clock);
});

after(async () => {
  await sim.close();
});

beforeEach(() => {
  sim.configure({
    tokens: TOKENS,
    missingConfigurations: ['gone-config'],
    budget: DEFAULT_BUDGET,
    faults: DEFAULT_FAULTS,
    seed: 42,
    latencyMs: 0,
  });
  sim.reset();
  clock.delays = [];
});

describe('successful writes', () => {
  it('applies a patch, returns the stored object and echoes ids', async () => {
    const res = await patch(
      userStatusUrl(),
      { status: 'compliant', devicesCount: 3, lastReportedDateTime: '2024-05-01T12:00:00Z', userDisplayName: null },
      { headers: { 'client-request-id': 'my-client-id' } },
    );
    assert.equal(res.status, 200);
    assert.match(res.headers.get('request-id') ?? '', UUID);
    assert.equal(res.headers.get('client-request-id'), 'my-client-id');
    const expected = {
      '@odata.type': ODATA_TYPE,
      id: 'user-1',
      status: 'compliant',
      devicesCount: 3,
      lastReportedDateTime: '2024-05-01T12:00:00Z',
      userDisplayName: null,
    };
    assert.deepEqual(res.json, expected);

    const merged = await patch(userStatusUrl(), { '@odata.type': ODATA_TYPE, id: 'user-1', status: 'nonCompliant', userPrincipalName: 'a@b.c' });
    assert.equal(merged.status, 200);
    assert.deepEqual(sim.state(), {
      'mobileAppConfigurations/cfg-1/user-1': { ...expected, status: 'nonCompliant', userPrincipalName: 'a@b.c' },
    });

    const got = await fetch(userStatusUrl(), { headers: { authorization: 'Bearer sim-token' } });
    assert.equal(got.status, 200);
    assert.equal((await got.json()).userPrincipalName, 'a@b.c');

    const c = sim.counters();
    assert.equal(c.requests, 2);
    assert.equal(c.applied, 2);
    assert.deepEqual(c.byStatus, { '200': 2 });
    assert.equal(c.authorizationSeen['sim-token'], 3);
  });

  it('serves beta and v1.0, both collections on beta, and decodes percent-encoded ids', async () => {
    const weirdId = 'user 1/ä+x@contoso.com';
    for (const [version, collection] of [['beta', 'mobileAppConfigurations'], ['beta', 'iosLobAppProvisioningConfigurations'], ['v1.0', 'mobileAppConfigurations']]) {
      const res = await patch(userStatusUrl('cfg/1', weirdId, { version, collection }), { id: weirdId, status: 'error' });
      assert.equal(res.status, 200, `${version} ${collection}`);
      assert.equal(res.json.id, weirdId);
    }
    assert.deepEqual(Object.keys(sim.state()).sort(), [
      `iosLobAppProvisioningConfigurations/cfg/1/${weirdId}`,
      `mobileAppConfigurations/cfg/1/${weirdId}`,
    ]);
    const log = sim.requestLog();
    assert.equal(log.length, 3);
    assert.equal(log[0].path, `/beta/deviceAppManagement/mobileAppConfigurations/cfg%2F1/userStatuses/${encodeURIComponent(weirdId)}`);
    assert.equal(log[0].tenantId, 'sim-tenant');
    assert.equal(log[0].appId, 'sim-app');
    assert.deepEqual(log[0].body, { id: weirdId, status: 'error' });
  });

  it('refuses iosLobAppProvisioningConfigurations under v1.0, which has no such entity set, for writes and reads', async () => {
    const ios = { version: 'v1.0', collection: 'iosLobAppProvisioningConfigurations' };
    assertGraphError(await patch(userStatusUrl('cfg-1', 'user-1', ios), { status: 'compliant' }), 400, 'BadRequest', "segment 'iosLobAppProvisioningConfigurations'");
    const list = await fetch(`${sim.url}/v1.0/deviceAppManagement/iosLobAppProvisioningConfigurations/cfg-1/userStatuses`, { headers: { authorization: 'Bearer sim-token' } });
    assert.equal(list.status, 400);
    assert.deepEqual(sim.state(), {});
  });

  it('answers a successful PATCH with 204 No Content when patchNoContent is set, and still applies it', async () => {
    sim.configure({ patchNoContent: true });
    try {
      const res = await fetch(userStatusUrl(), { method: 'PATCH', headers: { authorization: 'Bearer sim-token', 'content-type': 'application/json' }, body: JSON.stringify({ status: 'compliant' }) });
      assert.equal(res.status, 204);
      assert.equal(await res.text(), '');
      assert.equal(sim.state()['mobileAppConfigurations/cfg-1/user-1'].status, 'compliant');
      assert.deepEqual(sim.counters().byStatus, { '204': 1 });
      // Errors keep their bodies.
      assert.equal((await patch(userStatusUrl(), { status: 'bogus' })).status, 400);
    } finally {
      sim.configure({ patchNoContent: false });
    }
  });

  it('accepts the date-time forms Graph accepts', async () => {
    for (const date of ['2024-05-01T12:00:00.1234567Z', '2024-05-01T12:00:00+05:30', '2024-05-01T12:00:00.5-08:00']) {
      assert.equal((await patch(userStatusUrl(), { lastReportedDateTime: date })).status, 200, date);
    }
  });
});

describe('body validation', () => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown property', { status: 'compliant', complianceState: 'x' }, /Property 'complianceState' does not exist on type 'microsoft\.graph\.managedDeviceMobileAppConfigurationUserStatus'/],
    ['bad enum', { status: 'Compliant' }, /'status'/],
    ['fractional devicesCount', { devicesCount: 1.5 }, /'devicesCount'/],
    ['string devicesCount', { devicesCount: '5' }, /'devicesCount'/],
    ['out-of-range devicesCount', { devicesCount: 2147483648 }, /'devicesCount'/],
    ['date without zone', { lastReportedDateTime: '2024-05-01T12:00:00' }, /'lastReportedDateTime'/],
    ['date with 8 fractional digits', { lastReportedDateTime: '2024-05-01T12:00:00.12345678Z' }, /'lastReportedDateTime'/],
    ['impossible date', { lastReportedDateTime: '2024-02-30T12:00:00Z' }, /'lastReportedDateTime'/],
    ['numeric userDisplayName', { userDisplayName: 5 }, /'userDisplayName'/],
    ['null status', { status: null }, /'status'/],
    ['wrong @odata.type', { '@odata.type': '#microsoft.graph.userStatus' }, /@odata\.type/],
    ['id mismatch', { id: 'someone-else' }, /'id'/],
    ['array body', [{ status: 'compliant' }], /JSON object/],
  ];
  for (const [name, body, message] of cases) {
    it(`rejects ${name} with 400 BadRequest`, async () => {
      assertGraphError(await patch(userStatusUrl(), body), 400, 'BadRequest', message);
      assert.deepEqual(sim.state(), {});
    });
  }

  it('rejects malformed JSON with Graph error shape', async () => {
    assertGraphError(await patch(userStatusUrl(), '{"status":', { raw: true }), 400, 'BadRequest');
  });

  it('checks auth before the body', async () => {
    assertGraphError(await patch(userStatusUrl(), '{nope', { raw: true, token: null }), 401, 'InvalidAuthenticationToken');
  });
});

describe('not found and routing', () => {
  it('returns 404 ResourceNotFound for a configuration in missingConfigurations', async () => {
    assertGraphError(await patch(userStatusUrl('gone-config'), { status: 'compliant' }), 404, 'ResourceNotFound', 'gone-config');
    assert.deepEqual(sim.state(), {});
  });

  it('returns 404 for other paths and for unknown objects, 405 for other methods', async () => {
    assertGraphError(await patch(`${sim.url}/beta/deviceManagement/managedDevices/x`, {}), 404, 'ResourceNotFound');
    assertGraphError(await patch(`${sim.url}/v2.0/deviceAppManagement/mobileAppConfigurations/c/userStatuses/u`, {}), 404, 'ResourceNotFound');
    const get = await fetch(userStatusUrl('cfg-1', 'never-written'), { headers: { authorization: 'Bearer sim-token' } });
    assert.equal(get.status, 404);
    const del = await fetch(userStatusUrl(), { method: 'DELETE', headers: { authorization: 'Bearer sim-token' } });
    assert.equal(del.status, 405);
    assert.equal((await del.json()).error.code, 'MethodNotAllowed');
    assert.match(del.headers.get('request-id') ?? '', UUID);
  });
});

describe('authentication and authorization', () => {
  it('returns 401 without a token', async () => {
    assertGraphError(await patch(userStatusUrl(), { status: 'compliant' }, { token: null }), 401, 'InvalidAuthenticationToken', 'Access token is empty.');
  });

  it('returns 401 for an unknown token and counts it', async () => {
    assertGraphError(await patch(userStatusUrl(), { status: 'compliant' }, { token: 'forged' }), 401, 'InvalidAuthenticationToken', 'Access token validation failure.');
    assert.equal(sim.counters().authorizationSeen.forged, 1);
  });

  it('returns 403 naming both permissions for a token without them', async () => {
    const res = await patch(userStatusUrl(), { status: 'compliant' }, { token: 'read-only' });
    assertGraphError(res, 403, 'Forbidden', 'DeviceManagementConfiguration.ReadWrite.All');
    assert.ok(res.json.error.message.includes('DeviceManagementApps.ReadWrite.All'));
  });

  it('accepts DeviceManagementApps.ReadWrite.All', async () => {
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' }, { token: 'other-app' })).status, 200);
  });
});

describe('throttling', () => {
  it('answers 429 with a fractional Retry-After, counts refusals, and recovers', async () => {
    sim.configure({ budget: { perApp: { limit: 5, windowMs: 1000 }, perTenant: { limit: 100, windowMs: 1000 } } });
    for (let i = 0; i < 5; i++) assert.equal((await patch(userStatusUrl(), { devicesCount: i })).status, 200);

    const first = await patch(userStatusUrl(), { devicesCount: 5 });
    assertGraphError(first, 429, 'TooManyRequests');
    // Balance -1 after the refused write: two tokens at 5/s is 400 ms (no time passes on this clock).
    assert.equal(first.headers.get('retry-after'), '0.4');
    clock.ms += 150;
    const fractional = await patch(userStatusUrl(), { devicesCount: 5 });
    // 150 ms later 0.75 tokens refilled (-0.25), and the refusal is charged too (-1.25): 2.25 tokens at 5/s is
    // 450 ms, rounded up to a tenth.
    assert.equal(fractional.headers.get('retry-after'), '0.5');
    const second = await patch(userStatusUrl(), { devicesCount: 6 });
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('retry-after'), '0.7', '3.25 tokens at 5/s is 650 ms, rounded up');
    let c = sim.counters();
    assert.equal(c.throttled, 3);
    assert.equal(c.refusedWhileThrottled, 2);
    assert.equal(c.applied, 5);

    clock.ms += Number(second.headers.get('retry-after')) * 1000;
    assert.equal((await patch(userStatusUrl(), { devicesCount: 7 })).status, 200);
    c = sim.counters();
    assert.deepEqual(c.byStatus, { '200': 6, '429': 3 });
    assert.equal(c.refusedWhileThrottled, 2);
  });

  it('shares the tenant bucket between apps of one tenant', async () => {
    sim.configure({ budget: { perApp: { limit: 100, windowMs: 10_000 }, perTenant: { limit: 2, windowMs: 10_000 } } });
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 200);
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' }, { token: 'other-app' })).status, 200);
    const res = await patch(userStatusUrl(), { status: 'compliant' }, { token: 'other-app' });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '10');
  });

  it('can be switched off', async () => {
    sim.configure({ budget: false });
    for (let i = 0; i < 120; i++) assert.equal((await patch(userStatusUrl(), { devicesCount: i })).status, 200);
  });
});

describe('write-quality counters', () => {
  it('counts stale writes by instant, not by string', async () => {
    await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-02T00:00:00Z' });
    // Lexically older but an hour later as an instant: not stale.
    await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-01T23:00:00-02:00' });
    assert.equal(sim.counters().staleWrites, 0);
    // Lexically newer but earlier as an instant: stale, and applied anyway.
    const res = await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-02T00:30:00+01:00' });
    assert.equal(res.status, 200);
    assert.equal(res.json.lastReportedDateTime, '2024-01-02T00:30:00+01:00');
    // Sub-millisecond precision counts.
    await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-03T00:00:00.0000002Z' });
    await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-03T00:00:00.0000001Z' });
    const c = sim.counters();
    assert.equal(c.staleWrites, 2);
    assert.equal(c.applied, 5);
  });

  it('counts a write identical to the previous one as appliedTwice', async () => {
    await patch(userStatusUrl(), { status: 'compliant', devicesCount: 1 });
    await patch(userStatusUrl(), { devicesCount: 1, status: 'compliant' });
    await patch(userStatusUrl('cfg-1', 'user-2'), { status: 'compliant', devicesCount: 1 });
    await patch(userStatusUrl(), { status: 'compliant', devicesCount: 2 });
    assert.equal(sim.counters().appliedTwice, 1);
  });
});

describe('forced answers and faults', () => {
  it('injectNext forces the next n PATCH answers', async () => {
    sim.injectNext(2, { status: 503, retryAfter: 0.5 });
    sim.injectNext(1, { status: 429, code: 'TooManyRequests', message: 'slow down', retryAfter: '3' });
    for (let i = 0; i < 2; i++) {
      const res = await patch(userStatusUrl(), { status: 'compliant' });
      assertGraphError(res, 503, 'ServiceUnavailable');
      assert.equal(res.headers.get('retry-after'), '0.5');
    }
    const throttled = await patch(userStatusUrl(), { status: 'compliant' });
    assertGraphError(throttled, 429, 'TooManyRequests', 'slow down');
    assert.equal(throttled.headers.get('retry-after'), '3');
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 200);
    const c = sim.counters();
    assert.deepEqual(c.byStatus, { '503': 2, '429': 1, '200': 1 });
    assert.equal(c.throttled, 1);
  });

  it('does not consume injections on requests that fail auth', async () => {
    sim.injectNext(1, { status: 500 });
    assert.equal((await patch(userStatusUrl(), {}, { token: null })).status, 401);
    assert.equal((await patch(userStatusUrl(), {})).status, 500);
  });

  it('drops the connection; an applied drop makes the retry count as appliedTwice', async () => {
    sim.injectNext(1, { status: 0, drop: true, applyBeforeDrop: true });
    const body = { status: 'compliant', devicesCount: 4 };
    await assert.rejects(patch(userStatusUrl(), body));
    assert.equal(sim.state()['mobileAppConfigurations/cfg-1/user-1']?.devicesCount, 4);
    assert.equal((await patch(userStatusUrl(), body)).status, 200);
    const c = sim.counters();
    assert.deepEqual(c.byStatus, { dropped: 1, '200': 1 });
    assert.equal(c.applied, 2);
    assert.equal(c.appliedTwice, 1);
    assert.equal(sim.requestLog()[0].status, 'dropped');
  });

  it('rolls 503, 504, slow and drop faults from the configured rates', async () => {
    sim.configure({ faults: { rate503: 1, retryAfter503Seconds: 1.5 } });
    const unavailable = await patch(userStatusUrl(), { status: 'compliant' });
    assertGraphError(unavailable, 503, 'ServiceUnavailable');
    assert.equal(unavailable.headers.get('retry-after'), '1.5');

    sim.configure({ faults: { rate503: 0, rate504: 1 } });
    const timeout = await patch(userStatusUrl(), { status: 'compliant' });
    assertGraphError(timeout, 504, 'GatewayTimeout');
    assert.equal(timeout.headers.get('retry-after'), null);

    sim.configure({ faults: { rate504: 0, rateSlow: 1, slowMs: 150 } });
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 200);
    assert.deepEqual(clock.delays, [150]);

    sim.configure({ faults: { rateSlow: 0, rateDrop: 1, dropAfterApplyShare: 0 } });
    await assert.rejects(patch(userStatusUrl(), { status: 'error' }));
    assert.equal(sim.state()['mobileAppConfigurations/cfg-1/user-1']?.status, 'compliant');
    assert.deepEqual(sim.counters().byStatus, { '503': 1, '504': 1, '200': 1, dropped: 1 });
  });

  it('is reproducible for a given seed', async () => {
    const run = async (): Promise<number[]> => {
      sim.configure({ seed: 7, faults: { rate503: 0.5 } });
      sim.reset();
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await patch(userStatusUrl(), { devicesCount: i })).status);
      return statuses;
    };
    const first = await run();
    assert.deepEqual(await run(), first);
    assert.ok(first.includes(503) && first.includes(200));
  });

  it('adds base latency to every request', async () => {
    sim.setLatencyMs(100);
    await fetch(userStatusUrl(), { headers: { authorization: 'Bearer sim-token' } });
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 200);
    assert.deepEqual(clock.delays, [100, 100]);
  });
});

async function get(url: string, token = 'sim-token'): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

function listUrl(configId = 'cfg-1', query = '', { version = 'beta', collection = 'mobileAppConfigurations' } = {}): string {
  return `${sim.url}/${version}/deviceAppManagement/${collection}/${encodeURIComponent(configId)}/userStatuses${query}`;
}

function seed(count: number, configId = 'cfg-1', collection: 'mobileAppConfigurations' | 'iosLobAppProvisioningConfigurations' = 'mobileAppConfigurations'): void {
  sim.drift(Array.from({ length: count }, (_, i) => ({ collection, configId, userStatusId: `u-${i}`, values: { status: 'compliant', devicesCount: i, userDisplayName: `U ${i}` } })));
}

describe('reads', () => {
  it('lists a configuration page by page through @odata.nextLink with a $skiptoken, honouring $select and $top', async () => {
    seed(250);
    seed(3, 'cfg-2');
    const seen: any[] = [];
    let url: string | undefined = listUrl('cfg-1', '?$select=status,devicesCount&$top=100');
    let pages = 0;
    while (url) {
      const res = await get(url);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      pages++;
      seen.push(...res.json.value);
      const link: string | undefined = res.json['@odata.nextLink'];
      if (link) {
        // Graph's own form: absolute on graph.microsoft.com, the key in parentheses, skipCount%3d<n>.
        assert.equal(link, `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses?$select=status,devicesCount&$top=100&$skiptoken=skipCount%3d${pages * 100}`);
        // Unreachable from here as it stands: a client re-hosts it onto its base URL, as ours does through GRAPH_BASE_URL.
        const followed = new URL(link);
        url = `${sim.url}${followed.pathname}${followed.search}`;
      } else {
        url = undefined;
      }
    }
    assert.equal(pages, 3);
    assert.equal(seen.length, 250);
    assert.deepEqual(new Set(seen.map((s) => s.id)).size, 250);
    assert.deepEqual(seen[7], { '@odata.type': ODATA_TYPE, id: 'u-7', status: 'compliant', devicesCount: 7 }, 'only the selected properties, with id and type');
    const c = sim.counters();
    assert.equal(c.reads, 3);
    assert.deepEqual(c.readsByStatus, { '200': 3 });
    assert.equal(c.requests, 0, 'reads are not PATCHes');
  });

  it("accepts the ('id') key form on requests, for lists and single statuses, and writes nextLinks on a national host when told", async () => {
    seed(5);
    sim.configure({ pageSize: 2, nextLinkHost: 'https://graph.microsoft.us' });
    try {
      const keyed = await get(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses`);
      assert.equal(keyed.status, 200, JSON.stringify(keyed.json));
      assert.deepEqual(keyed.json.value.map((v: { id: string }) => v.id), ['u-0', 'u-1']);
      assert.equal(keyed.json['@odata.nextLink'], "https://graph.microsoft.us/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses?$skiptoken=skipCount%3d2");
      const encoded = await get(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations(%27cfg-1%27)/userStatuses/u-3`);
      assert.equal(encoded.json.id, 'u-3');
      assertGraphError(await get(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations(cfg-1)/userStatuses`), 404, 'ResourceNotFound');
    } finally {
      sim.configure({ pageSize: 100, nextLinkHost: 'https://graph.microsoft.com' });
    }
  });

  it("keeps the kinder nextLink (on the request's own Host, the path as requested) as option nextLinkForm: 'kinder'", async () => {
    seed(3);
    sim.configure({ pageSize: 2, nextLinkForm: 'kinder' });
    try {
      const first = await get(listUrl());
      const link: string = first.json['@odata.nextLink'];
      assert.ok(link.startsWith(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses?`), link);
      const second = await get(link);
      assert.deepEqual(second.json.value.map((v: { id: string }) => v.id), ['u-2']);
    } finally {
      sim.configure({ pageSize: 100, nextLinkForm: 'graph' });
    }
  });

  it('uses its default page size without $top and caps $top at its maximum page size', async () => {
    seed(30);
    sim.configure({ pageSize: 7, maxPageSize: 12 });
    try {
      const plain = await get(listUrl());
      assert.equal(plain.json.value.length, 7);
      assert.equal(plain.json.value[0].userDisplayName, 'U 0', 'no $select returns every property');
      const big = await get(listUrl('cfg-1', '?$top=999'));
      assert.equal(big.json.value.length, 12);
      const last = await get(listUrl('cfg-1', '?$top=12&$skiptoken=' + encodeURIComponent(new URL(big.json['@odata.nextLink']).searchParams.get('$skiptoken')!)));
      assert.equal(last.json.value[0].id, 'u-12');
    } finally {
      sim.configure({ pageSize: 100, maxPageSize: 1000 });
    }
  });

  it('refuses an unknown $select property, a bad $top and a forged $skiptoken; an empty configuration lists nothing; a missing one is 404', async () => {
    assertGraphError(await get(listUrl('cfg-1', '?$select=status,secret')), 400, 'BadRequest', "'secret'");
    assertGraphError(await get(listUrl('cfg-1', '?$top=-1')), 400, 'BadRequest');
    assertGraphError(await get(listUrl('cfg-1', '?$skiptoken=forged')), 400, 'BadRequest');
    const empty = await get(listUrl('never-written'));
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json.value, []);
    assert.equal(empty.json['@odata.nextLink'], undefined);
    assertGraphError(await get(listUrl('gone-config')), 404, 'ResourceNotFound', 'gone-config');
    const post = await fetch(listUrl(), { method: 'PATCH', headers: { authorization: 'Bearer sim-token' }, body: '{}' });
    assert.equal(post.status, 405);
  });

  it('gets one user status with $select, and lets a read-only app read but not write', async () => {
    seed(2);
    const one = await get(`${userStatusUrl('cfg-1', 'u-1')}?$select=userDisplayName`);
    assert.deepEqual(one.json, { '@odata.type': ODATA_TYPE, id: 'u-1', userDisplayName: 'U 1' });
    sim.configure({ tokens: { ...TOKENS, reader: { tenantId: 'sim-tenant', appId: 'reader-app', permissions: ['DeviceManagementApps.Read.All'] } } });
    assert.equal((await get(listUrl(), 'reader')).status, 200);
    assert.equal((await patch(userStatusUrl('cfg-1', 'u-1'), { status: 'error' }, { token: 'reader' })).status, 403);
  });

  it('throttles reads on the "any request" budget, which writes are charged to as well', async () => {
    sim.configure({ anyBudget: { perApp: { limit: 4, windowMs: 1000 }, perTenant: { limit: 100, windowMs: 1000 } } });
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 200);
    assert.equal((await patch(userStatusUrl(), { status: 'error' })).status, 200);
    assert.equal((await get(listUrl())).status, 200);
    assert.equal((await get(userStatusUrl())).status, 200);
    const refused = await get(listUrl());
    assertGraphError(refused, 429, 'TooManyRequests', 'request budget');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 0.5, String(retryAfter));
    const write = await patch(userStatusUrl(), { status: 'remediated' });
    assert.equal(write.status, 429, 'a write is refused when the any-request budget is spent');
    assert.deepEqual(sim.counters().readsByStatus, { '200': 2, '429': 1 });
    clock.ms += Number(write.headers.get('retry-after')) * 1000;
    assert.equal((await get(listUrl())).status, 200);
  });

  it('has no any-request throttling when started with budget: false, unless configured', async () => {
    const plain = await startSimulator({ budget: false });
    try {
      for (let i = 0; i < 30; i++) assert.equal((await fetch(`${plain.url}/beta/deviceAppManagement/mobileAppConfigurations/c/userStatuses`, { headers: { authorization: 'Bearer sim-token' } })).status, 200);
      plain.configure({ anyBudget: { perApp: { limit: 1, windowMs: 60_000 } } });
      const url = `${plain.url}/beta/deviceAppManagement/mobileAppConfigurations/c/userStatuses`;
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer sim-token' } })).status, 200);
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer sim-token' } })).status, 429);
    } finally {
      await plain.close();
    }
  });

  it('drift changes and deletes stored values behind the client\'s back, over HTTP too, without counting as writes', async () => {
    assert.equal((await patch(userStatusUrl(), { status: 'compliant', devicesCount: 1 })).status, 200);
    const res = await fetch(`${sim.url}/_sim/drift`, {
      method: 'POST',
      body: JSON.stringify({ changes: [{ configId: 'cfg-1', userStatusId: 'user-1', values: { status: 'nonCompliant' } }, { collection: 'iosLobAppProvisioningConfigurations', configId: 'cfg-9', userStatusId: 'new', values: { devicesCount: 4 } }] }),
    });
    assert.deepEqual(await res.json(), { ok: true, changed: 2 });
    const state = sim.state();
    assert.deepEqual(state['mobileAppConfigurations/cfg-1/user-1'], { '@odata.type': ODATA_TYPE, id: 'user-1', status: 'nonCompliant', devicesCount: 1 });
    assert.deepEqual(state['iosLobAppProvisioningConfigurations/cfg-9/new'], { '@odata.type': ODATA_TYPE, id: 'new', devicesCount: 4 });
    assert.equal(sim.counters().applied, 1);
    sim.drift([{ configId: 'cfg-1', userStatusId: 'user-1', values: null }]);
    assert.deepEqual((await get(listUrl())).json.value, []);
    const bad = await fetch(`${sim.url}/_sim/drift`, { method: 'POST', body: JSON.stringify({ changes: [{ configId: 'cfg-1', userStatusId: 'x', values: { id: 'y' } }] }) });
    assert.equal(bad.status, 400);
    assert.equal((await fetch(`${sim.url}/_sim/drift`, { method: 'POST', body: '{"changes": 3}' })).status, 400);
  });
});

describe('admin routes', () => {
  it('configures, injects, reports and resets over HTTP', async () => {
    const configured = await fetch(`${sim.url}/_sim/configure`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ missingConfigurations: ['admin-gone'] }),
    });
    assert.equal(configured.status, 200);
    assert.equal((await patch(userStatusUrl('admin-gone'), { status: 'compliant' })).status, 404);

    const injected = await fetch(`${sim.url}/_sim/inject`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1, answer: { status: 504 } }),
    });
    assert.equal(injected.status, 200);
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 504);
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 200);

    const state = await (await fetch(`${sim.url}/_sim/state`)).json();
    assert.equal(state['mobileAppConfigurations/cfg-1/user-1'].status, 'compliant');
    const counters = await (await fetch(`${sim.url}/_sim/counters`)).json();
    assert.deepEqual(counters.byStatus, { '404': 1, '504': 1, '200': 1 });
    const requests = await (await fetch(`${sim.url}/_sim/requests`)).json();
    assert.equal(requests.length, 3);
    assert.deepEqual(requests.map((r: { status: number }) => r.status), [404, 504, 200]);

    const badConfig = await fetch(`${sim.url}/_sim/configure`, { method: 'POST', body: JSON.stringify({ faults: { rate503: 2 } }) });
    assert.equal(badConfig.status, 400);

    assert.equal((await fetch(`${sim.url}/_sim/reset`, { method: 'POST' })).status, 200);
    assert.deepEqual(sim.state(), {});
    assert.equal(sim.counters().requests, 0);
    assert.equal(sim.requestLog().length, 0);
  });
});
