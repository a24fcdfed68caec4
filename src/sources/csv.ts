import { Parser, type Options } from 'csv-parse';
import type { Readable } from 'node:stream';
import type { RawRow } from '../interfaces.js';
import { capText } from '../domain/quote.js';
import { INVALID_MARK, invalidBytesReason } from './encoding.js';
import { SourceError } from './errors.js';

export interface CsvSourceOptions {
  /** Called once with the header; throw to refuse the file before any row is read. */
  onHeader?: (header: string[]) => void;
  delimiter?: string;
  /**
   * Largest row, in bytes (default 64 KiB). A bigger one stops the import at that line: in CSV, a runaway row is
   * nearly always an unclosed quote, and then where the row really ends cannot be known.
   */
  maxRowBytes?: number;
  /** Reason for a row holding INVALID_MARK (bytes that were not valid in the input's encoding). */
  invalidBytesReason?: () => string;
  /** False while the input cannot hold INVALID_MARK yet, which spares every row the look (see DecodingStream.marked). */
  mayHoldInvalidBytes?: () => boolean;
}

export const DEFAULT_MAX_ROW_BYTES = 64 * 1024;

function countNewlines(record: Record<string, string>): number {
  let n = 0;
  for (const key in record) {
    const value = record[key];
    if (typeof value !== 'string') continue;
    for (let at = value.indexOf('\n'); at !== -1; at = value.indexOf('\n', at + 1)) n++;
  }
  return n;
}

/**
 * csv-parse pushes each record synchronously, the moment it has parsed it, so its running counters (`info`) read
 * in `push` are that record's: the figures `info: true` would copy into a new object for every record. Reading
 * them here turns each record into its RawRow directly, which is a measurable share of a million-row import.
 */
class RawRowParser extends Parser {
  invalidBytesReason: () => string = () => invalidBytesReason('utf8');
  mayHoldInvalidBytes: () => boolean = () => true;
  private previousEndLine = 1;
  private previousEmptyLines = 0;
  private previousCommentLines = 0;
  private previousInvalid = 0; // csv-parse's counters are running totals, so each row compares with the last

  override push(record: unknown, encoding?: BufferEncoding): boolean {
    if (record === null) return super.push(null, encoding);
    const fields = record as Record<string, string>;
    const info = this.info;
    const line = this.previousEndLine + 1 + (info.empty_lines - this.previousEmptyLines) + (info.comment_lines - this.previousCommentLines);
    this.previousEndLine = line + countNewlines(fields);
    this.previousEmptyLines = info.empty_lines;
    this.previousCommentLines = info.comment_lines;
    const inconsistent = info.invalid_field_length > this.previousInvalid;
    this.previousInvalid = info.invalid_field_length;
    let row: RawRow = inconsistent
      ? {
          line,
          fields,
          problem: {
            column: '(row)',
            reason: `has a different number of cells than the header (${(this.options.columns as unknown[]).length} columns)`,
          },
        }
      : { line, fields };
    if (!inconsistent && this.mayHoldInvalidBytes()) {
      for (const name in fields) {
        if (typeof fields[name] === 'string' && fields[name].includes(INVALID_MARK)) {
          row = { line, fields, problem: { column: name, reason: this.invalidBytesReason() } };
          break;
        }
      }
    }
    return super.push(row, encoding);
  }
}

/**
 * Streams CSV rows with the physical line each starts on (header = line 1), so that
 * rejections can point at a line the user can open. BOM, CRLF and quoted newlines are handled by csv-parse;
 * a row with the wrong number of cells is passed on with a `problem` for the validator to reject.
 * Nothing is read until the rows are iterated.
 */
export function readCsv(input: Readable, options: CsvSourceOptions = {}): AsyncIterable<RawRow> {
  return {
    [Symbol.asyncIterator]() {
      const maxRowBytes = options.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES;
      const parserOptions: Options = {
        bom: true,
        delimiter: options.delimiter ?? ',',
        columns: (header: string[]) => {
          if (header.some((name) => name.includes(INVALID_MARK)))
            throw new SourceError(`the header (line 1) ${(options.invalidBytesReason ?? (() => invalidBytesReason('utf8')))()}`);
          options.onHeader?.(header);
          return header;
        },
        relax_column_count: true,
        skip_empty_lines: true,
        max_record_size: maxRowBytes,
      };
      const parser = new RawRowParser(parserOptions);
      if (options.invalidBytesReason) parser.invalidBytesReason = options.invalidBytesReason;
      if (options.mayHoldInvalidBytes) parser.mayHoldInvalidBytes = options.mayHoldInvalidBytes;
      // Runs before the iterator sees the error (listeners run in order), so the import reports it in our words.
      parser.on('error', (err: Error & { code?: string; lines?: number }) => {
        if (err.code === 'CSV_MAX_RECORD_SIZE') {
          err.message =
            `the row reaching line ${err.lines ?? '?'} is larger than the maximum row size ` +
            `of ${maxRowBytes} bytes (SYNC_MAX_ROW_BYTES or --max-row-bytes); an unclosed ` +
            `quote makes a row run on like this`;
        } else {
          err.message = capText(err.message);
        }
      });
      input.pipe(parser);
      input.on('error', (err) => parser.destroy(err));
      return parser[Symbol.asyncIterator]() as AsyncIterator<RawRow>;
    },
  };
}
