import type { RowResult } from '../interfaces.js';
import type { DriftEntry } from './drift.js';

/**
 * Spreadsheet formula injection: a cell that starts with = + - @ (or tab/CR) is prefixed with a quote, so a reason
 * Graph sent or a key from an input file cannot run as a formula when a report is opened in a spreadsheet.
 */
export function neutraliseCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** One row of a run as users see it, in `report` (CSV, NDJSON) and in the HTTP API and dashboard alike. */
export const REPORT_COLUMNS = [
  'line',
  'key',
  'state',
  'httpStatus',
  'attempts',
  'reason',
  'requestId',
  'finishedAt',
  'supersededBy',
  'clientRequestId',
] as const;
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
    clientRequestId: row.clientRequestId,
  };
}

/** The JSON form adds a rejected row's errors column by column, which a CSV cell cannot hold. */
export function reportJson(row: RowResult): Record<string, unknown> {
  return { ...reportRecord(row), ...(row.errors ? { errors: row.errors } : {}) };
}

/**
 * `report --state drifted|missing|overridden`: the row's columns, then what verify found: which properties (for
 * overridden, those Graph sets back itself), what we sent, what Graph holds.
 */
export const DRIFT_COLUMNS = [...REPORT_COLUMNS, 'drift', 'differs', 'sent', 'graph', 'graphReadAt'] as const;

export function driftRecord(row: RowResult, entry: DriftEntry): Record<(typeof DRIFT_COLUMNS)[number], string | number | undefined> {
  return {
    ...reportRecord(row),
    drift: entry.kind,
    differs: entry.properties.join(' '),
    sent: JSON.stringify(entry.sent),
    graph: entry.graph === null ? undefined : JSON.stringify(entry.graph),
    graphReadAt: new Date(entry.readAt).toISOString(),
  };
}
