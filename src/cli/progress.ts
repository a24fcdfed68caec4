import { SingleBar, Presets } from 'cli-progress';
import type { ImportProgress } from '../producer/import-run.js';
import { describeImportRows, estimateImport } from './import-estimate.js';

export interface ProgressReporter {
  update(progress: ImportProgress, bytesRead?: number): void;
  stop(): void;
}

/**
 * A bar on a terminal, plain lines every few seconds otherwise (cron mails, CI logs).
 * Both go to stderr so `--json` output on stdout stays machine-readable.
 */
export function createProgressReporter(enabled: boolean, totalBytes?: number): ProgressReporter {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const started = Date.now();
  const rate = (rows: number) => Math.round(rows / Math.max(0.001, (Date.now() - started) / 1000));
  // Rows of how many (estimated from the bytes read until the file is read) and the time left; rows only without a size.
  const estimate = (rows: number, bytesRead?: number) => estimateImport({ rows, bytesRead, totalBytes, elapsedMs: Date.now() - started });
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      {
        stream: process.stderr,
        format: totalBytes
          ? '{bar} {percentage}% | {rowsText} {rate}/s | ETA {etaText} | accepted {accepted} rejected {rejected} unchanged {unchanged}'
          : '{rowsText} {rate}/s | accepted {accepted} rejected {rejected} unchanged {unchanged}',
        hideCursor: true,
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
    bar.start(1, 0, { rowsText: '0 rows', rate: 0, etaText: 'unknown', accepted: 0, rejected: 0, unchanged: 0 });
    return {
      update: (p, bytes) => {
        const e = estimate(p.rows, bytes);
        if (e.totalRows !== undefined) bar.setTotal(Math.max(1, e.totalRows));
        bar.update(e.totalRows !== undefined ? p.rows : 0, { ...p, rowsText: describeImportRows(e), etaText: e.eta, rate: rate(p.rows) });
      },
      stop: () => bar.stop(),
    };
  }
  let lastLine = 0;
  return {
    update: (p, bytes) => {
      if (Date.now() - lastLine < 5000) return;
      lastLine = Date.now();
      const e = estimate(p.rows, bytes);
      process.stderr.write(
        `progress: ${describeImportRows(e)} (${rate(p.rows)}` +
          `/s${e.totalRows !== undefined ? `, ETA ${e.eta}` : ''}), accepted ${p.accepted}` +
          `, rejected ${p.rejected}, unchanged ${p.unchanged}, enqueued ${p.enqueued}\n`,
      );
    },
    stop: () => undefined,
  };
}
