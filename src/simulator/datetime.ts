// Edm.DateTimeOffset as Graph accepts it: a zone is mandatory, and .NET keeps 100 ns ticks,
// so up to 7 fractional digits are meaningful and must take part in comparisons.
const ZONED_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})$/;

/** 100 ns ticks since the Unix epoch (UTC), or undefined when `text` is not a valid zoned date-time. */
export function parseZonedDateTime(text: string): bigint | undefined {
  const m = ZONED_DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;

  const offsetMinutes = parseOffset(m[8]);
  if (offsetMinutes === undefined) return undefined;

  // setUTCFullYear avoids Date.UTC's mapping of years 0..99 onto 1900..1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  const utcMs = date.getTime() - offsetMinutes * 60_000;
  const fraction = BigInt((m[7] ?? '').padEnd(7, '0'));
  return BigInt(utcMs) * 10_000n + fraction;
}

function parseOffset(zone: string): number | undefined {
  if (zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (minutes > 59 || hours > 14 || (hours === 14 && minutes > 0)) return undefined;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const TICKS_PER_SECOND = 10_000_000n;

/**
 * A date-time as Graph answers it: UTC, seven fraction digits (`2026-11-20T10:00:05.0000000Z`), whatever offset and
 * precision were written. Undefined when `text` is not a valid zoned date-time.
 */
export function toGraphUtc(text: string): string | undefined {
  const ticks = parseZonedDateTime(text);
  if (ticks === undefined) return undefined;
  let seconds = ticks / TICKS_PER_SECOND;
  let fraction = ticks % TICKS_PER_SECOND;
  // BigInt division truncates toward zero; instants before 1970 need the floor.
  if (fraction < 0n) {
    fraction += TICKS_PER_SECOND;
    seconds -= 1n;
  }
  const whole = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${whole}.${fraction.toString().padStart(7, '0')}Z`;
}
