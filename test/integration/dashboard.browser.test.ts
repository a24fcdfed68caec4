import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { RawRow, RunStatus } from '../../src/interfaces.js';
import { importRun } from '../../src/producer/import-run.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { ResultStore } from '../../src/results/store.js';
import { launchBrowser } from '../support/browser.js';
import { reasonId } from '../../src/server/run-view.js';
import { seedRecords, startInProcessWorker, startTestEnv, waitForRun, type TestEnv } from '../support/harness.js';
import { API_TOKEN, eventRecord, postEvents, startTestServer, type TestServer } from '../support/server-helpers.js';

const XSS_STATUS = '<img src=x onerror="window.__xss=1">';
const HOSTILE_SOURCE = '<b>bold</b> upload.csv';

let t: TestEnv;
let server: TestServer;
let browser: Browser;
let eventRun: RunStatus;
let bulkRun: RunStatus;

before(async () => {
  t = await startTestEnv('dashboard-browser', { sim: { missingConfigurations: ['cfg-6'] } });
  server = await startTestServer(t);
  const worker = await startInProcessWorker(t);
  try {
    // An event run with one row Graph refuses (cfg-6 does not exist) and one rejected row that tries to inject markup.
    seedRecords(t.sim, [
      ...[1, 2, 3, 4, 5, 6, 8].map((i) => eventRecord(i)),
      ...Array.from({ length: 10 }, (_, k) => eventRecord(20 + k, { configs: 5 })),
    ]);
    const posted = await postEvents(server.url, [
      ...[1, 2, 3, 4, 5, 6].map((i) => eventRecord(i)),
      { ...eventRecord(8), status: XSS_STATUS },
    ]);
    assert.equal(posted.status, 207, JSON.stringify(posted.json));
    const store = new ResultStore(t.redis, t.prefix);
    const queue = createPatchQueue(t.redis, t.prefix);
    const rows = (async function* (): AsyncGenerator<RawRow> {
      for (let i = 20; i < 30; i++) yield { line: i, fields: eventRecord(i, { configs: 5 }) };
    })();
    await importRun(store, queue, { runId: 'bulk-for-dashboard', rows, sourceLabel: HOSTILE_SOURCE });
    await queue.close();
    eventRun = await waitForRun(t.redis, t.prefix, posted.json.runId, 30_000);
    bulkRun = await waitForRun(t.redis, t.prefix, 'bulk-for-dashboard', 30_000);
  } finally {
    await worker.close();
  }
  // /usr/bin/chromium when installed, else the npm package's Chromium (test/support/browser.ts); never skipped.
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await t?.close();
});

