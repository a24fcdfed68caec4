/**
 * Newest-wins ordering for updates of one key: later lastReportedDateTime first, then later arrival.
 * Encoded as fixed-width digits so Redis scripts can compare versions as plain strings.
 */
const EPOCH_SHIFT_MS = 62_135_596_800_000; // keeps years 0001-9999 non-negative

export function reportedTicks(lastReportedDateTime: string | undefined): string {
  if (!lastReportedDateTime) return '0'.padStart(20, '0');
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})$/.exec(lastReportedDateTime);
  if (!m) throw new Error(`not a validated date-time: ${lastReportedDateTime}`);
  const wholeMs = Date.parse(`${m[1]}${m[3]}`);
  // 100 ns ticks keep the 7 fractional digits Graph's DateTimeOffset allows.
  const ticks = BigInt(wholeMs + EPOCH_SHIFT_MS) * 10_000n + BigInt((m[2] ?? '').padEnd(7, '0'));
  return ticks.toString().padStart(20, '0');
}

/** A version from ticks computed earlier, once the arrival number is known (the admit script builds the same string). */
export function versionOf(ticks: string, arrivalSequence: number): string {
  return `${ticks}:${String(arrivalSequence).padStart(16, '0')}`;
}
