import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildTimeline, timelineBucket } from '../../src/results/timeline.js';
import { chartBars, niceMax, timelineChart } from '../../src/server/timeline-chart.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0) / 1000; // a bucket start, in epoch seconds

describe('timeline series', () => {
  it('puts a moment in the 10 s bucket that starts at or before it', () => {
    assert.equal(timelineBucket(T0 * 1000), T0);
    assert.equal(timelineBucket(T0 * 1000 + 9_999), T0);
    assert.equal(timelineBucket(T0 * 1000 + 10_000), T0 + 10);
    assert.equal(timelineBucket(T0 * 1000 + 65_000, 60), T0 + 60);
  });

  it('fills the gaps between the first and last bucket with empty buckets, in order', () => {
    const t = buildTimeline({
      [`${T0 + 30}:succeeded`]: '4',
      [`${T0}:succeeded`]: '7',
      [`${T0}:failed`]: '1',
      [`${T0 + 30}:throttled`]: '2',
      [`${T0 + 30}:pausedMs`]: '1500',
    });
    assert.equal(t.bucketSeconds, 10);
    assert.deepEqual(
      t.buckets.map((b) => [b.startMs / 1000, b.succeeded, b.failed, b.throttled, b.pausedMs]),
      [
        [T0, 7, 1, 0, 0],
        [T0 + 10, 0, 0, 0, 0],
        [T0 + 20, 0, 0, 0, 0],
        [T0 + 30, 4, 0, 2, 1500],
      ],
    );
    assert.equal(t.buckets[0].start, '2026-11-28T12:00:00.000Z');
  });

  it('is empty for a run with no activity, and ignores malformed or unknown fields', () => {
    assert.deepEqual(buildTimeline({}).buckets, []);
    const t = buildTimeline({
      [`${T0}:succeeded`]: '2',
      'x:succeeded': '5',
      [`${T0}:queued`]: '9',
      [`${T0 + 10}:failed`]: 'NaN',
      [`${T0 + 900}`]: '1',
      '__proto__:succeeded': '3',
    });
    assert.deepEqual(
      t.buckets.map((b) => [b.startMs / 1000, b.succeeded, b.failed]),
      [[T0, 2, 0]],
    );
  });
});

describe('timeline chart', () => {
  const series = buildTimeline({
    [`${T0}:succeeded`]: '10',
    [`${T0 + 10}:succeeded`]: '6',
    [`${T0 + 10}:failed`]: '2',
    [`${T0 + 10}:throttled`]: '3',
    [`${T0 + 10}:pausedMs`]: '4000',
    [`${T0 + 40}:succeeded`]: '1',
  });

  it('draws one bar per bucket, stacked by state, with a 429 mark and a pause band only where Graph pushed back', () => {
    const svg = timelineChart(series).text;
    assert.equal((svg.match(/<g class="bucket"/g) ?? []).length, 5);
    assert.match(svg, /data-bars="5"/);
    assert.equal((svg.match(/class="mark-429"/g) ?? []).length, 1);
    assert.match(svg, /class="mark-429" data-count="3"/);
    assert.equal((svg.match(/class="paused"/g) ?? []).length, 1);
    assert.match(svg, /succeeded \(17\)/);
    assert.match(svg, /failed \(2\)/);
    assert.match(svg, /429s \(3\); band under the axis: paused \(4 s\)/);
    assert.doesNotMatch(svg, /<script|style=/, 'nothing the page CSP would have to allow beyond inline SVG');
  });

  it('scales the stack to a round maximum, so the tallest bar is exactly as high as its count says', () => {
    assert.deepEqual([0, 1, 3, 10, 11, 45, 101].map(niceMax), [1, 1, 5, 10, 20, 50, 200]);
    const svg = timelineChart(series).text;
    // The tallest stack, 10 rows, makes the axis 10: the second bucket's 6 succeeded rows are 6/10 of its height.
    const first = /<g class="bucket"[^>]*>[\s\S]*?<rect class="bar-succeeded" [^>]*height="([\d.]+)"/.exec(svg)!;
    const second = /<g class="bucket" data-start="2026-11-28T12:00:10.000Z"[\s\S]*?<rect class="bar-succeeded" [^>]*height="([\d.]+)"/.exec(
      svg,
    )!;
    assert.ok(Math.abs(Number(second[1]) / Number(first[1]) - 0.6) < 0.01, `6/10 of the height: ${second[1]} vs ${first[1]}`);
  });

  it('merges neighbouring buckets into one bar when a run is too long to draw each, keeping every count', () => {
    const hash: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) {
      hash[`${T0 + i * 10}:succeeded`] = '2';
      if (i % 100 === 0) hash[`${T0 + i * 10}:throttled`] = '1';
    }
    const bars = chartBars(buildTimeline(hash), 240);
    assert.equal(bars.length, 200); // 1000 buckets, 5 per bar
    assert.ok(bars.every((b) => b.buckets === 5 && b.seconds === 50 && b.succeeded === 10));
    assert.equal(
      bars.reduce((n, b) => n + b.throttled, 0),
      10,
    );
    assert.match(timelineChart(buildTimeline(hash)).text, /data-bar-seconds="50"/);
  });

  it("draws a 429's pause as a span on the time scale from its bucket, cut at the end of the plot", () => {
    const svg = timelineChart(series).text;
    const slot = (880 - 48 - 16) / 5;
    const width = Number(/class="paused" x="[\d.]+" width="([\d.]+)"/.exec(svg)![1]);
    assert.ok(Math.abs(width - 0.4 * slot) < 0.1, `4 s of a 10 s bucket: ${width}`);
    const long = timelineChart(
      buildTimeline({ [`${T0}:succeeded`]: '1', [`${T0 + 10}:throttled`]: '1', [`${T0 + 10}:pausedMs`]: '3600000' }),
    ).text;
    const [, x, w] = /class="paused" x="([\d.]+)" width="([\d.]+)"/.exec(long)!;
    assert.ok(Math.abs(Number(x) + Number(w) - (880 - 16)) < 0.1, 'an hour-long pause ends at the right edge');
  });

  it('says there is nothing to draw for a run with no activity', () => {
    assert.match(timelineChart({ bucketSeconds: 10, buckets: [] }).text, /id="timeline-empty"/);
  });
});
