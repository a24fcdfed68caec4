import { ROW_STATES, type RowResult, type RowState, type RunStatus } from '../interfaces.js';
import { reportRecord } from '../results/report.js';
import type { Timeline } from '../results/timeline.js';
import { html, trustedHtml, type Html } from './html.js';
import { timelineChart } from './timeline-chart.js';
import { rejectedNote } from '../domain/run-state-text.js';
import type { RateLimit } from '../config.js';
import { progressTone, type ReasonGroups, type RunPace } from './run-view.js';

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
progress{width:110px;height:12px;appearance:none;-webkit-appearance:none;border:0;border-radius:6px;background:#e3e6eb;overflow:hidden}
progress::-webkit-progress-bar{background:#e3e6eb;border-radius:6px}
progress::-webkit-progress-value{background:var(--tone);border-radius:6px}progress::-moz-progress-bar{background:var(--tone)}
.tone-running{--tone:#3b7ddd}.tone-completed{--tone:#2f9e57}.tone-rejected{--tone:#c9a227}.tone-errors{--tone:#d64545}
.tone-blocked{--tone:#e8890c}.tone-cancelled{--tone:#8a919c}
.muted{color:#68707d}dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}
dt{font-weight:600}nav.filters{display:flex;flex-wrap:wrap;gap:6px 14px;margin:8px 0}.links a{margin-right:12px}
table.groups{width:auto;min-width:480px;max-width:100%}td.reason{max-width:640px;overflow-wrap:anywhere}
form.login{max-width:360px;background:#fff;padding:20px;border:1px solid #e3e6eb}
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
    options.nav === false
      ? ''
      : html`<a href="/admin/runs">Runs</a><a href="/admin/queues">Queues (Bull Board)</a><a href="/admin/logout">Log out</a>`
  }</header>
<main>${body}</main></body></html>`.text;
}

const time = (ms: number | undefined) =>
  ms
    ? new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z')
    : '';
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const runHref = (runId: string, state?: RowState) => `/admin/runs/${encodeURIComponent(runId)}${state ? `?state=${state}` : ''}`;

function progress(s: RunStatus): Html {
  const done = s.total - s.pending;
  const percent = s.total === 0 ? 100 : Math.floor((done * 100) / s.total);
  const tone = progressTone(s);
  const bar = html`<progress class="tone-${tone}" data-tone="${tone}" max="${s.total}" value="${done}"></progress>`;
  return html`${bar} <span data-field="progress">${done}/${s.total}</span> <span class="muted">(${percent}%)</span>`;
}

/** The run's state as a badge, with the count of rejected rows when there are any. */
function stateBadge(s: RunStatus): Html {
  return html`<span class="state state-${s.state}"><span data-field="state">${s.state}</span>${rejectedNote(s)}</span>`;
}

const COUNT_FIELDS = ['total', 'rejected', 'pending', 'succeeded', 'failed', 'unchanged', 'superseded'] as const;

export function runsPage(runs: readonly RunStatus[], refreshSeconds?: number): string {
  const rows = runs.map(
    (s) => html`<tr data-run-id="${s.runId}">
<td><a href="${runHref(s.runId)}">${s.runId}</a><div class="muted">${s.source ?? ''}</div></td>
<td>${stateBadge(s)}${s.blockedReason ? html`<div class="error">${s.blockedReason}</div>` : ''}</td>
<td>${progress(s)}</td>
${COUNT_FIELDS.map((f) => html`<td class="n" data-field="${f}">${s[f]}</td>`)}
<td class="n" data-field="throttled">${s.throttledCount} × / ${seconds(s.throttledMs)}</td>
<td>${time(s.createdAt)}</td>
<td>${s.finishedAt ? seconds(s.finishedAt - s.createdAt) : ''}</td>
<td class="links">${
      s.failed > 0 ? html`<a href="${runHref(s.runId, 'failed')}" data-field="failed-link">${s.failed} failed rows</a> ` : ''
    }${
      s.rejected > 0 ? html`<a href="${runHref(s.runId, 'rejected')}" data-field="rejected-link">${s.rejected} rejected</a>` : ''
    }</td></tr>`,
  );
  const refresh = refreshSeconds
    ? html`<a href="/admin/runs">stop refreshing</a>`
    : html`<a href="/admin/runs?refresh=5">refresh every 5 s</a>`;
  const table = html`<h1>Runs</h1><p class="muted">The ${runs.length} most recent runs. ${refresh}</p>
<table id="runs"><thead><tr><th>Run</th><th>State</th><th>Progress</th><th>Total</th><th>Rejected</th>
<th>Pending</th><th>Succeeded</th><th>Failed</th><th>Unchanged</th><th>Superseded</th>
<th>Throttled</th><th>Created</th><th>Took</th><th>Problems</th></tr></thead>
<tbody>${rows.length > 0 ? rows : html`<tr><td colspan="14" class="muted">No runs yet.</td></tr>`}</tbody></table>`;
  return page('Runs', table, { refreshSeconds });
}

export interface RunPageView {
  status: RunStatus;
  /** The rows shown: a state (undefined: all), maybe one reason (by its reasonId), from the line after `after`. */
  state?: RowState;
  reasonId?: string;
  /** That reason's text, from the first row found with it. */
  reason?: string;
  after?: number;
  rows: readonly RowResult[];
  /** The `after` of the next page; absent on the last one. */
  nextAfter?: number;
  timeline?: Timeline;
  /** The write budget drawn on the timeline. */
  budget?: RateLimit;
  pace?: RunPace;
  /** Failed rows grouped by reason; `read` rows were read of `of` (reading stops at a cap on huge runs). */
  failures?: ReasonGroups & { read: number; of: number };
  refreshSeconds?: number;
}

/** The run page's link to its rows in one state (and reason), from line `after` on. */
export function rowsHref(runId: string, filter: { state?: RowState; reasonId?: string; after?: number }): string {
  const query = new URLSearchParams();
  query.set('state', filter.state ?? 'all');
  if (filter.reasonId !== undefined) query.set('reasonId', filter.reasonId);
  if (filter.after) query.set('after', String(filter.after));
  return `/admin/runs/${encodeURIComponent(runId)}?${query.toString()}`;
}

/** Where the rows shown can be downloaded (the session cookie authorises it, like the page). */
export function downloadHref(runId: string, format: 'csv' | 'ndjson', filter: { state?: RowState; reasonId?: string }): string {
  const query = new URLSearchParams();
  if (filter.state) query.set('state', filter.state);
  if (filter.reasonId !== undefined) query.set('reasonId', filter.reasonId);
  const q = query.toString();
  return `/admin/runs/${encodeURIComponent(runId)}/rows.${format}${q ? `?${q}` : ''}`;
}

function paceSection(s: RunStatus, pace: RunPace): Html {
  const rate = pace.rowsPerMinute === undefined ? 'unknown' : `${pace.rowsPerMinute} rows/min`;
  const measured = s.state === 'running' || s.state === 'blocked' ? 'over the last' : 'average over';
  const over = pace.overMs > 0 ? html` <span class="muted">(${measured} ${Math.round(pace.overMs / 1000)} s)</span>` : '';
  return html`<dt>Throughput</dt><dd data-field="throughput">${rate}${over}</dd><dt>ETA</dt><dd data-field="eta">${pace.eta}</dd>`;
}

function failuresSection(s: RunStatus, failures: NonNullable<RunPageView['failures']>): Html {
  const rows = failures.groups.map(
    (g) => html`<tr class="reason-group" data-count="${g.count}"><td class="n" data-field="count">${g.count}</td>
<td class="reason"><a href="${rowsHref(s.runId, { state: 'failed', reasonId: g.id })}" data-field="reason"
 data-reason-id="${g.id}">${g.reason}</a></td>
<td>${g.httpStatuses.join(', ')}</td></tr>`,
  );
  const other =
    failures.otherReasons > 0
      ? html`<tr><td class="n">${failures.otherRows}</td><td class="muted" colspan="2">in ${failures.otherReasons} other reasons</td></tr>`
      : '';
  const partial =
    failures.read < failures.of ? html`<p class="muted">Grouped from the first ${failures.read} of ${failures.of} failed rows.</p>` : '';
  return html`<h2>Failures by reason</h2>${partial}<table id="failure-groups" class="groups">
<thead><tr><th>Rows</th><th>Reason (click for its rows)</th><th>HTTP</th></tr></thead><tbody>${rows}${other}</tbody></table>`;
}

export function runPage(view: RunPageView): string {
  const { status: s, state, reasonId: byReason, rows, timeline } = view;
  const reason = byReason === undefined ? undefined : (view.reason ?? '(no row has this reason)');
  const filters = [undefined, ...ROW_STATES].map((f) => {
    const label = f ?? 'all';
    const current = f === state && byReason === undefined;
    return current ? html`<strong>${label}</strong>` : html`<a href="${rowsHref(s.runId, { state: f })}">${label}</a>`;
  });
  const apiQuery = new URLSearchParams();
  if (state) apiQuery.set('state', state);
  if (byReason !== undefined) apiQuery.set('reasonId', byReason);
  const jsonHref = `/v1/runs/${encodeURIComponent(s.runId)}/rows${apiQuery.size > 0 ? `?${apiQuery.toString()}` : ''}`;
  const refreshNote = view.refreshSeconds
    ? html`<p class="muted" id="refreshing">The run is ${s.state}: this page reloads every ${view.refreshSeconds} s.</p>`
    : '';
  const timelineSection = timeline
    ? html`<h2>Timeline</h2>${timelineChart(timeline, { budget: view.budget })}
<p class="muted">As JSON (bearer token needed): <code>GET /v1/runs/${encodeURIComponent(s.runId)}/timeline</code></p>`
    : '';
  const reasonHeading = reason !== undefined ? html` <span class="muted">with reason</span> <q data-field="row-reason">${reason}</q>` : '';
  const nextHref = view.nextAfter === undefined ? undefined : rowsHref(s.runId, { state, reasonId: byReason, after: view.nextAfter });
  const nextPage = nextHref ? html`<p><a id="next-page" href="${nextHref}">Next ${rows.length} rows →</a></p>` : '';
  const pageNote = view.after ? `Rows after line ${view.after}. ` : view.nextAfter !== undefined ? `The first ${rows.length} rows. ` : '';
  const body = html`<h1>Run <span data-field="runId">${s.runId}</span></h1>
${refreshNote}
<dl id="summary"><dt>State</dt><dd>${stateBadge(s)}${s.blockedReason ? html` <span class="error">${s.blockedReason}</span>` : ''}</dd>
<dt>Source</dt><dd>${s.source ?? ''}</dd><dt>Progress</dt><dd>${progress(s)}</dd>
${view.pace ? paceSection(s, view.pace) : ''}
${COUNT_FIELDS.map((f) => html`<dt>${f}</dt><dd data-field="${f}">${s[f]}</dd>`)}
<dt>Throttled</dt><dd data-field="throttled">${s.throttledCount} × / ${seconds(s.throttledMs)}</dd>
<dt>Created</dt><dd>${time(s.createdAt)}</dd><dt>Finished</dt><dd>${time(s.finishedAt)}</dd>
${s.importError ? html`<dt>Import error</dt><dd class="error">${s.importError}</dd>` : ''}</dl>
${view.failures && view.failures.groups.length > 0 ? failuresSection(s, view.failures) : ''}
${timelineSection}
<h2>Rows${state ? html`: ${state}` : ''}${reasonHeading}</h2>
<nav class="filters" aria-label="Rows by state">${filters}</nav>
<p class="muted">${pageNote}Download ${state ? `the ${state} rows` : 'all rows'}${reason !== undefined ? ' with this reason' : ''}:
<a id="download-csv" href="${downloadHref(s.runId, 'csv', { state, reasonId: byReason })}">CSV</a> ·
<a id="download-ndjson" href="${downloadHref(s.runId, 'ndjson', { state, reasonId: byReason })}">NDJSON</a>.
As JSON (bearer token needed): <code>GET ${jsonHref}</code></p>
<table id="rows"><thead><tr><th>Line</th><th>Key</th><th>State</th><th>HTTP</th><th>Attempts</th><th>Reason</th>
<th>Request id</th><th>Finished</th></tr></thead><tbody>${
    rows.length > 0
      ? rows.map((row) => {
          const r = reportRecord(row);
          const where = html`<td class="n">${r.line}</td><td>${r.key}</td>`;
          const outcome = html`<td><span class="state state-${r.state}">${r.state}</span></td>`;
          const answer = html`<td class="n">${r.httpStatus}</td><td class="n">${r.attempts}</td>`;
          const reasonCell = html`<td>${r.reason}${r.supersededBy ? ` (by ${r.supersededBy})` : ''}</td>`;
          const trace = html`<td>${r.requestId}</td><td>${r.finishedAt}</td>`;
          return html`<tr data-line="${r.line}">${where}${outcome}${answer}${reasonCell}${trace}</tr>`;
        })
      : html`<tr><td colspan="8" class="muted">No rows ${reason !== undefined ? 'with this reason' : 'in this state'}.</td></tr>`
  }</tbody></table>
${nextPage}`;
  return page(`Run ${s.runId}`, body, { refreshSeconds: view.refreshSeconds });
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
