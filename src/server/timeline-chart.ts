import type { Timeline, TimelineBucket } from '../results/timeline.js';
import type { RateLimit } from '../config.js';
import { html, type Html } from './html.js';
import { budgetPerBar } from './run-view.js';

/**
 * The run page's timeline, drawn here as inline SVG: no script and no charting library, so the page's
 * CSP (no script at all) holds and nothing is fetched from anywhere. Every bar, mark and label carries
 * data-* attributes and a <title>, so it can be read by a test, a screen reader or a hovering mouse.
 */

/** More bars than this would be thinner than a pixel or two: neighbouring buckets are then merged into one bar. */
export const MAX_BARS = 240;

export interface ChartBar extends TimelineBucket {
  /** How many stored buckets this bar covers (1 unless the run was too long to draw one bar per bucket). */
  buckets: number;
  seconds: number;
}

/** Merges consecutive buckets so that at most `maxBars` bars remain; a pure function of the series. */
export function chartBars(timeline: Timeline, maxBars = MAX_BARS): ChartBar[] {
  const per = Math.max(1, Math.ceil(timeline.buckets.length / maxBars));
  const bars: ChartBar[] = [];
  for (let i = 0; i < timeline.buckets.length; i += per) {
    const group = timeline.buckets.slice(i, i + per);
    bars.push({
      startMs: group[0].startMs,
      start: group[0].start,
      succeeded: sum(group, 'succeeded'),
      failed: sum(group, 'failed'),
      throttled: sum(group, 'throttled'),
      pausedMs: sum(group, 'pausedMs'),
      buckets: group.length,
      seconds: group.length * timeline.bucketSeconds,
    });
  }
  return bars;
}

const sum = (group: TimelineBucket[], field: 'succeeded' | 'failed' | 'throttled' | 'pausedMs') => group.reduce((n, b) => n + b[field], 0);

