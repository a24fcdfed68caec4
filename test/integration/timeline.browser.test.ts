import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { RunStatus } from '../../src/interfaces.js';
import { ResultStore } from '../../src/results/store.js';
import { timelineBucket, type TimelineBucket } from '../../src/results/timeline.js';
import { launchBrowser } from '../support/browser.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import { API_TOKEN, authHeaders, startTestServer, type TestServer } from '../support/server-helpers.js';

/** A run imported from `rows` valid CSV rows and sent by one in-process worker until it ends. */
async function sendRun(t: TestEnv, rows: number, workerEnv: Record<string, string>): Promise<RunStatus> {
  const worker = await startInProcessWorker(t, {}, workerEnv);
  try {
    const csv = await writeTemp(t, `in-${rows}.csv`, [HEADER, ...seededValidRows(t.sim, rows), ''].join('\n'));
    const imported = await runCli(['import', csv, '--json', '--no-progress'], t.env);
    assert.equal(imported.code, 0, imported.stderr);
    return await waitForRun(t.redis, t.prefix, lastJsonLine<{ runId: string }>(imported.stdout).runId, 90_000);
  } finally {
    await worker.close();
  }
}

/** Rows that ended while being sent, per timeline bucket, read from the rows themselves. */
async function rowsPerBucket(t: TestEnv, runId: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for await (const row of new ResultStore(t.redis, t.prefix).iterateRows(runId, ['succeeded', 'failed'])) {
    const bucket = timelineBucket(row.finishedAt!);
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
  }
  return counts;
}

async function timelineJson(server: TestServer, runId: string): Promise<TimelineBucket[]> {
  const res = await fetch(`${server.url}/v1/runs/${runId}/timeline`, { headers: authHeaders() });
  assert.equal(res.status, 200);
  return ((await res.json()) as { buckets: TimelineBucket[] }).buckets;
}

async function signedInPage(browser: Browser, server: TestServer, path: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 860 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/admin/login?next=${encodeURIComponent(path)}`);
  await page.fill('#token', API_TOKEN);
  await Promise.all([page.waitForURL(`${server.url}${path}`), page.click('button[type=submit]')]);
  return page;
}

let paced: TestEnv;
let throttled: TestEnv;
let pacedServer: TestServer;
let throttledServer: TestServer;
let pacedRun: RunStatus;
let throttledRun: RunStatus;
let browser: Browser;

before(async () => {
  // 40 rows at 2 per second: about 20 s of sending, so the run spans several 10 s buckets, and no 429.
  paced = await startTestEnv('timeline-paced');
  pacedServer = await startTestServer(paced);
  // 60 rows against a Graph budget of 10 per 2 s: 429s, and cfg-6 is missing, so some rows fail.
  throttled = await startTestEnv('timeline-throttled', {
    sim: { budget: { perApp: { limit: 10, windowMs: 2000 } }, missingConfigurations: ['cfg-6'] },
  });
  throttledServer = await startTestServer(throttled);
  [pacedRun, throttledRun] = await Promise.all([
    sendRun(paced, 40, { SYNC_RATE_LIMIT: '2/s' }),
    sendRun(throttled, 60, { SYNC_RATE_LIMIT: '1000/s' }),
  ]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pacedServer?.close();
  await throttledServer?.close();
  await paced?.close();
  await throttled?.close();
});

describe('run timeline in a real browser', () => {
  it('shows one bar per 10 s bucket of a known run, each as high as the rows that finished in it, and no 429 marks', async () => {
    assert.equal(pacedRun.succeeded, 40);
    assert.equal(pacedRun.throttledCount, 0);
    const expected = await rowsPerBucket(paced, pacedRun.runId);
    const starts = [...expected.keys()].sort((a, b) => a - b);
    const expectedBars = (starts.at(-1)! - starts[0]) / 10 + 1;
    assert.ok(expectedBars >= 2, `40 rows at 2/s span more than one bucket (got ${expectedBars})`);

    const page = await signedInPage(browser, pacedServer, `/admin/runs/${pacedRun.runId}`);
    const chart = page.locator('svg#timeline');
    assert.ok(await chart.isVisible());
    const bars = chart.locator('g.bucket');
    assert.equal(await bars.count(), expectedBars);
    assert.equal(await chart.getAttribute('data-bar-seconds'), '10');
    for (let i = 0; i < expectedBars; i++) {
      const start = Date.parse((await bars.nth(i).getAttribute('data-start'))!) / 1000;
      assert.equal(start, starts[0] + i * 10);
      assert.equal(Number(await bars.nth(i).getAttribute('data-succeeded')), expected.get(start) ?? 0, `bucket ${i}`);
      const height = (await bars.nth(i).locator('rect.bar-succeeded').boundingBox())?.height ?? 0;
      assert.equal(height > 0, (expected.get(start) ?? 0) > 0, `bucket ${i} is drawn exactly when rows finished in it`);
    }
    assert.equal(await chart.locator('.mark-429').count(), 0);
    assert.equal(await chart.locator('.paused').count(), 0);
    assert.equal((await timelineJson(pacedServer, pacedRun.runId)).length, expectedBars, 'the API has the same buckets');
  });

  it("marks a throttled run's 429s in the buckets where Graph answered them, with the pause", async () => {
    assert.ok(throttledRun.throttledCount > 0, 'the simulator must have throttled some requests');
    assert.ok(throttledRun.failed > 0);
    const series = await timelineJson(throttledServer, throttledRun.runId);
    const throttledBuckets = series.filter((b) => b.throttled > 0);

    const page = await signedInPage(browser, throttledServer, `/admin/runs/${throttledRun.runId}`);
    const chart = page.locator('svg#timeline');
    assert.equal(await chart.locator('g.bucket').count(), series.length);
    const marks = chart.locator('.mark-429');
    assert.equal(await marks.count(), throttledBuckets.length);
    let marked = 0;
    for (let i = 0; i < (await marks.count()); i++) {
      assert.ok(await marks.nth(i).isVisible());
      marked += Number(await marks.nth(i).getAttribute('data-count'));
    }
    assert.equal(marked, throttledRun.throttledCount, 'every 429 of the run is marked');
    assert.equal(await chart.locator('.paused').count(), series.filter((b) => b.pausedMs > 0).length);
    assert.ok(
      (await chart.locator('rect.bar-failed').evaluateAll((rects) => rects.filter((r) => Number(r.getAttribute('height')) > 0).length)) > 0,
      'failed rows are drawn',
    );
    assert.match((await chart.textContent())!, new RegExp(`429s \\(${throttledRun.throttledCount}\\)`));

    // The page keeps its CSP: no script runs, so the chart is markup only.
    const response = await page.goto(page.url());
    assert.match(response!.headers()['content-security-policy'], /default-src 'none'/);
    assert.equal(await page.evaluate(() => document.scripts.length), 0);

    if (process.env.TIMELINE_SCREENSHOT)
      await page.screenshot({ path: process.env.TIMELINE_SCREENSHOT, clip: { x: 0, y: 0, width: 1000, height: 860 } });
  });
});
