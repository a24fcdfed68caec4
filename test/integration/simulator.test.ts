import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DEFAULT_ANY_BUDGET, DEFAULT_BUDGET, DEFAULT_FAULTS, startSimulator, type GraphSimulator } from '../../src/simulator/index.js';
import { BIN, REPO_ROOT } from '../support/harness.js';

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
  return (
    `${sim.url}/${version}/deviceAppManagement/${collection}` +
    `/${encodeURIComponent(configId)}` +
    `/userStatuses/${encodeURIComponent(userStatusId)}`
  );
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

function assertGraphError(
  res: { status: number; headers: Headers; json: any },
  status: number,
  code: string,
  messagePart?: string | RegExp,
): void {
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
    anyBudget: DEFAULT_ANY_BUDGET,
    faults: DEFAULT_FAULTS,
    // Graph's defaults, set again so an option one test changes never leaks into the next.
    faultsOnWritesOnly: false,
    createOnPatch: false,
    selectAddsId: false,
    echoDates: false,
    // These tests check the bucket arithmetic through Retry-After, so every 429 here carries one in Graph JSON;
    // the shape of 429s (missing Retry-After, HTML bodies) has tests of its own, which set it.
    throttleShape: { missingRetryAfterShare: 0, htmlBodyShare: 0, fractionalRetryAfter: false },
    seed: 42,
    latencyMs: 0,
  });
  sim.reset();
  clock.delays = [];
  seededState = {};
});

/** What the simulator held right after the test seeded it: a refused write must leave exactly this. */
let seededState: Record<string, Record<string, unknown>> = {};

/**
 * Graph's PATCH never creates: the objects a test writes must exist first. Seeded empty (only type and id), so a
 * test sees exactly what its PATCHes set.
 */
function seedTargets(
  keys: [configId: string, userStatusId: string, collection?: 'mobileAppConfigurations' | 'iosLobAppProvisioningConfigurations'][] = [
    ['cfg-1', 'user-1'],
    ['cfg-1', 'user-2'],
  ],
): void {
  sim.drift(keys.map(([configId, userStatusId, collection]) => ({ configId, userStatusId, collection, values: {} })));
  seededState = sim.state();
}

