import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createTokenSource } from '../../src/graph/auth.js';
import { BadListingError, UnexpectedNextLinkError, UserStatusWriter } from '../../src/graph/client.js';
import { GraphRequestError } from '../../src/graph/errors.js';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { redisKeys } from '../../src/redis-layout.js';
import {
  HEADER,
  keysOf,
  lastJsonLine,
  runCli,
  seedGraph,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';

/** A stand-in for Graph (or a proxy in front of it) that answers as a hostile or broken one would. */
interface HostileGraph {
  url: string;
  requests: { method: string; url: string; authorization?: string }[];
  close(): Promise<void>;
}

async function hostileGraph(answer: (req: IncomingMessage, res: ServerResponse, hit: number) => void): Promise<HostileGraph> {
  const requests: HostileGraph['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => answer(req, res, requests.length));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const json = (res: ServerResponse, body: unknown, status = 200) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const writerFor = (baseUrl: string) =>
  new UserStatusWriter(
    { graphBaseUrl: baseUrl, apiVersion: 'beta', requestTimeoutMs: 10_000, cloud: 'global' },
    createTokenSource({
      credentials: { kind: 'accessToken', token: 'sim-token' },
      cloud: 'global',
      authorityHost: 'https://login.microsoftonline.com',
    }),
  );

async function listAll(writer: UserStatusWriter, configurationId: string, top?: number): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const page of writer.listUserStatuses('mobileAppConfiguration', configurationId, top === undefined ? {} : { top }))
    items.push(...page.items);
  return items;
}

/** A user-status listing's address as Graph writes it in a nextLink (absolute, the key in parentheses). */
const GRAPH_CFG1_STATUSES = "https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses";

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function env(name: string, options: Parameters<typeof startTestEnv>[1] = {}): Promise<TestEnv> {
  const t = await startTestEnv(name, options);
  cleanups.push(() => t.close());
  return t;
}

async function hostile(answer: Parameters<typeof hostileGraph>[0]): Promise<HostileGraph> {
  const h = await hostileGraph(answer);
  cleanups.push(() => h.close());
  return h;
}

/** The values a row of validRows sets, as Graph would hold them after our write. */
const rowValues = (columns: string[]) => ({
  userDisplayName: columns[3],
  devicesCount: Number(columns[4]),
  status: columns[5],
  lastReportedDateTime: columns[6],
  userPrincipalName: columns[7],
});

describe("nextLinks as Graph writes them, followed through GRAPH_BASE_URL (the simulator's default form)", () => {
  it(
    "reads every page of Graph-form ('id') nextLinks on graph.microsoft.com through " + 'GRAPH_BASE_URL, and sends nothing Graph holds',
    async () => {
      // The simulator's defaults: nextLinks absolute on https://graph.microsoft.com, unreachable from here unless re-hosted.
      const t = await env('trust-pages', { sim: { maxPageSize: 50 } });
      const rows = validRows(300, { configs: 1 });
      seedGraph(t.sim, rows, { values: rowValues });
      const res = await runCli(
        ['import', await writeTemp(t, 'all.csv', `${HEADER}\n${rows.join('\n')}\n`), '--reconcile', '--json'],
        t.env,
      );
      assert.equal(res.code, 0, res.stderr);
      const summary = lastJsonLine<{ enqueued: number; unchanged: number }>(res.stdout);
      assert.deepEqual([summary.enqueued, summary.unchanged], [0, 300]);
      // Listing pages only: the GETs of one status that confirm the listing's null UPNs (Intune's nulls) are counted apart.
      const reads = t.sim.requestLog().filter((e) => e.method === 'GET' && e.path.endsWith('/userStatuses'));
      // 75 iOS rows in 2 pages of 50, 225 Android rows in 5: every page, each once, all at the simulator.
      assert.equal(reads.length, 7);
      assert.deepEqual(
        reads.map((e) => e.status),
        [200, 200, 200, 200, 200, 200, 200],
      );
      assert.equal(new Set(reads.map((e) => e.path)).size, 2);
      assert.equal(t.sim.counters().requests, 0, 'no PATCH');
    },
  );
});

describe('the client trust boundary against a hostile Graph', () => {
  it('sends a nextLink whose query holds :// to GRAPH_BASE_URL, on the path we build, with the query intact', async () => {
    const g = await hostile((req, res, hit) =>
      json(
        res,
        hit === 1
          ? {
              value: [{ id: 'u-1' }],
              '@odata.nextLink': `${GRAPH_CFG1_STATUSES}?$skiptoken=http://beta/x://y&$top=5`,
            }
          : { value: [{ id: 'u-2' }] },
      ),
    );
    const items = await listAll(writerFor(g.url), 'cfg-1');
    assert.deepEqual(items, [{ id: 'u-1' }, { id: 'u-2' }]);
    assert.equal(g.requests.length, 2);
    const second = new URL(g.requests[1].url, g.url);
    assert.equal(second.pathname, '/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses');
    assert.equal(second.searchParams.get('$skiptoken'), 'http://beta/x://y');
    assert.deepEqual(
      g.requests.map((r) => r.authorization),
      ['Bearer sim-token', 'Bearer sim-token'],
    );
  });

  it('refuses a nextLink to another host before sending anything there', async () => {
    const elsewhere = await hostile((_req, res) => json(res, { value: [] }));
    const g = await hostile((_req, res) =>
      json(res, {
        value: [],
        '@odata.nextLink': `${elsewhere.url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses?$skiptoken=x`,
      }),
    );
    await assert.rejects(
      listAll(writerFor(g.url), 'cfg-1'),
      (err: Error) => err instanceof UnexpectedNextLinkError && /refusing to follow @odata\.nextLink/.test(err.message),
    );
    assert.equal(elsewhere.requests.length, 0);
  });

  it('stops a listing whose nextLink loops with exit 1 and a clear message, and leaves no temporary snapshot key', async () => {
    const t = await env('trust-loop');
    const g = await hostile((_req, res) =>
      json(res, {
        value: [{ id: 'user-1', status: 'compliant' }],
        '@odata.nextLink': `${GRAPH_CFG1_STATUSES}?$skiptoken=skipCount%3d1`,
      }),
    );
    const res = await runCli(
      ['import', await writeTemp(t, 'one.csv', `${HEADER}\n${validRows(1, { offset: 1 }).join('\n')}\n`), '--reconcile'],
      { ...t.env, GRAPH_BASE_URL: g.url },
    );
    assert.equal(res.code, 1, res.stderr);
    assert.match(
      res.stderr,
      /could not read mobileAppConfiguration\/cfg-1 from Graph: .*cfg-1 loops: page 2 links back to a page already read/,
    );
    assert.equal(g.requests.length, 2, 'the first page, the linked one, and not that one again');
    const keys = await keysOf(t);
    assert.deepEqual(
      keys.filter((k) => k.includes(':snapshot')),
      [],
      'neither a snapshot nor its temporary key',
    );
  });

  it('stops a listing that goes on far past what a configuration holds (a bound on pages)', async () => {
    const g = await hostile((req, res, hit) =>
      json(res, {
        value: [{ id: `u-${hit}` }],
        '@odata.nextLink': `${GRAPH_CFG1_STATUSES}?$skiptoken=skipCount%3d${hit}`,
      }),
    );
    const pages = writerFor(g.url).listUserStatuses('mobileAppConfiguration', 'cfg-1', { bounds: { maxPages: 25, maxItems: 1_000_000 } });
    await assert.rejects(
      (async () => {
        for await (const page of pages) void page;
      })(),
      (err: Error) =>
        err instanceof BadListingError && /goes on past 25 pages and 25 items, far more than a configuration holds/.test(err.message),
    );
    assert.equal(g.requests.length, 25);
  });

  it('fails a listing with a null item or an item without a string id, naming the configuration and the page (exit 1)', async () => {
    const t = await env('trust-null');
    const g = await hostile((req, res, hit) =>
      json(
        res,
        hit === 1
          ? {
              value: [{ id: 'user-9' }],
              '@odata.nextLink':
                `${(req.headers.host && `http://${req.headers.host}`) ?? ''}` +
                `/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses?$skiptoken=2`,
            }
          : { value: [{ id: 'user-10' }, null] },
      ),
    );
    const res = await runCli(
      ['import', await writeTemp(t, 'one.csv', `${HEADER}\n${validRows(1, { offset: 1 }).join('\n')}\n`), '--reconcile'],
      { ...t.env, GRAPH_BASE_URL: g.url },
    );
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /Graph's listing of mobileAppConfigurations\/cfg-1, page 2: item 2 is null/);
    const noId = await hostile((_req, res) => json(res, { value: [{ userPrincipalName: 'a@b' }] }));
    await assert.rejects(listAll(writerFor(noId.url), 'cfg-7'), /mobileAppConfigurations\/cfg-7, page 1: item 1 has no string id/);
  });

  it('fails a page over 16 MiB, or with more items than $top, with a message (no stack overflow)', async () => {
    const huge = await hostile((_req, res) => {
      // Chunked, no Content-Length: the bound holds while reading, not only on a declared size.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = `{"id":"${'x'.repeat(1000)}"},`;
      res.write('{"value":[');
      let sent = 0;
      const pump = () => {
        while (sent < 17 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end('{"id":"last"}]}');
      };
      pump();
    });
    await assert.rejects(
      listAll(writerFor(huge.url), 'cfg-1'),
      (err: Error) => err instanceof GraphRequestError && /over the 16 MiB that is read of one answer/.test(err.message),
    );
    const many = await hostile((_req, res) => json(res, { value: Array.from({ length: 200_000 }, (_, i) => ({ id: `u-${i}` })) }));
    await assert.rejects(listAll(writerFor(many.url), 'cfg-1', 1000), /page 1: holds 200000 items, more than the 1000 asked for \(\$top\)/);
  });

  it('never follows a redirect: a GET 302 fails the read naming the Location host (exit 1), and the target gets nothing', async () => {
    const t = await env('trust-redirect-get');
    const target = await hostile((_req, res) => json(res, { value: [] }));
    const g = await hostile((_req, res) => {
      res.writeHead(302, { location: `${target.url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses` });
      res.end();
    });
    const res = await runCli(
      ['import', await writeTemp(t, 'one.csv', `${HEADER}\n${validRows(1, { offset: 1 }).join('\n')}\n`), '--reconcile'],
      { ...t.env, GRAPH_BASE_URL: g.url },
    );
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /302: Graph answered with a redirect to Location host 127\.0\.0\.1:\d+; redirects are never followed/);
    assert.equal(target.requests.length, 0);
  });

  it('never follows a redirect on PATCH: the row fails naming the Location host, never succeeded', async () => {
    const t = await env('trust-redirect-patch');
    const target = await hostile((_req, res) => json(res, {}));
    const g = await hostile((_req, res) => {
      res.writeHead(307, { location: `${target.url}/beta/x` });
      res.end();
    });
    const rows = validRows(3, { offset: 1 });
    let worker: PatchWorker | undefined;
    try {
      worker = await startInProcessWorker(t, {}, { GRAPH_BASE_URL: g.url });
      const imported = await runCli(['import', await writeTemp(t, 'three.csv', `${HEADER}\n${rows.join('\n')}\n`), '--json'], t.env);
      assert.equal(imported.code, 0, imported.stderr);
      const runId = lastJsonLine<{ runId: string }>(imported.stdout).runId;
      const status = await waitForRun(t.redis, t.prefix, runId);
      assert.deepEqual([status.succeeded, status.failed], [0, 3]);
      const failed = (await runCli(['report', runId, '--state', 'failed', '--format', 'ndjson'], t.env)).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { reason: string; httpStatus: number });
      for (const row of failed) {
        assert.equal(row.httpStatus, 307);
        assert.match(row.reason, /^307: Graph answered with a redirect to Location host 127\.0\.0\.1:\d+; redirects are never followed$/);
      }
      assert.equal(target.requests.length, 0);
    } finally {
      await worker?.close();
    }
  });

  it("honours a 429's Retry-After on a body that is not Graph JSON, on writes and reads", async () => {
    const g = await hostile((_req, res) => {
      res.writeHead(429, { 'content-type': 'text/html', 'retry-after': '3' });
      res.end('<html><body><h1>429 Too Many Requests</h1></body></html>');
    });
    const writer = writerFor(g.url);
    const record = {
      configurationType: 'mobileAppConfiguration',
      configurationId: 'cfg-1',
      userStatusId: 'u-1',
      properties: { status: 'compliant' },
    } as const;
    await assert.rejects(
      writer.patch(record),
      (err: GraphRequestError) => err.kind === 'throttled' && err.retryAfterMs === 3000 && /not Graph JSON \(text\/html/.test(err.message),
    );
    await assert.rejects(listAll(writer, 'cfg-1'), (err: GraphRequestError) => err.kind === 'throttled' && err.retryAfterMs === 3000);
  });
});

describe('Retry-After and the fleet', () => {
  it(
    'caps a day-long Retry-After at SYNC_MAX_RETRY_AFTER; the pause shows in status ' +
      '--json and doctor, expires, and fails no row for age',
    async () => {
      const t = await env('trust-cap');
      const rows = validRows(6, { offset: 1 });
      seedGraph(t.sim, rows);
      // A row may be 2 s old at most, yet the pause lasts 6 s: time held by a pause is not counted against its age.
      const overrides = { SYNC_MAX_RETRY_AFTER: '6s', SYNC_MAX_ROW_AGE_MS: '2000' };
      t.sim.injectNext(1, { status: 429, retryAfter: 86_400 });
      let worker: PatchWorker | undefined;
      try {
        worker = await startInProcessWorker(t, { concurrency: 2 }, overrides);
        const imported = await runCli(['import', await writeTemp(t, 'six.csv', `${HEADER}\n${rows.join('\n')}\n`), '--json'], {
          ...t.env,
          ...overrides,
        });
        assert.equal(imported.code, 0, imported.stderr);
        const runId = lastJsonLine<{ runId: string }>(imported.stdout).runId;
        const startedAt = Date.now();
        while (!t.sim.requestLog().some((e) => e.status === 429)) {
          assert.ok(Date.now() - startedAt < 20_000, 'the injected 429 was answered');
          await new Promise((r) => setTimeout(r, 20));
        }
        const [status, doctor] = await Promise.all([
          runCli(['status', runId, '--json'], { ...t.env, ...overrides }),
          runCli(['doctor', '--json'], { ...t.env, ...overrides }),
        ]);
        const pauses = lastJsonLine<{ fleetPauses: { tenant: string; budget: string; until: string; remainingMs: number }[] }>(
          status.stdout,
        ).fleetPauses;
        assert.equal(pauses.length, 1, status.stdout);
        assert.deepEqual([pauses[0].tenant, pauses[0].budget], ['default', 'write']);
        assert.ok(pauses[0].remainingMs > 0 && pauses[0].remainingMs <= 6_000, `capped at 6 s, not a day: ${JSON.stringify(pauses[0])}`);
        assert.ok(Date.parse(pauses[0].until) <= Date.now() + 6_000);
        const check = lastJsonLine<{ checks: { name: string; result: string; detail: string }[] }>(doctor.stdout).checks.find(
          (c) => c.name === 'fleet.pause',
        );
        assert.equal(check?.result, 'warn', doctor.stdout);
        assert.match(
          check.detail,
          /^Graph's Retry-After pauses the fleet: tenant default writes until \d{4}-\d\d-\d\dT[\d:.]+Z \(\d s left\)$/,
        );
        const pttl = await t.redis.pttl(redisKeys(t.prefix).budget);
        assert.ok(pttl > 0 && pttl <= 3_600_000 + 6_000, `the stored pause expires (PTTL ${pttl})`);

        const done = await waitForRun(t.redis, t.prefix, runId, 30_000);
        assert.deepEqual([done.state, done.succeeded, done.failed], ['completed', 6, 0]);
        assert.ok(Date.now() - startedAt < 20_000, 'waited 6 s, not a day');
        const after = await runCli(['status', runId, '--json'], t.env);
        assert.deepEqual(lastJsonLine<{ fleetPauses: unknown[] }>(after.stdout).fleetPauses, [], 'no pause once it ended');
      } finally {
        await worker?.close();
      }
    },
  );

  it('429s without Retry-After: every row still succeeds, and the fleet stays within the budget', async () => {
    const t = await env('trust-no-retry-after', {
      sim: { budget: { perApp: { limit: 20, windowMs: 2_000 }, perTenant: { limit: 40, windowMs: 2_000 } } },
    });
    const rows = validRows(40, { offset: 1 });
    seedGraph(t.sim, rows);
    t.sim.injectNext(4, { status: 429 });
    let worker: PatchWorker | undefined;
    try {
      worker = await startInProcessWorker(t, { concurrency: 4 }, { SYNC_RATE_LIMIT: '8/s' });
      const imported = await runCli(['import', await writeTemp(t, 'forty.csv', `${HEADER}\n${rows.join('\n')}\n`), '--json'], t.env);
      assert.equal(imported.code, 0, imported.stderr);
      const done = await waitForRun(t.redis, t.prefix, lastJsonLine<{ runId: string }>(imported.stdout).runId, 60_000);
      assert.deepEqual([done.state, done.succeeded, done.failed], ['completed', 40, 0]);
      const counters = t.sim.counters();
      // Only the 4 injected 429s: the simulator's own buckets never refused the fleet, nor while it was told to wait.
      assert.equal(counters.byStatus['429'], 4);
      assert.equal(counters.refusedWhileThrottled, 0);
      assert.equal(counters.applied, 40);
    } finally {
      await worker?.close();
    }
  });
});

describe('reads meet the faults writes meet', () => {
  it('import --reconcile through 503s, 504s and dropped sockets on its GETs judges every row as a calm Graph would', async () => {
    // Pages of 10, so a listing is many GETs; the faults are forced on the first GETs (five in a row at most, so no
    // read runs out of its retries) rather than rolled, so the test does not depend on which GET comes first.
    const t = await env('trust-read-faults', { sim: { maxPageSize: 10, faults: { retryAfter503Seconds: 0 } } });
    for (const answer of [{ status: 503 }, { status: 504 }, { status: 0, drop: true }, { status: 503 }, { status: 504 }]) {
      t.sim.injectNext(1, { ...answer, method: 'GET' });
    }
    const rows = validRows(120, { configs: 2, offset: 1 });
    // Graph holds 100 rows as they are and 20 with another display name; every row's status exists.
    const renamed = (columns: string[]) => Number(columns[1].slice(5)) % 6 === 0;
    seedGraph(t.sim, rows, {
      values: (c) => ({
        userDisplayName: renamed(c) ? 'Renamed' : c[3],
        devicesCount: Number(c[4]),
        status: c[5],
        lastReportedDateTime: c[6],
        userPrincipalName: c[7],
      }),
    });
    const differing = rows.filter((row) => renamed(row.split(','))).length;
    const res = await runCli(
      ['import', await writeTemp(t, 'faulty.csv', `${HEADER}\n${rows.join('\n')}\n`), '--reconcile', '--json'],
      t.env,
      undefined,
      120_000,
    );
    assert.equal(res.code, 0, res.stderr);
    const summary = lastJsonLine<{ enqueued: number; unchanged: number }>(res.stdout);
    assert.deepEqual([summary.enqueued, summary.unchanged], [differing, rows.length - differing]);
    const reads = t.sim.counters().readsByStatus;
    assert.deepEqual([reads['503'], reads['504'], reads.dropped], [2, 2, 1], `the reads met every forced fault: ${JSON.stringify(reads)}`);
    assert.equal(t.sim.counters().requests, 0, 'no PATCH at import');
  });
});