describe('dashboard in a real browser', () => {
  it('signs in, shows each run with its numbers, escapes hostile text, and links to the failed rows', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const first = await page.goto(`${server.url}/admin/runs`);
    assert.equal(first?.status(), 401, 'no session yet: the login form');
    await page.fill('#token', API_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/admin/runs`), page.click('button[type=submit]')]);

    const row = page.locator(`tr[data-run-id="${eventRun.runId}"]`);
    assert.equal(eventRun.state, 'completed_with_errors');
    assert.equal(await row.locator('[data-field=state]').textContent(), eventRun.state);
    for (const field of ['total', 'rejected', 'pending', 'succeeded', 'failed', 'unchanged', 'superseded'] as const) {
      assert.equal(await row.locator(`[data-field=${field}]`).textContent(), String(eventRun[field]), field);
    }
    assert.deepEqual([eventRun.total, eventRun.succeeded, eventRun.failed, eventRun.rejected], [7, 5, 1, 1]);
    assert.equal(await row.locator('[data-field=progress]').textContent(), '7/7');
    assert.equal(
      await row.locator('[data-field=throttled]').textContent(),
      `${eventRun.throttledCount} × / ${(eventRun.throttledMs / 1000).toFixed(1)} s`,
    );

    const bulk = page.locator('tr[data-run-id="bulk-for-dashboard"]');
    assert.equal(await bulk.locator('[data-field=succeeded]').textContent(), String(bulkRun.succeeded));
    assert.equal(bulkRun.succeeded, 10);
    assert.ok((await bulk.textContent())!.includes(HOSTILE_SOURCE), 'the source label is shown as text');
    assert.equal(await bulk.locator('b').count(), 0, 'and not as markup');
    await page.screenshot({ path: join(t.dir, 'runs.png'), fullPage: true });

    await Promise.all([page.waitForURL(/\/admin\/runs\/.+\?state=failed$/), row.locator('[data-field=failed-link]').click()]);
    const failedRows = page.locator('#rows tbody tr');
    assert.equal(await failedRows.count(), 1);
    assert.equal(await failedRows.first().getAttribute('data-line'), '6');
    assert.match((await failedRows.first().textContent())!, /failed.*404/s);

    await page.goto(`${server.url}/admin/runs/${encodeURIComponent(eventRun.runId)}?state=rejected`);
    const rejected = page.locator('#rows tbody tr');
    assert.equal(await rejected.count(), 1);
    assert.ok((await rejected.textContent())!.includes(XSS_STATUS), 'the hostile value is shown as text');
    assert.equal(await page.locator('#rows img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    await context.close();
  });

  it('serves Bull Board behind the same session, and forgets the session on logout', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    assert.equal((await page.goto(`${server.url}/admin/queues`))?.status(), 401);
    await page.fill('#token', API_TOKEN);
    await Promise.all([page.waitForURL(`${server.url}/admin/queues`), page.click('button[type=submit]')]);
    // Bull Board is a single-page app: its queue list arrives through its own API, which the cookie authorises.
    await page.getByText('patch-user-status').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(t.dir, 'queues.png'), fullPage: true });
    // Bull Board links back to the runs pages, from its header's menu.
    await page.locator('header button[aria-haspopup="menu"]').click();
    const runsLink = page.getByText('Runs', { exact: true });
    await runsLink.waitFor({ timeout: 15_000 });
    await Promise.all([page.waitForURL(`${server.url}/admin/runs`), runsLink.click()]);
    await page.goto(`${server.url}/admin/queues`);

    await page.goto(`${server.url}/admin/logout`);
    assert.equal((await page.goto(`${server.url}/admin/runs`))?.status(), 401);
    const api = await context.request.get(`${server.url}/admin/queues/api/queues`);
    assert.equal(api.status(), 401);
    await context.close();
  });
});

/** The README's picture of a run page: RUN_PAGE_SCREENSHOT=docs/run-page.png writes it there too. */
const RUN_PAGE_SCREENSHOT = process.env.RUN_PAGE_SCREENSHOT;
const HOSTILE_GRAPH_MESSAGE = '<img src=x onerror="window.__xss=1">The configuration was not found.';
/** The write budget of the paced run: 2 rows per second, 20 per 10 s bar. */
const PACED_BUDGET = '2/s';

describe('a run page with grouped failures and the budget line, in a real browser', () => {
  let paced: TestEnv;
  let pacedServer: TestServer;
  let pacedRun: RunStatus;

  before(async () => {
    // 40 rows sent at 2 per second (about 20 s, three bars), so the bars reach the budget line. Graph refuses some:
    // cfg-6 does not exist (5 rows), the first 3 PATCHes get 422, the next 2 a 404 whose message holds markup.
    paced = await startTestEnv('dashboard-paced', { sim: { missingConfigurations: ['cfg-6'] } });
    pacedServer = await startTestServer(paced, { env: { SYNC_RATE_LIMIT: PACED_BUDGET } });
    seedRecords(
      paced.sim,
      Array.from({ length: 40 }, (_, k) => eventRecord(k + 1)),
    );
    paced.sim.injectNext(3, { status: 422, code: 'UnprocessableEntity', message: 'The entity could not be processed.' });
    paced.sim.injectNext(2, { status: 404, code: 'ResourceNotFound', message: HOSTILE_GRAPH_MESSAGE });
    const worker = await startInProcessWorker(paced, { concurrency: 1 }, { SYNC_RATE_LIMIT: PACED_BUDGET });
    try {
      const store = new ResultStore(paced.redis, paced.prefix);
      const queue = createPatchQueue(paced.redis, paced.prefix);
      const rows = (async function* (): AsyncGenerator<RawRow> {
        for (let i = 1; i <= 40; i++) yield { line: i, fields: eventRecord(i) };
      })();
      await importRun(store, queue, { runId: 'paced-with-failures', rows, sourceLabel: 'paced.csv' });
      await queue.close();
      pacedRun = await waitForRun(paced.redis, paced.prefix, 'paced-with-failures', 90_000);
    } finally {
      await worker.close();
    }
  });

  after(async () => {
    await pacedServer?.close();
    await paced?.close();
  });

  it('shows each failure reason with its count (escaped), links it to exactly its rows, draws the budget line, and downloads', async () => {
    assert.equal(pacedRun.state, 'completed_with_errors');
    assert.equal(pacedRun.failed, 10);
    // What the page must show, read from the rows themselves.
    const expected = new Map<string, number>();
    for await (const row of new ResultStore(paced.redis, paced.prefix).iterateRows(pacedRun.runId, ['failed'])) {
      expected.set(row.reason!, (expected.get(row.reason!) ?? 0) + 1);
    }
    // 422, the 404 holding markup, and cfg-6's 404 for each of the two configuration types among its rows.
    assert.equal(expected.size, 4, [...expected.keys()].join(' | '));

    const context = await browser.newContext({ viewport: { width: 1100, height: 1000 } });
    const page = await context.newPage();
    await page.goto(`${pacedServer.url}/admin/login?next=${encodeURIComponent(`/admin/runs/${pacedRun.runId}`)}`);
    await page.fill('#token', API_TOKEN);
    await Promise.all([page.waitForURL(`${pacedServer.url}/admin/runs/${pacedRun.runId}`), page.click('button[type=submit]')]);

    const groups = page.locator('#failure-groups tr.reason-group');
    assert.equal(await groups.count(), expected.size);
    const shown = new Map<string, number>();
    for (let i = 0; i < (await groups.count()); i++) {
      const group = groups.nth(i);
      const reason = (await group.locator('[data-field=reason]').textContent())!;
      shown.set(reason, Number(await group.locator('[data-field=count]').textContent()));
    }
    assert.deepEqual(shown, expected, 'every reason, as text, with its count');
    assert.equal(await page.locator('#failure-groups img').count(), 0, 'a reason from Graph is never markup');
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.match((await page.locator('[data-field=throughput]').textContent())!, /^\d+ rows\/min/);
    assert.equal(await page.locator('[data-field=eta]').textContent(), 'done');
    assert.equal(await page.locator('progress').getAttribute('data-tone'), 'errors');
    assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 0, 'a finished run does not reload');

    // The budget line: 20 rows per 10 s bar, drawn across the plot, no bar above it.
    const budget = page.locator('svg#timeline g.budget');
    assert.equal(await budget.getAttribute('data-per-bar'), '20');
    assert.equal(await budget.getAttribute('data-on-scale'), 'true');
    const line = (await budget.locator('line.budget-line').boundingBox())!;
    assert.ok(line.width > 500, `the line spans the plot (${line.width} px)`);
    const bars = page.locator('svg#timeline g.bucket');
    for (let i = 0; i < (await bars.count()); i++) {
      const sent = Number(await bars.nth(i).getAttribute('data-succeeded')) + Number(await bars.nth(i).getAttribute('data-failed'));
      assert.ok(sent <= 20 + 2, `bar ${i}: ${sent} rows, within the budget (a bucket edge may split a second)`);
      const top = (await bars.nth(i).locator('rect.bar-failed').boundingBox())?.y ?? Infinity;
      assert.ok(top >= line.y - 6 || sent > 20, `bar ${i} stays under the line`);
    }
    await page.screenshot({ path: join(paced.dir, 'run-page.png'), fullPage: true });
    if (RUN_PAGE_SCREENSHOT) {
      // From the top of the page to the end of the timeline: the summary, the failure groups and the chart.
      const chart = (await page.locator('svg#timeline').boundingBox())!;
      const clip = { x: 0, y: 0, width: 1100, height: Math.ceil(chart.y + chart.height + 16) };
      await page.screenshot({ path: resolve(RUN_PAGE_SCREENSHOT), fullPage: true, clip });
    }

    // A group's link lists its rows and no others.
    const hostileReason = [...expected.keys()].find((r) => r.includes('<img'))!;
    const hostileId = reasonId(hostileReason);
    await Promise.all([page.waitForURL(new RegExp(`reasonId=${hostileId}$`)), page.locator(`[data-reason-id="${hostileId}"]`).click()]);
    const listed = page.locator('#rows tbody tr');
    assert.equal(await listed.count(), expected.get(hostileReason));
    for (let i = 0; i < (await listed.count()); i++) assert.ok((await listed.nth(i).textContent())!.includes(hostileReason));
    assert.equal(await page.locator('#rows img').count(), 0);

    // The download link works with the session cookie alone, and holds the group's rows.
    const href = (await page.locator('#download-csv').getAttribute('href'))!;
    const csv = await context.request.get(`${pacedServer.url}${href}`);
    assert.equal(csv.status(), 200);
    assert.equal((await csv.text()).trim().split('\n').length, 1 + expected.get(hostileReason)!);
    await context.close();
    const anonymous = await browser.newContext();
    assert.equal((await anonymous.request.get(`${pacedServer.url}${href}`)).status(), 401);
    await anonymous.close();
  });
});
