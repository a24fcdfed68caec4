import type { RateLimit } from '../config.js';
import { describeRoughDuration } from '../domain/rough-duration.js';

export { describeRoughDuration };

/** "100 per 20 s", "5 per s", "300 per min": a budget as an operator reads it. */
export function describeBudget(rate: RateLimit): string {
  const units: Array<[number, string]> = [
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  for (const [ms, unit] of units) {
    if (rate.windowMs % ms === 0) {
      const count = rate.windowMs / ms;
      return `${rate.limit} per ${count === 1 ? '' : `${count} `}${unit}`;
    }
  }
  return `${rate.limit} per ${rate.windowMs} ms`;
}

/**
 * How long `rows` PATCHes take at a budget: rows ÷ (limit per window). A floor, not a forecast: 429s and retries only
 * add to it, and other runs queued on the same budget share it.
 */
export function sendDurationMs(rows: number, rate: RateLimit): number {
  return rows <= 0 ? 0 : (rows / rate.limit) * rate.windowMs;
}

/** The line `import` prints on stderr: "sending 200000 rows takes about 11 h at 100 per 20 s (SYNC_RATE_LIMIT)". */
export function describeSendTime(rows: number, rate: RateLimit, budgetName = 'SYNC_RATE_LIMIT'): string | undefined {
  if (rows <= 0) return undefined;
  return (
    `sending ${rows} ${rows === 1 ? 'row' : 'rows'} ` +
    `takes ${describeRoughDuration(sendDurationMs(rows, rate))} ` +
    `at ${describeBudget(rate)} (${budgetName})`
  );
}