describe('successful writes', () => {
  beforeEach(() => seedTargets());

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
      // Graph answers dates in UTC with seven fraction digits, whatever form was written.
      lastReportedDateTime: '2024-05-01T12:00:00.0000000Z',
      userDisplayName: null,
    };
    assert.deepEqual(res.json, expected);

    const merged = await patch(userStatusUrl(), {
      '@odata.type': ODATA_TYPE,
      id: 'user-1',
      status: 'nonCompliant',
      userPrincipalName: 'a@b.c',
    });
    assert.equal(merged.status, 200);
    assert.deepEqual(sim.state(), {
      ...seededState,
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
    sim.reset();
    seedTargets([
      ['cfg/1', weirdId],
      ['cfg/1', weirdId, 'iosLobAppProvisioningConfigurations'],
    ]);
    for (const [version, collection] of [
      ['beta', 'mobileAppConfigurations'],
      ['beta', 'iosLobAppProvisioningConfigurations'],
      ['v1.0', 'mobileAppConfigurations'],
    ]) {
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
    assertGraphError(
      await patch(userStatusUrl('cfg-1', 'user-1', ios), { status: 'compliant' }),
      400,
      'BadRequest',
      "segment 'iosLobAppProvisioningConfigurations'",
    );
    const list = await fetch(`${sim.url}/v1.0/deviceAppManagement/iosLobAppProvisioningConfigurations/cfg-1/userStatuses`, {
      headers: { authorization: 'Bearer sim-token' },
    });
    assert.equal(list.status, 400);
    assert.deepEqual(sim.state(), seededState);
  });

  it('answers a successful PATCH with 204 No Content when patchNoContent is set, and still applies it', async () => {
    sim.configure({ patchNoContent: true });
    try {
      const res = await fetch(userStatusUrl(), {
        method: 'PATCH',
        headers: { authorization: 'Bearer sim-token', 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'compliant' }),
      });
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
  beforeEach(() => seedTargets());

  const cases: [string, unknown, RegExp][] = [
    [
      'unknown property',
      { status: 'compliant', complianceState: 'x' },
      /Property 'complianceState' does not exist on type 'microsoft\.graph\.managedDeviceMobileAppConfigurationUserStatus'/,
    ],
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
      assert.deepEqual(sim.state(), seededState);
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
  beforeEach(() => seedTargets());

  it('returns 404 ResourceNotFound for a configuration in missingConfigurations', async () => {
    assertGraphError(await patch(userStatusUrl('gone-config'), { status: 'compliant' }), 404, 'ResourceNotFound', 'gone-config');
    assert.deepEqual(sim.state(), seededState);
  });

  it('returns 404 for other paths and for unknown objects, 405 for other methods', async () => {
    assertGraphError(await patch(`${sim.url}/beta/deviceManagement/managedDevices/x`, {}), 404, 'ResourceNotFound');
    assertGraphError(
      await patch(`${sim.url}/v2.0/deviceAppManagement/mobileAppConfigurations/c/userStatuses/u`, {}),
      404,
      'ResourceNotFound',
    );
    const get = await fetch(userStatusUrl('cfg-1', 'never-written'), { headers: { authorization: 'Bearer sim-token' } });
    assert.equal(get.status, 404);
    const del = await fetch(userStatusUrl(), { method: 'DELETE', headers: { authorization: 'Bearer sim-token' } });
    assert.equal(del.status, 405);
    assert.equal((await del.json()).error.code, 'MethodNotAllowed');
    assert.match(del.headers.get('request-id') ?? '', UUID);
  });
});

describe('authentication and authorization', () => {
  beforeEach(() => seedTargets());

  it('returns 401 without a token', async () => {
    assertGraphError(
      await patch(userStatusUrl(), { status: 'compliant' }, { token: null }),
      401,
      'InvalidAuthenticationToken',
      'Access token is empty.',
    );
  });

  it('returns 401 for an unknown token and counts it', async () => {
    assertGraphError(
      await patch(userStatusUrl(), { status: 'compliant' }, { token: 'forged' }),
      401,
      'InvalidAuthenticationToken',
      'Access token validation failure.',
    );
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
  beforeEach(() => seedTargets());

  it('answers 429 with a fractional Retry-After (option), counts refusals, and recovers', async () => {
    // Kinder than Graph (whole seconds): tenths show the bucket arithmetic that whole seconds would round away.
    sim.configure({
      throttleShape: { fractionalRetryAfter: true },
      budget: { perApp: { limit: 5, windowMs: 1000 }, perTenant: { limit: 100, windowMs: 1000 } },
    });
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
  beforeEach(() => seedTargets());

  it('counts stale writes by instant, not by string', async () => {
    await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-02T00:00:00Z' });
    // Lexically older but an hour later as an instant: not stale.
    await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-01T23:00:00-02:00' });
    assert.equal(sim.counters().staleWrites, 0);
    // Lexically newer but earlier as an instant: stale, and applied anyway.
    const res = await patch(userStatusUrl(), { lastReportedDateTime: '2024-01-02T00:30:00+01:00' });
    assert.equal(res.status, 200);
    assert.equal(res.json.lastReportedDateTime, '2024-01-01T23:30:00.0000000Z', 'stored and answered in UTC');
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
  beforeEach(() => seedTargets());

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
      seedTargets();
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

function seed(
  count: number,
  configId = 'cfg-1',
  collection: 'mobileAppConfigurations' | 'iosLobAppProvisioningConfigurations' = 'mobileAppConfigurations',
): void {
  sim.drift(
    Array.from({ length: count }, (_, i) => ({
      collection,
      configId,
      userStatusId: `u-${i}`,
      values: { status: 'compliant', devicesCount: i, userDisplayName: `U ${i}` },
    })),
  );
}

describe('reads', () => {
  it('lists a configuration page by page through @odata.nextLink with a $skiptoken, honouring $select and $top', async () => {
    seed(250);
    seed(3, 'cfg-2');
    const seen: any[] = [];
    let url: string | undefined = listUrl('cfg-1', '?$select=id,status,devicesCount&$top=100');
    let pages = 0;
    while (url) {
      const res = await get(url);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      pages++;
      seen.push(...res.json.value);
      const link: string | undefined = res.json['@odata.nextLink'];
      if (link) {
        // Graph's own form: absolute on graph.microsoft.com, the key in parentheses, skipCount%3d<n>.
        assert.equal(
          link,
          "https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses" +
            `?$select=id,status,devicesCount&$top=100&$skiptoken=skipCount%3d${pages * 100}`,
        );
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
    assert.deepEqual(
      seen[7],
      { '@odata.type': ODATA_TYPE, id: 'u-7', status: 'compliant', devicesCount: 7 },
      'only the selected properties, and the type',
    );
    const c = sim.counters();
    assert.equal(c.reads, 3);
    assert.deepEqual(c.readsByStatus, { '200': 3 });
    assert.equal(c.requests, 0, 'reads are not PATCHes');
  });

  it(
    "accepts the ('id') key form on requests, for lists and single statuses, and " + 'writes nextLinks on a national host when told',
    async () => {
      seed(5);
      sim.configure({ pageSize: 2, nextLinkHost: 'https://graph.microsoft.us' });
      try {
        const keyed = await get(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses`);
        assert.equal(keyed.status, 200, JSON.stringify(keyed.json));
        assert.deepEqual(
          keyed.json.value.map((v: { id: string }) => v.id),
          ['u-0', 'u-1'],
        );
        assert.equal(
          keyed.json['@odata.nextLink'],
          "https://graph.microsoft.us/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses?$skiptoken=skipCount%3d2",
        );
        const encoded = await get(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations(%27cfg-1%27)/userStatuses/u-3`);
        assert.equal(encoded.json.id, 'u-3');
        assertGraphError(
          await get(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations(cfg-1)/userStatuses`),
          404,
          'ResourceNotFound',
        );
      } finally {
        sim.configure({ pageSize: 100, nextLinkHost: 'https://graph.microsoft.com' });
      }
    },
  );

  it("keeps the kinder nextLink (on the request's own Host, the path as requested) as option nextLinkForm: 'kinder'", async () => {
    seed(3);
    sim.configure({ pageSize: 2, nextLinkForm: 'kinder' });
    try {
      const first = await get(listUrl());
      const link: string = first.json['@odata.nextLink'];
      assert.ok(link.startsWith(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses?`), link);
      const second = await get(link);
      assert.deepEqual(
        second.json.value.map((v: { id: string }) => v.id),
        ['u-2'],
      );
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
      const last = await get(
        listUrl('cfg-1', '?$top=12&$skiptoken=' + encodeURIComponent(new URL(big.json['@odata.nextLink']).searchParams.get('$skiptoken')!)),
      );
      assert.equal(last.json.value[0].id, 'u-12');
    } finally {
      sim.configure({ pageSize: 100, maxPageSize: 1000 });
    }
  });

  it(
    'refuses an unknown $select property, a bad $top and a forged $skiptoken; an ' +
      'empty configuration lists nothing; a missing one is 404',
    async () => {
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
    },
  );

  it('gets one user status with $select, and lets a read-only app read but not write', async () => {
    seed(2);
    const one = await get(`${userStatusUrl('cfg-1', 'u-1')}?$select=userDisplayName`);
    assert.deepEqual(one.json, { '@odata.type': ODATA_TYPE, userDisplayName: 'U 1' }, 'only what $select names: no id unless named');
    sim.configure({
      tokens: { ...TOKENS, reader: { tenantId: 'sim-tenant', appId: 'reader-app', permissions: ['DeviceManagementApps.Read.All'] } },
    });
    assert.equal((await get(listUrl(), 'reader')).status, 200);
    assert.equal((await patch(userStatusUrl('cfg-1', 'u-1'), { status: 'error' }, { token: 'reader' })).status, 403);
  });

  it('throttles reads on the "any request" budget, which writes are charged to as well', async () => {
    seedTargets([['cfg-1', 'user-1']]);
    sim.configure({ anyBudget: { perApp: { limit: 4, windowMs: 1000 }, perTenant: { limit: 100, windowMs: 1000 } } });
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 200);
    assert.equal((await patch(userStatusUrl(), { status: 'error' })).status, 200);
    assert.equal((await get(listUrl())).status, 200);
    assert.equal((await get(userStatusUrl())).status, 200);
    const refused = await get(listUrl());
    assertGraphError(refused, 429, 'TooManyRequests', 'request budget');
    // Two tokens short at 4/s is 500 ms: Graph says 1 (whole seconds, rounded up).
    assert.equal(refused.headers.get('retry-after'), '1');
    const write = await patch(userStatusUrl(), { status: 'remediated' });
    assert.equal(write.status, 429, 'a write is refused when the any-request budget is spent');
    assert.deepEqual(sim.counters().readsByStatus, { '200': 2, '429': 1 });
    clock.ms += Number(write.headers.get('retry-after')) * 1000;
    assert.equal((await get(listUrl())).status, 200);
  });

  it('has no any-request throttling when started with budget: false, unless configured', async () => {
    const plain = await startSimulator({ budget: false });
    try {
      for (let i = 0; i < 30; i++)
        assert.equal(
          (
            await fetch(`${plain.url}/beta/deviceAppManagement/mobileAppConfigurations/c/userStatuses`, {
              headers: { authorization: 'Bearer sim-token' },
            })
          ).status,
          200,
        );
      plain.configure({ anyBudget: { perApp: { limit: 1, windowMs: 60_000 } } });
      const url = `${plain.url}/beta/deviceAppManagement/mobileAppConfigurations/c/userStatuses`;
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer sim-token' } })).status, 200);
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer sim-token' } })).status, 429);
    } finally {
      await plain.close();
    }
  });

  it("drift changes and deletes stored values behind the client's back, over HTTP too, without counting as writes", async () => {
    seedTargets([['cfg-1', 'user-1']]);
    assert.equal((await patch(userStatusUrl(), { status: 'compliant', devicesCount: 1 })).status, 200);
    const res = await fetch(`${sim.url}/_sim/drift`, {
      method: 'POST',
      body: JSON.stringify({
        changes: [
          { configId: 'cfg-1', userStatusId: 'user-1', values: { status: 'nonCompliant' } },
          { collection: 'iosLobAppProvisioningConfigurations', configId: 'cfg-9', userStatusId: 'new', values: { devicesCount: 4 } },
        ],
      }),
    });
    assert.deepEqual(await res.json(), { ok: true, changed: 2 });
    const state = sim.state();
    assert.deepEqual(state['mobileAppConfigurations/cfg-1/user-1'], {
      '@odata.type': ODATA_TYPE,
      id: 'user-1',
      status: 'nonCompliant',
      devicesCount: 1,
    });
    assert.deepEqual(state['iosLobAppProvisioningConfigurations/cfg-9/new'], { '@odata.type': ODATA_TYPE, id: 'new', devicesCount: 4 });
    assert.equal(sim.counters().applied, 1);
    sim.drift([{ configId: 'cfg-1', userStatusId: 'user-1', values: null }]);
    assert.deepEqual((await get(listUrl())).json.value, []);
    const bad = await fetch(`${sim.url}/_sim/drift`, {
      method: 'POST',
      body: JSON.stringify({ changes: [{ configId: 'cfg-1', userStatusId: 'x', values: { id: 'y' } }] }),
    });
    assert.equal(bad.status, 400);
    assert.equal((await fetch(`${sim.url}/_sim/drift`, { method: 'POST', body: '{"changes": 3}' })).status, 400);
  });
});

describe('admin routes', () => {
  beforeEach(() => seedTargets());

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
    assert.deepEqual(
      requests.map((r: { status: number }) => r.status),
      [404, 504, 200],
    );

    const badConfig = await fetch(`${sim.url}/_sim/configure`, { method: 'POST', body: JSON.stringify({ faults: { rate503: 2 } }) });
    assert.equal(badConfig.status, 400);

    assert.equal((await fetch(`${sim.url}/_sim/reset`, { method: 'POST' })).status, 200);
    assert.deepEqual(sim.state(), {});
    assert.equal(sim.counters().requests, 0);
    assert.equal(sim.requestLog().length, 0);
  });
});

describe("Graph's defaults, and the kinder options that remain", () => {
  it('refuses a PATCH of a user status that does not exist with 404 ResourceNotFound; createOnPatch creates it', async () => {
    const missing = await patch(userStatusUrl('cfg-1', 'nobody'), { status: 'compliant' });
    assertGraphError(missing, 404, 'ResourceNotFound', "'nobody'");
    assert.deepEqual(sim.state(), {});
    assert.equal(sim.counters().applied, 0);
    assert.deepEqual(sim.counters().byStatus, { '404': 1 });
    // An invalid body is still a 400: Graph validates before it looks the object up.
    assertGraphError(await patch(userStatusUrl('cfg-1', 'nobody'), { status: 'bogus' }), 400, 'BadRequest');

    // Kinder than Graph, for a test that has nothing to seed: the write creates the object.
    sim.configure({ createOnPatch: true });
    assert.equal((await patch(userStatusUrl('cfg-1', 'nobody'), { status: 'compliant' })).status, 200);
    assert.deepEqual(sim.state()['mobileAppConfigurations/cfg-1/nobody'], { '@odata.type': ODATA_TYPE, id: 'nobody', status: 'compliant' });
  });

  it('seeds the user statuses a CSV names in a pre-import state (POST /_sim/seed, CSV or rows), leaving existing ones alone', async () => {
    sim.drift([{ configId: 'cfg-1', userStatusId: 'held', values: { status: 'error' } }]);
    const csv = [
      'ConfigurationId, UserStatusId ,configurationType,userPrincipalName',
      'cfg-1,held,,x@contoso.example',
      'cfg-1,u-a,,a@contoso.example',
      'cfg-ios,u-b,iosLobAppProvisioningConfiguration,',
      ',no-config,,',
      'cfg-1,u-a,,a@contoso.example',
      '',
    ].join('\n');
    const res = await fetch(`${sim.url}/_sim/seed`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
    assert.deepEqual(await res.json(), { ok: true, created: 2, existing: 1 });
    const state = sim.state();
    assert.deepEqual(
      state['mobileAppConfigurations/cfg-1/held'],
      { '@odata.type': ODATA_TYPE, id: 'held', status: 'error' },
      'an existing status is left as it is',
    );
    assert.deepEqual(state['mobileAppConfigurations/cfg-1/u-a'], {
      '@odata.type': ODATA_TYPE,
      id: 'u-a',
      userDisplayName: 'Seeded user',
      devicesCount: 0,
      status: 'unknown',
      lastReportedDateTime: '2026-01-01T00:00:00.0000000Z',
      userPrincipalName: 'a@contoso.example',
    });
    assert.equal(state['iosLobAppProvisioningConfigurations/cfg-ios/u-b'].status, 'unknown');
    assert.equal(Object.keys(state).length, 3, 'a row without a configurationId names nothing Graph could hold');
    assert.equal(sim.counters().applied, 0, 'seeding is not a write through Graph');

    const rows = await fetch(`${sim.url}/_sim/seed`, {
      method: 'POST',
      body: JSON.stringify({ rows: [{ configurationId: 'cfg-2', userStatusId: 'u-c', tenantId: 'OTHER-Tenant' }] }),
    });
    assert.deepEqual(await rows.json(), { ok: true, created: 1, existing: 0 });
    assert.ok(sim.state()['other-tenant|mobileAppConfigurations/cfg-2/u-c'], 'a tenantId seeds that tenant');
    assert.equal((await patch(userStatusUrl('cfg-1', 'u-a'), { status: 'compliant' })).status, 200, 'a seeded status can be updated');

    assert.equal((await fetch(`${sim.url}/_sim/seed`, { method: 'POST', body: 'a,b\n1,2\n' })).status, 400);
    assert.equal((await fetch(`${sim.url}/_sim/seed`, { method: 'POST', body: '{"rows": 3}' })).status, 400);
  });

  it('$select answers only what it names (no id unless named); selectAddsId adds it', async () => {
    sim.drift([{ configId: 'cfg-1', userStatusId: 'u-1', values: { status: 'compliant', devicesCount: 2 } }]);
    assert.deepEqual((await get(listUrl('cfg-1', '?$select=status'))).json.value, [{ '@odata.type': ODATA_TYPE, status: 'compliant' }]);
    assert.deepEqual((await get(listUrl('cfg-1', '?$select=id,status'))).json.value, [
      { '@odata.type': ODATA_TYPE, id: 'u-1', status: 'compliant' },
    ]);
    // Kinder than Graph: a client that forgets to ask for the id still gets it.
    sim.configure({ selectAddsId: true });
    assert.deepEqual((await get(listUrl('cfg-1', '?$select=status'))).json.value, [
      { '@odata.type': ODATA_TYPE, id: 'u-1', status: 'compliant' },
    ]);
    assert.deepEqual((await get(`${userStatusUrl('cfg-1', 'u-1')}?$select=devicesCount`)).json, {
      '@odata.type': ODATA_TYPE,
      id: 'u-1',
      devicesCount: 2,
    });
  });

  it('stores and answers dates in UTC with seven fraction digits, whatever was written; echoDates keeps them as written', async () => {
    seedTargets([
      ['cfg-1', 'user-1'],
      ['cfg-1', 'user-2'],
    ]);
    const written = await patch(userStatusUrl(), { lastReportedDateTime: '2026-11-20T12:00:05.5+02:00' });
    assert.equal(written.json.lastReportedDateTime, '2026-11-20T10:00:05.5000000Z');
    assert.equal((await get(userStatusUrl())).json.lastReportedDateTime, '2026-11-20T10:00:05.5000000Z');
    await patch(userStatusUrl(), { lastReportedDateTime: '1969-12-31T23:59:59.9999999-01:00' });
    assert.equal((await get(listUrl())).json.value[0].lastReportedDateTime, '1970-01-01T00:59:59.9999999Z', 'before 1970 too');
    sim.drift([{ configId: 'cfg-1', userStatusId: 'user-2', values: { lastReportedDateTime: '2026-11-20T10:00:05-05:00' } }]);
    assert.equal(
      sim.state()['mobileAppConfigurations/cfg-1/user-2'].lastReportedDateTime,
      '2026-11-20T15:00:05.0000000Z',
      'what Graph holds, however it got there',
    );

    // Kinder than Graph: a client that compares dates as strings would pass.
    sim.configure({ echoDates: true });
    assert.equal(
      (await patch(userStatusUrl(), { lastReportedDateTime: '2026-11-20T12:00:05+02:00' })).json.lastReportedDateTime,
      '2026-11-20T12:00:05+02:00',
    );
  });

  it('answers 429s with whole-second Retry-After, some without one and some with an HTML body, reproducibly per seed', async () => {
    const shapes = async (): Promise<string[]> => {
      sim.reset();
      seedTargets([['cfg-1', 'user-1']]);
      sim.configure({
        throttleShape: { missingRetryAfterShare: 0.25, htmlBodyShare: 0.125 },
        budget: { perApp: { limit: 1, windowMs: 1000 }, perTenant: { limit: 100, windowMs: 1000 } },
      });
      assert.equal((await patch(userStatusUrl(), { devicesCount: 1 })).status, 200);
      const seen: string[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await fetch(userStatusUrl(), {
          method: 'PATCH',
          headers: { authorization: 'Bearer sim-token', 'content-type': 'application/json' },
          body: '{"devicesCount":2}',
        });
        const text = await res.text();
        assert.equal(res.status, 429, `${i} ${text}`);
        const retryAfter = res.headers.get('retry-after');
        if (retryAfter !== null) assert.match(retryAfter, /^[1-9]\d*$/, 'whole seconds');
        const html = (res.headers.get('content-type') ?? '').startsWith('text/html');
        if (html) assert.match(text, /<html>/);
        else assert.equal(JSON.parse(text).error.code, 'TooManyRequests');
        seen.push(`${retryAfter === null ? 'none' : 's'}/${html ? 'html' : 'json'}`);
      }
      return seen;
    };
    const first = await shapes();
    assert.ok(
      first.some((s) => s.startsWith('none')),
      'some 429s carry no Retry-After',
    );
    assert.ok(
      first.some((s) => s.endsWith('html')),
      'some 429s are not Graph JSON',
    );
    assert.ok(first.filter((s) => s === 's/json').length > 20, 'most are as Graph documents them');
    assert.deepEqual(await shapes(), first, 'the same seed gives the same shapes');
    assert.equal(sim.counters().throttled, 40);
    // GET 429s have the same shape.
    sim.configure({
      throttleShape: { missingRetryAfterShare: 1, htmlBodyShare: 1 },
      anyBudget: { perApp: { limit: 1, windowMs: 60_000 } },
    });
    assert.equal((await get(listUrl())).status, 200);
    const read = await fetch(listUrl(), { headers: { authorization: 'Bearer sim-token' } });
    assert.equal(read.status, 429);
    assert.equal(read.headers.get('retry-after'), null);
    assert.match(await read.text(), /^<!DOCTYPE html>/);
  });

  it('gives reads the same faults as writes (503, 504, drops, slowness), unless faultsOnWritesOnly', async () => {
    sim.drift([{ configId: 'cfg-1', userStatusId: 'u-1', values: { status: 'compliant' } }]);
    sim.configure({ faults: { rate503: 1, retryAfter503Seconds: 2 } });
    const unavailable = await get(listUrl());
    assertGraphError(unavailable, 503, 'ServiceUnavailable');
    assert.equal(unavailable.headers.get('retry-after'), '2');
    assertGraphError(await get(userStatusUrl('cfg-1', 'u-1')), 503, 'ServiceUnavailable');
    sim.configure({ faults: { rate503: 0, rate504: 1 } });
    assertGraphError(await get(listUrl()), 504, 'GatewayTimeout');
    sim.configure({ faults: { rate504: 0, rateDrop: 1 } });
    await assert.rejects(get(listUrl()));
    sim.configure({ faults: { rateDrop: 0, rateSlow: 1, slowMs: 250 } });
    assert.equal((await get(listUrl())).status, 200);
    assert.deepEqual(clock.delays, [250]);
    assert.deepEqual(sim.counters().readsByStatus, { '503': 2, '504': 1, dropped: 1, '200': 1 });

    // Kinder than Graph: a test about writes alone can keep its reads clean.
    sim.configure({ faultsOnWritesOnly: true, faults: { rateSlow: 0, rate503: 1 } });
    assert.equal((await get(listUrl())).status, 200);
  });

  it('injectNext forces GET answers with method GET, and PATCH answers by default', async () => {
    seedTargets([['cfg-1', 'user-1']]);
    sim.injectNext(1, { method: 'GET', status: 503, retryAfter: 1 });
    sim.injectNext(1, { method: 'GET', status: 0, drop: true });
    sim.injectNext(1, { status: 504 });
    assert.equal((await patch(userStatusUrl(), { status: 'compliant' })).status, 504, 'the PATCH queue is its own');
    assertGraphError(await get(listUrl()), 503, 'ServiceUnavailable');
    await assert.rejects(get(userStatusUrl()));
    assert.equal((await get(listUrl())).status, 200);
    // A 2xx forced on a GET answers normally and skips the faults.
    sim.configure({ faults: { rate503: 1 } });
    sim.injectNext(1, { method: 'GET', status: 200 });
    assert.equal((await get(listUrl())).status, 200);
    assert.equal((await get(listUrl())).status, 503);
    assert.throws(() => sim.injectNext(1, { method: 'DELETE' as 'GET', status: 500 }), /method/);
  });
});

describe('simulate command', () => {
  it(
    '--seed-from seeds what a CSV names before it listens; --create-on-patch, ' +
      '--retry-after-missing and --throttle-html set the options',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'csync-simulate-'));
      const csv = join(dir, 'rows.csv');
      await writeFile(csv, 'configurationId,userStatusId,configurationType\ncfg-a,u-1,\ncfg-b,u-2,iosLobAppProvisioningConfiguration\n');
      const start = async (args: string[]) => {
        const child = spawn(process.execPath, [BIN, 'simulate', '--port', '0', ...args], {
          cwd: REPO_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const [line] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string];
        return { child, info: JSON.parse(line.split('\n')[0]) as { url: string; seeded?: number } };
      };
      const stop = async (child: ChildProcess) => {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      };
      const send = (url: string, path: string) =>
        fetch(`${url}/beta/deviceAppManagement/${path}`, {
          method: 'PATCH',
          headers: { authorization: 'Bearer sim-token', 'content-type': 'application/json' },
          body: '{"status":"compliant"}',
        });
      try {
        const seeded = await start(['--seed-from', csv, '--retry-after-missing', '0.5', '--throttle-html', '0.25']);
        try {
          assert.equal(seeded.info.seeded, 2);
          assert.equal((await send(seeded.info.url, 'iosLobAppProvisioningConfigurations/cfg-b/userStatuses/u-2')).status, 200);
          assert.equal(
            (await send(seeded.info.url, 'mobileAppConfigurations/cfg-a/userStatuses/nobody')).status,
            404,
            'Graph-like: no create on PATCH',
          );
          const options = (await (await fetch(`${seeded.info.url}/_sim/configure`, { method: 'POST', body: '{}' })).json()) as {
            options: { throttleShape: unknown; createOnPatch: boolean };
          };
          assert.deepEqual(options.options.throttleShape, {
            missingRetryAfterShare: 0.5,
            htmlBodyShare: 0.25,
            fractionalRetryAfter: false,
          });
          assert.equal(options.options.createOnPatch, false);
        } finally {
          await stop(seeded.child);
        }
        const kind = await start(['--create-on-patch']);
        try {
          assert.equal((await send(kind.info.url, 'mobileAppConfigurations/cfg-a/userStatuses/nobody')).status, 200);
        } finally {
          await stop(kind.child);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
