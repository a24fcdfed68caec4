import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RowResult, RunStatus } from '../../src/interfaces.js';
import { buildTimeline } from '../../src/results/timeline.js';
import { groupByReason, reasonId, runPace } from '../../src/server/run-view.js';
import { downloadHref, rowsHref, runPage } from '../../src/server/runs-page.js';
import { timelineChart } from '../../src/server/timeline-chart.js';

const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
const HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>';

const status = (over: Partial<RunStatus> = {}): RunStatus => ({
  runId: 'r1',
  state: 'completed_with_errors',
  total: 10,
  rejected: 0,
  pending: 0,
  succeeded: 7,
  failed: 3,
  unchanged: 0,
  superseded: 0,
  cancelled: 0,
  accepted: 10,
  enqueued: 10,
  importFinished: true,
  createdAt: T0,
  finishedAt: T0 + 60_000,
  throttledCount: 0,
  throttledMs: 0,
  ...over,
});

const failedRow = (line: number, reason: string, key = `k${line}`): RowResult => ({ line, key, state: 'failed', reason, httpStatus: 404 });

describe('run page', () => {
  it('groups failures by reason with counts, escaping a hostile reason and key, and links each group by its id', () => {
    const rows = [failedRow(1, HOSTILE, '<b>key</b>'), failedRow(2, HOSTILE), failedRow(3, '404 NotFound: no such configuration')];
    const html = runPage({ status: status(), state: 'failed', rows, failures: { ...groupByReason(rows), read: 3, of: 3 } });
    assert.ok(!html.includes('<script>alert(1)'), 'no script from a reason');
    assert.ok(!html.includes('<img src=x'), 'no markup from a reason');
    assert.ok(!html.includes('<b>key</b>'), 'no markup from a key');
    assert.ok(html.includes('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;'), 'the reason is shown as text');
    const link = `<a href="/admin/runs/r1\\?state=failed&amp;reasonId=${reasonId(HOSTILE)}" data-field="reason"\\s+data-reason-id=`;
    const countCell = '<td class="n" data-field="count">2</td>';
    assert.match(html, new RegExp(`<tr class="reason-group" data-count="2">${countCell}\\s*<td class="reason">${link}`));
    assert.match(html, /data-count="1"[^]*404 NotFound: no such configuration/);
  });

  it('says when groups come from only part of the failed rows', () => {
    const rows = [failedRow(1, 'x')];
    const html = runPage({ status: status(), rows, failures: { ...groupByReason(rows), read: 1, of: 80_000 } });
    assert.match(html, /Grouped from the first 1 of 80000 failed rows/);
  });

  it('refreshes while running with throughput and ETA, and stops once the run has ended', () => {
    const timeline = buildTimeline({ [`${T0 / 1000}:succeeded`]: '30', [`${T0 / 1000 + 10}:succeeded`]: '30' });
    const running = status({ state: 'running', pending: 120, succeeded: 60, failed: 0, finishedAt: undefined });
    const html = runPage({ status: running, rows: [], timeline, pace: runPace(running, timeline, T0 + 20_000), refreshSeconds: 10 });
    assert.match(html, /<meta http-equiv="refresh" content="10">/);
    assert.match(html, /data-field="throughput">180 rows\/min/);
    assert.match(html, /data-field="eta">under a minute</);
    assert.match(html, /<progress class="tone-running" data-tone="running"/);
    const done = runPage({ status: status(), rows: [], timeline, pace: runPace(status(), timeline, T0 + 3_600_000) });
    assert.doesNotMatch(done, /http-equiv="refresh"/);
    assert.match(done, /data-field="eta">done</);
    assert.match(done, /<progress class="tone-errors"/);
  });

  it('links the CSV and NDJSON downloads and the next page, keeping the filter', () => {
    const id = reasonId('boom');
    const html = runPage({ status: status(), state: 'failed', reasonId: id, reason: 'boom', rows: [failedRow(4, 'boom')], nextAfter: 4 });
    assert.ok(html.includes(`href="/admin/runs/r1/rows.csv?state=failed&amp;reasonId=${id}"`));
    assert.ok(html.includes(`href="/admin/runs/r1/rows.ndjson?state=failed&amp;reasonId=${id}"`));
    assert.ok(html.includes(`id="next-page" href="/admin/runs/r1?state=failed&amp;reasonId=${id}&amp;after=4"`));
    assert.equal(downloadHref('r.1', 'csv', {}), '/admin/runs/r.1/rows.csv');
    assert.equal(rowsHref('a b', { state: undefined }), '/admin/runs/a%20b?state=all');
  });

  it('spaces the state filters: each is its own item, the current one included', () => {
    const html = runPage({ status: status(), state: 'failed', rows: [] });
    assert.match(html, /<nav class="filters" aria-label="Rows by state"><a href="\/admin\/runs\/r1\?state=all">all<\/a><a [^>]+>rejected</);
    assert.match(html, /<strong>failed<\/strong>/);
    assert.match(html, /nav\.filters\{display:flex;flex-wrap:wrap;gap:/);
  });
});

describe('timeline budget line', () => {
  it('draws SYNC_RATE_LIMIT as rows per bar, and raises the axis to it when the run stayed below', () => {
    const timeline = buildTimeline({ [`${T0 / 1000}:succeeded`]: '13', [`${T0 / 1000 + 10}:succeeded`]: '8' });
    const svg = timelineChart(timeline, { budget: { limit: 100, windowMs: 20_000 } }).text;
    assert.match(svg, /<g class="budget" data-per-bar="50" data-limit="100" data-window-ms="20000"\s+data-on-scale="true">/);
    assert.match(svg, /class="budget-label"[^>]*>budget 50 per 10 s</);
    // The axis goes to 50 (a nice maximum at or above the budget), and the line sits at its top.
    const top = /<line class="budget-line" x1="48" x2="864" y1="([\d.]+)"/.exec(svg)![1];
    assert.equal(Number(top), 44);
    assert.doesNotMatch(timelineChart(timeline).text, /budget/, 'no budget given, no line');
    // A budget over 4 times the busiest bar would flatten the bars: it is named above the plot instead.
    const far = timelineChart(timeline, { budget: { limit: 1000, windowMs: 1000 } }).text;
    assert.match(far, /data-per-bar="10000" [^>]*data-on-scale="false"/);
    assert.doesNotMatch(far, /budget-line/);
    assert.match(far, /budget 10000 per 10 s: far above this scale/);
    assert.match(far, /<text x="42" y="48" text-anchor="end" font-size="11" fill="#68707d">20<\/text>/, 'the axis stays at the bars');
  });
});
