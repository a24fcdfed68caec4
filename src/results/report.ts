import type { RowResult } from '../interfaces.js';

/** One row of a run as users see it, in `report` (CSV, NDJSON) and in the HTTP API and dashboard alike. */
export const REPORT_COLUMNS = ['line', 'key', 'state', 'httpStatus', 'attempts', 'reason', 'requestId', 'finishedAt', 'supersededBy'] as const;
export type ReportColumn = (typeof REPORT_COLUMNS)[number];

export function reportRecord(row: RowResult): Record<ReportColumn, string | number | undefined> {
  return {
    line: row.line,
    key: row.key,
    state: row.state,
    httpStatus: row.httpStatus,
    attempts: row.attempts ?? 0,
    reason: row.reason,
    requestId: row.requestId,
    finishedAt: row.finishedAt ? new Date(row.finishedAt).toISOString() : undefined,
    supersededBy: row.supersededBy ? `${row.supersededBy.runId}:${row.supersededBy.line}` : undefined,
  };
}

/** The JSON form adds a rejected row's errors column by column, which a CSV cell cannot hold. */
export function reportJson(row: RowResult): Record<string, unknown> {
  return { ...reportRecord(row), ...(row.errors ? { errors: row.errors } : {}) };
}
