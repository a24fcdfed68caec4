/**
 * A run's timeline: rows finished and 429s per fixed bucket of wall-clock time, kept in Redis as
 * `P:run:{runId}:timeline` (see src/redis-layout.ts). Counting per bucket keeps it a few fields per
 * 10 s however many rows the run has, so the run page can chart a million-row run from one HGETALL.
 */

export const TIMELINE_BUCKET_SECONDS = 10;

/** The states a row can finish in while being sent (what recordOutcome records). */
export const TIMELINE_STATES = ['succeeded', 'failed'] as const;

export interface TimelineBucket {
  /** Start of the bucket, epoch ms. */
  startMs: number;
  start: string;
  succeeded: number;
  failed: number;
  /** 429 answers received in this bucket. */
  throttled: number;
  /** How far those 429s pushed the fleet's pause, in ms. */
  pausedMs: number;
}

export interface Timeline {
  bucketSeconds: number;
  buckets: TimelineBucket[];
}

/** The bucket (its start in epoch seconds) that a moment belongs to; the field prefix in the timeline hash. */
export function timelineBucket(ms: number, bucketSeconds = TIMELINE_BUCKET_SECONDS): number {
  return Math.floor(ms / 1000 / bucketSeconds) * bucketSeconds;
}

const FIELDS = new Set<string>([...TIMELINE_STATES, 'throttled', 'pausedMs']);
/** A run with more buckets than this (a week at 10 s) is read only up to it, so a bad hash cannot blow up a page. */
const MAX_BUCKETS = 60_480;

/**
 * Turns the stored hash (`<bucketSec>:<field>` -> number) into contiguous buckets from the first one holding
 * anything to the last, empty ones included, so an idle stretch shows as a gap rather than disappearing.
 * Unknown or malformed fields are ignored.
 */
export function buildTimeline(hash: Record<string, string>, bucketSeconds = TIMELINE_BUCKET_SECONDS): Timeline {
  const byBucket = new Map<number, Record<string, number>>();
  for (const [field, raw] of Object.entries(hash)) {
    const match = /^(\d{1,12}):([A-Za-z]+)$/.exec(field);
    if (!match || !FIELDS.has(match[2])) continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const sec = Number(match[1]);
    const entry = byBucket.get(sec) ?? {};
    entry[match[2]] = (entry[match[2]] ?? 0) + value;
    byBucket.set(sec, entry);
  }
  if (byBucket.size === 0) return { bucketSeconds, buckets: [] };
  const starts = [...byBucket.keys()].sort((a, b) => a - b);
  const first = starts[0];
  const last = Math.min(starts[starts.length - 1], first + (MAX_BUCKETS - 1) * bucketSeconds);
  const buckets: TimelineBucket[] = [];
  for (let sec = first; sec <= last; sec += bucketSeconds) {
    const e = byBucket.get(sec) ?? {};
    buckets.push({
      startMs: sec * 1000,
      start: new Date(sec * 1000).toISOString(),
      succeeded: e.succeeded ?? 0,
      failed: e.failed ?? 0,
      throttled: e.throttled ?? 0,
      pausedMs: e.pausedMs ?? 0,
    });
  }
  return { bucketSeconds, buckets };
}
