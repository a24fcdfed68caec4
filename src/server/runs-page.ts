import { ROW_STATES, type RowResult, type RowState, type RunStatus } from '../interfaces.js';
import { reportRecord } from '../results/report.js';
import type { Timeline } from '../results/timeline.js';
import { html, trustedHtml, type Html } from './html.js';
import { timelineChart } from './timeline-chart.js';
import { rejectedNote } from '../domain/run-state-text.js';

/** Server-rendered pages of the dashboard: no script at all, so a strict CSP holds and nothing needs building. */

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#cfe0ff;text-decoration:none}header strong{margin-right:auto}
main{padding:16px 20px;overflow-x:auto}table{border-collapse:collapse;background:#fff;width:100%}
th,td{padding:6px 8px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.state{padding:1px 6px;border-radius:8px;font-size:12px;background:#e3e6eb}
.state-completed,.state-succeeded{background:#d4f5dc}.state-completed_with_errors,.state-failed,.state-rejected{background:#fde2e1}
.state-blocked{background:#fbe7b5}.state-running,.state-queued{background:#dbe8ff}
progress{width:110px}.muted{color:#68707d}dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}
dt{font-weight:600}nav.filters a{margin-right:12px}form.login{max-width:360px;background:#fff;padding:20px;border:1px solid #e3e6eb}
form.login input{width:100%;padding:6px;margin:8px 0;box-sizing:border-box}.error{color:#a4161a}
svg.timeline{display:block;max-width:880px;background:#fff;border:1px solid #e3e6eb}
`;

export function page(title: string, body: Html, options: { refreshSeconds?: number; nav?: boolean } = {}): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · compliance-sync</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.refreshSeconds ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}">` : ''}
<style>${trustedHtml(STYLE)}</style></head>
<body><header><strong>compliance-sync</strong>${
    options.nav === false ? '' : html`<a href="/admin/runs">Runs</a><a href="/admin/queues">Queues (Bull Board)</a><a href="/admin/logout">Log out</a>`
  }</header>
<main>${body}</main></body></html>`.text;
}

const time = (ms: number | undefined) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const runHref = (runId: string, state?: RowState) => `/admin/runs/${encodeURIComponent(runId)}${state ? `?state=${state}` : ''}`;

function progress(s: RunStatus): Html {
  const done = s.total - s.pending;
  const percent = s.total === 0 ? 100 : Math.floor((done * 100) / s.total);
  return html`<progress max="${s.total}" value="${done}"></progress> <span data-field="progress">${done}/${s.total}</span> <span class="muted">(${percent}%)</span>`;
}

const COUNT_FIELDS = ['total', 'rejected', 'pending', 'succeeded', 'failed', 'unchanged', 'superseded'] as const;

export function runsPage(runs: readonly RunStatus[], refreshSeconds?: number): string {
  const rows = runs.map(
    (s) => html`<tr data-run-id="${s.runId}">
<td><a href="${runHref(s.runId)}">${s.runId}</a><div class="muted">${s.source ?? ''}</div></td>
<td><span class="state state-${s.state}"><span data-field="state">${s.state}</span>${rejectedNote(s)}</span>${s.blockedReason ? html`<div class="error">${s.blockedReason}</div>` : ''}</td>
<td>${progress(s)}</td>
${COUNT_FIELDS.map((f) => html`<td class="n" data-field="${f}">${s[f]}</td>`)}
<td class="n" data-field="throttled">${s.throttledCount} × / ${seconds(s.throttledMs)}</td>
<td>${time(s.createdAt)}</td>
<td>${s.finishedAt ? seconds(s.finishedAt - s.createdAt) : ''}</td>
<td>${s.failed > 0 ? html`<a href="${runHref(s.runId, 'failed')}" data-field="failed-link">${s.failed} failed rows</a>` : ''}${
      s.rejected > 0 ? html` <a href="${runHref(s.runId, 'rejected')}">${s.rejected} rejected</a>` : ''
    }</td></tr>`,
  );
  const refresh = refreshSeconds
    ? html`<a href="/admin/runs">stop refreshing</a>`
    : html`<a href="/admin/runs?refresh=5">refresh every 5 s</a>`;
  const table = html`<h1>Runs</h1><p class="muted">The ${runs.length} most recent runs. ${refresh}</p>
<table id="runs"><thead><tr><th>Run</th><th>State</th><th>Progress</th><th>Total</th><th>Rejected</th><th>Pending</th><th>Succeeded</th><th>Failed</th>
<th>Unchanged</th><th>Superseded</th><th>Throttled</th><th>Created</th><th>Took</th><th>Problems</th></tr></thead>
<tbody>${rows.length > 0 ? rows : html`<tr><td colspan="14" class="muted">No runs yet.</td></tr>`}</tbody></table>`;
  return page('Runs', table, { refreshSeconds });
}

export function runPage(s: RunStatus, state: RowState | undefined, rows: readonly RowResult[], more: boolean, timeline?: Timeline): string {
  const filters = [undefined, ...ROW_STATES].map((f) => {
    const label = f ?? 'all';
    return f === state ? html`<strong>${label}</strong>` : html`<a href="${`/admin/runs/${encodeURIComponent(s.runId)}?state=${label}`}">${label}</a>`;
  });
  const jsonHref = `/v1/runs/${encodeURIComponent(s.runId)}/rows${state ? `?state=${state}` : ''}`;
  const body = html`<h1>Run <span data-field="runId">${s.runId}</span></h1>
<dl id="summary"><dt>State</dt><dd><span class="state state-${s.state}"><span data-field="state">${s.state}</span>${rejectedNote(s)}</span>${s.blockedReason ? html` <span class="error">${s.blockedReason}</span>` : ''}</dd>
<dt>Source</dt><dd>${s.source ?? ''}</dd><dt>Progress</dt><dd>${progress(s)}</dd>
${COUNT_FIELDS.map((f) => html`<dt>${f}</dt><dd data-field="${f}">${s[f]}</dd>`)}
<dt>Throttled</dt><dd data-field="throttled">${s.throttledCount} × / ${seconds(s.throttledMs)}</dd>
<dt>Created</dt><dd>${time(s.createdAt)}</dd><dt>Finished</dt><dd>${time(s.finishedAt)}</dd>
${s.importError ? html`<dt>Import error</dt><dd class="error">${s.importError}</dd>` : ''}</dl>
${timeline ? html`<h2>Timeline</h2>${timelineChart(timeline)}<p class="muted">As JSON (bearer token needed): <code>GET /v1/runs/${encodeURIComponent(s.runId)}/timeline</code></p>` : ''}
<h2>Rows${state ? html`: ${state}` : ''}</h2><nav class="filters">${filters}</nav>
<p class="muted">${more ? `The first ${rows.length} rows. ` : ''}As JSON (bearer token needed): <code>GET ${jsonHref}</code></p>
<table id="rows"><thead><tr><th>Line</th><th>Key</th><th>State</th><th>HTTP</th><th>Attempts</th><th>Reason</th><th>Request id</th><th>Finished</th></tr></thead><tbody>${
    rows.length > 0
      ? rows.map((row) => {
          const r = reportRecord(row);
          return html`<tr data-line="${r.line}"><td class="n">${r.line}</td><td>${r.key}</td><td><span class="state state-${r.state}">${r.state}</span></td><td class="n">${r.httpStatus}</td><td class="n">${r.attempts}</td><td>${r.reason}${
            r.supersededBy ? ` (by ${r.supersededBy})` : ''
          }</td><td>${r.requestId}</td><td>${r.finishedAt}</td></tr>`;
        })
      : html`<tr><td colspan="8" class="muted">No rows in this state.</td></tr>`
  }</tbody></table>`;
  return page(`Run ${s.runId}`, body);
}

export function loginPage(options: { next?: string; failed?: boolean } = {}): string {
  const body = html`<h1>Sign in</h1>
<form class="login" method="post" action="/admin/login">
${options.failed ? html`<p class="error">That token is not accepted.</p>` : ''}
<label for="token">API token (one of SYNC_API_TOKENS)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="${options.next ?? '/admin/runs'}">
<button type="submit">Sign in</button></form>`;
  return page('Sign in', body, { nav: false });
}
