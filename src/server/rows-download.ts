import { stringify } from 'csv-stringify';
import { Readable, pipeline, type Readable as ReadableStream } from 'node:stream';
import type { RowResult } from '../interfaces.js';
import { neutraliseCell, REPORT_COLUMNS, reportJson, reportRecord } from '../results/report.js';

export type DownloadFormat = 'csv' | 'ndjson';

export const DOWNLOAD_TYPES: Record<DownloadFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/**
 * A run's rows as a stream of `report`'s CSV (cells that a spreadsheet would run as formulas neutralised) or NDJSON,
 * read from Redis as the client takes them, so a million-row download holds a batch of rows in memory, not the run.
 * A read that fails mid-way destroys the stream (the client sees a cut-off download, never a complete-looking one).
 */
export function rowsDownload(rows: AsyncIterable<RowResult>, format: DownloadFormat, onError: (err: Error) => void): ReadableStream {
  if (format === 'ndjson') {
    return Readable.from(
      (async function* () {
        for await (const row of rows) yield `${JSON.stringify(reportJson(row))}\n`;
      })(),
    );
  }
  const csv = stringify({ header: true, columns: [...REPORT_COLUMNS], cast: { string: neutraliseCell } });
  const records = Readable.from(
    (async function* () {
      for await (const row of rows) yield reportRecord(row);
    })(),
  );
  pipeline(records, csv, (err) => {
    if (err) onError(err);
  });
  return csv;
}

/** The download's file name: the run id (already held to A-Z a-z 0-9 _ . -), the state if one, the format. */
export function downloadFileName(runId: string, format: DownloadFormat, state?: string): string {
  return `${runId}${state ? `-${state}` : ''}.${format}`;
}
