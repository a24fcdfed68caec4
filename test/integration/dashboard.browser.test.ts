import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { RawRow, RunStatus } from '../../src/interfaces.js';
import { importRun } from '../../src/producer/import-run.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { ResultStore } from '../../src/results/store.js';
import { launchBrowser } from '../support/browser.js';
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
    seedRecords(t.sim, [...[1, 2, 3, 4, 5, 6, 8].map((i) => eventRecord(i)), ...Array.from({ length: 10 }, (_, k) => eventRecord(20 + k, { configs: 5 }))]);
    const posted = await postEvents(server.url, [...[1, 2, 3, 4, 5, 6].map((i) => eventRecord(i)), { ...eventRecord(8), status: XSS_STATUS }]);
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
    assert.equal(await row.locator('[data-field=throttled]').textContent(), `${eventRun.throttledCount} × / ${(eventRun.throttledMs / 1000).toFixed(1)} s`);

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

    await page.goto(`${server.url}/admin/logout`);
    assert.equal((await page.goto(`${server.url}/admin/runs`))?.status(), 401);
    const api = await context.request.get(`${server.url}/admin/queues/api/queues`);
    assert.equal(api.status(), 401);
    await context.close();
  });
});