/** A "nice" axis maximum (1, 2, 5 × 10^n) at or above the largest bar, so gridlines fall on round numbers. */
export function niceMax(value: number): number {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

const COLORS = {
  succeeded: '#2f9e57',
  failed: '#d64545',
  throttled: '#e8890c',
  paused: '#f6d7a7',
  axis: '#68707d',
  grid: '#e3e6eb',
  budget: '#3358c4',
};
const W = 880;
const H = 260;
const M = { top: 44, right: 16, bottom: 44, left: 48 };
const PAUSE_BAND = 8;
/** A budget line above this many times the run's busiest bar is named, not drawn to scale. */
export const BUDGET_SCALE_LIMIT = 4;

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

/**
 * The write budget as a dashed line at height `lineY` across the plot, or (lineY undefined: too far above the bars to
 * draw to scale) named above the plot.
 */
function budgetLine(rate: RateLimit, perBar: number, barSeconds: number, lineY: number | undefined): Html {
  const label = `budget ${fmt(perBar)} per ${barSeconds} s`;
  const window = `${rate.limit} per ${fmt(rate.windowMs / 1000)} s`;
  const title = `write budget (SYNC_RATE_LIMIT): ${window} = ${fmt(perBar)} rows per ${barSeconds} s bar`;
  const mark =
    lineY === undefined
      ? html`<text class="budget-label" x="${W - M.right}" y="${M.top - 4}" text-anchor="end" font-size="11"
 fill="${COLORS.budget}">${`${label}: far above this scale ↑`}</text>`
      : html`<line class="budget-line" x1="${M.left}" x2="${W - M.right}" y1="${fmt(lineY)}" y2="${fmt(lineY)}"
 stroke="${COLORS.budget}" stroke-width="1.5" stroke-dasharray="6 4"/>
<text class="budget-label" x="${W - M.right}" y="${fmt(lineY - 4)}" text-anchor="end" font-size="11"
 fill="${COLORS.budget}">${label}</text>`;
  return html`<g class="budget" data-per-bar="${fmt(perBar)}" data-limit="${rate.limit}" data-window-ms="${rate.windowMs}"
 data-on-scale="${String(lineY !== undefined)}"><title>${title}</title>${mark}</g>`;
}

export interface TimelineChartOptions {
  /** The configured write budget (SYNC_RATE_LIMIT), drawn as a dashed line at the rows per bar it allows. */
  budget?: RateLimit;
}

export function timelineChart(timeline: Timeline, options: TimelineChartOptions = {}): Html {
  const bars = chartBars(timeline);
  if (bars.length === 0) {
    return html`<p class="muted" id="timeline-empty">No rows have been sent for this run yet, so there is no timeline.</p>`;
  }
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom - PAUSE_BAND - 4;
  const budget = options.budget ? budgetPerBar(options.budget, bars[0].seconds) : undefined;
  const peak = Math.max(...bars.map((b) => b.succeeded + b.failed));
  // The axis reaches the budget line, so a run below its budget shows how far; but a budget more than
  // BUDGET_SCALE_LIMIT times the peak would flatten every bar: it is then named above the plot instead.
  const budgetOnScale = budget !== undefined && budget <= Math.max(1, peak) * BUDGET_SCALE_LIMIT;
  const top = niceMax(Math.max(peak, budgetOnScale ? budget : 0));
  const slot = plotW / bars.length;
  const barW = Math.max(1, slot * 0.8);
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  const baseline = M.top + plotH;
  const bandY = baseline + 4;

  const grid = [0, 0.5, 1].map((f) => {
    const v = top * f;
    const at = fmt(y(v));
    const text = html`<text x="${M.left - 6}" y="${fmt(y(v) + 4)}" text-anchor="end" font-size="11" fill="${COLORS.axis}">${fmt(v)}</text>`;
    return html`<line x1="${M.left}" x2="${W - M.right}" y1="${at}" y2="${at}" stroke="${COLORS.grid}"/>${text}`;
  });

  const barMarks = bars.map((b, i) => {
    const x = M.left + i * slot + (slot - barW) / 2;
    // A 429's pause starts about when it arrived and may outlast its bucket: drawn as a span from there, on the time scale.
    const pauseX = M.left + i * slot;
    const pauseW = Math.min(W - M.right - pauseX, Math.max(1, (b.pausedMs / (b.seconds * 1000)) * slot));
    const label =
      `${clock(b.startMs)} UTC, ${b.seconds} s: ${b.succeeded} succeeded, ${b.failed} ` +
      `failed, ${b.throttled} × 429, ${fmt(b.pausedMs / 1000)} s paused`;
    const paused =
      b.pausedMs > 0
        ? html`<rect class="paused" x="${fmt(pauseX)}" width="${fmt(pauseW)}" y="${fmt(bandY)}" height="${PAUSE_BAND}"
 fill="${COLORS.throttled}" opacity="0.5"/>`
        : '';
    const mark429 =
      b.throttled > 0
        ? html`<path class="mark-429" data-count="${b.throttled}" d="M${fmt(x + barW / 2 - 5)} ${M.top - 14} h10 l-5 8 z"
 fill="${COLORS.throttled}"/>`
        : '';
    return html`<g class="bucket" data-start="${b.start}" data-succeeded="${b.succeeded}" data-failed="${b.failed}"
 data-throttled="${b.throttled}" data-paused-ms="${b.pausedMs}"><title>${label}</title>
<rect class="bar-succeeded" x="${fmt(x)}" width="${fmt(barW)}" y="${fmt(y(b.succeeded))}"
 height="${fmt(baseline - y(b.succeeded))}" fill="${COLORS.succeeded}"/>
<rect class="bar-failed" x="${fmt(x)}" width="${fmt(barW)}" y="${fmt(y(b.succeeded + b.failed))}"
 height="${fmt(y(b.succeeded) - y(b.succeeded + b.failed))}" fill="${COLORS.failed}"/>${paused}${mark429}</g>`;
  });

  // At most about 8 time labels, on every k-th bar, so they never overlap.
  const every = Math.ceil(bars.length / 8);
  const ticks = bars
    .flatMap((_, i) => (i % every === 0 ? [i] : []))
    .map(
      (i) =>
        html`<text class="tick" x="${fmt(M.left + i * slot + slot / 2)}" y="${H - M.bottom + PAUSE_BAND + 20}" text-anchor="middle"
 font-size="11" fill="${COLORS.axis}">${clock(bars[i].startMs)}</text>`,
    );
  const perBar = bars[0].seconds;
  const totals = {
    succeeded: sum(bars, 'succeeded'),
    failed: sum(bars, 'failed'),
    throttled: sum(bars, 'throttled'),
    pausedMs: sum(bars, 'pausedMs'),
  };
  const legend = [
    { color: COLORS.succeeded, text: `succeeded (${totals.succeeded})` },
    { color: COLORS.failed, text: `failed (${totals.failed})` },
    { color: COLORS.throttled, text: `▼ 429s (${totals.throttled}); band under the axis: paused (${fmt(totals.pausedMs / 1000)} s)` },
  ].map(
    (l, i) =>
      html`<rect x="${M.left + i * 170}" y="8" width="10" height="10" fill="${l.color}"/><text x="${M.left + i * 170 + 14}" y="17"
 font-size="11" fill="#1d2330">${l.text}</text>`,
  );

  const budgetY = budgetOnScale ? y(budget) : undefined;
  const budgetMark = options.budget && budget !== undefined ? budgetLine(options.budget, budget, bars[0].seconds, budgetY) : '';
  const titleEnd = budget === undefined ? '' : ' and the write budget';

  return html`<svg id="timeline" class="timeline" role="img" aria-labelledby="timeline-title" viewBox="0 0 ${W} ${H}" width="100%"
 data-bars="${bars.length}" data-bar-seconds="${perBar}" xmlns="http://www.w3.org/2000/svg">
<title id="timeline-title">Rows finished per ${perBar} s by state, with 429s, paused time${titleEnd}</title>
${legend}${grid}${barMarks}${budgetMark}
<line x1="${M.left}" x2="${W - M.right}" y1="${fmt(baseline)}" y2="${fmt(baseline)}" stroke="${COLORS.axis}"/>
${ticks}<text x="${W - M.right}" y="${H - 4}" text-anchor="end" font-size="11" fill="${COLORS.axis}">UTC · one bar per ${perBar} s</text>
<text x="12" y="${fmt(M.top + plotH / 2)}" font-size="11" fill="${COLORS.axis}" transform="rotate(-90 12 ${fmt(M.top + plotH / 2)})"
 text-anchor="middle">rows</text></svg>`;
}
