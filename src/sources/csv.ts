import { parse } from 'csv-parse';
import type { Readable } from 'node:stream';
import type { RawRow } from '../interfaces.js';

export interface CsvSourceOptions {
  /** Called once with the header; throw to refuse the file before any row is read. */
  onHeader?: (header: string[]) => void;
  delimiter?: string;
}

const countNewlines = (record: Record<string, unknown>) => {
  let n = 0;
  for (const value of Object.values(record)) if (typeof value === 'string') for (const ch of value) if (ch === '\n') n++;
  return n;
};

/**
 * Streams CSV rows with the physical line each starts on (header = line 1), so that
 * rejections can point at a line the user can open. BOM, CRLF and quoted newlines are handled by csv-parse;
 * a row with the wrong number of cells is passed on with `fieldCountProblem` for the validator to reject.
 */
export async function* readCsv(input: Readable, options: CsvSourceOptions = {}): AsyncGenerator<RawRow> {
  const parser = input.pipe(
    parse({
      bom: true,
      delimiter: options.delimiter ?? ',',
      columns: (header: string[]) => {
        options.onHeader?.(header);
        return header;
      },
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }),
  );
  input.on('error', (err) => parser.destroy(err));
  let previousEndLine = 1;
  let previousEmptyLines = 0;
  let previousCommentLines = 0;
  let previousInvalid = 0; // csv-parse's counters are running totals, so each row compares with the last
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { empty_lines: number; comment_lines: number; invalid_field_length: number; columns: unknown[] } }>) {
    const line = previousEndLine + 1 + (info.empty_lines - previousEmptyLines) + (info.comment_lines - previousCommentLines);
    previousEndLine = line + countNewlines(record);
    previousEmptyLines = info.empty_lines;
    previousCommentLines = info.comment_lines;
    const fields: Record<string, unknown> = record;
    const inconsistent = info.invalid_field_length > previousInvalid;
    previousInvalid = info.invalid_field_length;
    if (inconsistent) {
      yield { line, fields, problem: { column: '(row)', reason: `has a different number of cells than the header (${info.columns.length} columns)` } };
    } else {
      yield { line, fields };
    }
  }
}
