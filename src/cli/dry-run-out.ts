import { stringify } from 'csv-stringify';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { DryRunRow } from '../producer/dry-run.js';
import { OperatorError } from '../errors.js';
import { neutraliseCell } from './report.js';

export type DryRunOutFormat = 'csv' | 'ndjson';

/** The columns of `import --dry-run --out`, in order; the properties are those a PATCH of the row would set. */
export const DRY_RUN_OUT_COLUMNS = [
  'line',
  'key',
  'decision',
  'userDisplayName',
  'devicesCount',
  'status',
  'lastReportedDateTime',
  'userPrincipalName',
] as const;

/** --out-format wins; else a file named *.ndjson (or *.jsonl) is NDJSON and anything else CSV, as `import --format` reads it. */
export function dryRunOutFormat(path: string, explicit?: DryRunOutFormat): DryRunOutFormat {
  if (explicit) return explicit;
  return /\.(ndjson|jsonl)$/i.test(path) ? 'ndjson' : 'csv';
}

/** Only the rows an import would send: new and changed ones (with --full, unchanged ones come back as changed). */
export function wouldSend(row: DryRunRow): boolean {
  return row.verdict === 'new' || row.verdict === 'changed';
}

/** One output record: line, key, decision and each property the PATCH would set (absent ones are left out). */
export function dryRunOutRecord(row: DryRunRow): Record<string, string | number> {
  const record: Record<string, string | number> = { line: row.line, key: row.key, decision: row.verdict };
  for (const [name, value] of Object.entries(row.properties ?? {})) if (value !== undefined) record[name] = value as string | number;
  return record;
}

export interface DryRunOut {
  write: (row: DryRunRow) => Promise<void>;
  close: () => Promise<void>;
}

/** Opens FILE for the rows a dry run would send; fails with an OperatorError (exit 1) when it cannot be written. */
export async function openDryRunOut(path: string, format: DryRunOutFormat): Promise<DryRunOut> {
  const file = createWriteStream(path);
  await Promise.race([
    once(file, 'open'),
    once(file, 'error').then(([err]) => Promise.reject(new OperatorError(`cannot write ${path}: ${(err as Error).message}`))),
  ]);
  let sink: Writable = file;
  if (format === 'csv') {
    const csv = stringify({ header: true, columns: [...DRY_RUN_OUT_COLUMNS], cast: { string: neutraliseCell } });
    csv.pipe(file);
    sink = csv;
  }
  return {
    write: async (row) => {
      if (!wouldSend(row)) return;
      const record = dryRunOutRecord(row);
      const ok = format === 'csv' ? sink.write(record) : sink.write(`${JSON.stringify(record)}\n`);
      if (!ok) await once(sink, 'drain');
    },
    close: async () => {
      sink.end();
      await once(file, 'finish');
    },
  };
}
