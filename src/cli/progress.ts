import { SingleBar, Presets } from 'cli-progress';
import type { ImportProgress } from '../producer/import-run.js';

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
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      {
        stream: process.stderr,
        format: totalBytes
          ? '{bar} {percentage}% | {rows} rows {rate}/s | accepted {accepted} rejected {rejected} unchanged {unchanged}'
          : '{rows} rows {rate}/s | accepted {accepted} rejected {rejected} unchanged {unchanged}',
        hideCursor: true,
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
    bar.start(totalBytes ?? 1, 0, { rows: 0, rate: 0, accepted: 0, rejected: 0, unchanged: 0 });
    return {
      update: (p, bytes) => bar.update(totalBytes ? Math.min(bytes ?? 0, totalBytes) : 0, { ...p, rate: rate(p.rows) }),
      stop: () => bar.stop(),
    };
  }
  let lastLine = 0;
  return {
    update: (p) => {
      if (Date.now() - lastLine < 5000) return;
      lastLine = Date.now();
      process.stderr.write(`progress: ${p.rows} rows (${rate(p.rows)}/s), accepted ${p.accepted}, rejected ${p.rejected}, unchanged ${p.unchanged}, enqueued ${p.enqueued}\n`);
    },
    stop: () => undefined,
  };
}
