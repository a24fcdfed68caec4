import { describeRoughDuration } from '../domain/rough-duration.js';

/** What the import bar shows: rows read of how many (estimated from bytes until the input is read), and an ETA. */
export interface ImportEstimate {
  rows: number;
  /**
   * Rows the input holds: exact once it is read, else extrapolated from the bytes read so far;
   * undefined without a size (stdin, PostgreSQL).
   */
  totalRows?: number;
  estimated: boolean;
  etaMs?: number;
  eta: string;
}

/**
 * Rows so far ÷ bytes so far × the file's size estimates its rows (the first rows are as long as the rest, near enough);
 * the time left is the rows left at the rate so far. Neither is known before the first row, nor without a size.
 */
export function estimateImport(progress: { rows: number; bytesRead?: number; totalBytes?: number; elapsedMs: number }): ImportEstimate {
  const { rows, bytesRead, totalBytes, elapsedMs } = progress;
  if (totalBytes === undefined || bytesRead === undefined || bytesRead <= 0 || rows <= 0) {
    return { rows, estimated: totalBytes !== undefined, eta: 'unknown' };
  }
  const done = bytesRead >= totalBytes;
  // Never below the rows already read: the parser may be a chunk behind the bytes counted.
  const totalRows = done ? rows : Math.max(rows, Math.round((rows * totalBytes) / bytesRead));
  const rate = elapsedMs > 0 ? rows / elapsedMs : 0;
  const etaMs = done ? 0 : rate > 0 ? Math.round((totalRows - rows) / rate) : undefined;
  return {
    rows,
    totalRows,
    estimated: !done,
    etaMs,
    eta: etaMs === undefined ? 'unknown' : etaMs === 0 ? 'done' : describeRoughDuration(etaMs),
  };
}

/** "1234 of ~100000 rows" while estimated, "100000 of 100000 rows" once known, "1234 rows" without a size. */
export function describeImportRows(estimate: ImportEstimate): string {
  if (estimate.totalRows === undefined) return `${estimate.rows} rows`;
  return `${estimate.rows} of ${estimate.estimated ? '~' : ''}${estimate.totalRows} rows`;
}
