/** How often one failure reason may reach the log: once a minute, so a run failing 10 000 rows for one cause logs a line a minute. */
export const REASON_LOG_INTERVAL_MS = 60_000;

/** A line to write now, with how many of the same reason were held back since the last one written. */
export type ReasonVerdict = { log: true; suppressed: number } | { log: false };

/**
 * At most one log line per reason per interval. Pure but for its memory: the clock is passed in, so a test drives it.
 * The reasons remembered are bounded: reasons unseen for an interval are forgotten (nothing is held back for them).
 */
export class ReasonLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs: number = REASON_LOG_INTERVAL_MS) {}

  offer(reason: string, now: number): ReasonVerdict {
    const seen = this.last.get(reason);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return { log: false };
    }
    this.last.set(reason, { at: now, suppressed: 0 });
    this.forgetOlderThan(now - this.intervalMs);
    return { log: true, suppressed: seen?.suppressed ?? 0 };
  }

  /**
   * The reasons held back whose interval has passed, each with its count, counted as logged now: a reason that stops
   * recurring is still reported once (by the caller's periodic tick), never more often than once an interval.
   */
  due(now: number): Array<{ reason: string; suppressed: number }> {
    const due: Array<{ reason: string; suppressed: number }> = [];
    for (const [reason, v] of this.last) {
      if (v.suppressed > 0 && now - v.at >= this.intervalMs) {
        due.push({ reason, suppressed: v.suppressed });
        this.last.set(reason, { at: now, suppressed: 0 });
      }
    }
    return due;
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [reason, v] of this.last) if (v.at <= cutoff && v.suppressed === 0) this.last.delete(reason);
  }
}
