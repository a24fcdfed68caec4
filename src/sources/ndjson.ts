import type { Readable } from 'node:stream';
import { capText } from '../domain/quote.js';
import type { RawRow } from '../interfaces.js';
import { DEFAULT_MAX_ROW_BYTES } from './csv.js';
import { INVALID_MARK, invalidBytesReason } from './encoding.js';
import { SourceError } from './errors.js';

export interface NdjsonSourceOptions {
  /** Largest line, in bytes (default 64 KiB): a longer one is rejected as a row, and reading goes on at the next line. */
  maxRowBytes?: number;
  invalidBytesReason?: () => string;
}

const NEWLINE = 0x0a;
/**
 * An oversize line is skipped to its end, but one that runs on for this many maximum rows (and at least 64 MiB, so a
 * small --max-row-bytes still skips ordinary long lines) is not a line at all (`/dev/zero`).
 */
const RUNAWAY_FACTOR = 1024;
const MIN_RUNAWAY_BYTES = 64 * 1024 * 1024;

/**
 * Splits UTF-8 bytes into lines without ever holding more than `maxBytes` of one line: a line without end
 * (`/dev/zero`) is skipped as it streams by, so memory stays bounded and the import goes on.
 */
export async function* splitLines(
  input: AsyncIterable<Buffer | string>,
  maxBytes: number,
): AsyncGenerator<{ text: string; oversize: boolean }> {
  let parts: Buffer[] = [];
  let length = 0;
  let oversize = false;
  let skipped = 0;
  let line = 1;
  const maxSkip = Math.max(maxBytes * RUNAWAY_FACTOR, MIN_RUNAWAY_BYTES);
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(NEWLINE, start); ; nl = bytes.indexOf(NEWLINE, start)) {
      const end = nl === -1 ? bytes.length : nl;
      if (oversize) {
        skipped += end - start;
        if (skipped > maxSkip) {
          throw new SourceError(
            `line ${line} runs on for more than ${maxSkip} bytes without a line end: this ` +
              `is not NDJSON (${maxBytes} bytes is the maximum row size, SYNC_MAX_ROW_BYTES)`,
          );
        }
      } else {
        if (length + (end - start) > maxBytes) {
          oversize = true;
          skipped = length + (end - start);
          parts = [];
          length = 0;
        } else if (end > start) {
          parts.push(bytes.subarray(start, end));
          length += end - start;
        }
      }
      if (nl === -1) break;
      yield oversize ? { text: '', oversize: true } : { text: Buffer.concat(parts, length).toString('utf8'), oversize: false };
      parts = [];
      length = 0;
      oversize = false;
      skipped = 0;
      line++;
      start = nl + 1;
    }
  }
  if (oversize || length > 0)
    yield oversize ? { text: '', oversize: true } : { text: Buffer.concat(parts, length).toString('utf8'), oversize: false };
}

/** The column holding bytes that were not valid: the first top-level field whose value (or name) holds INVALID_MARK. */
function invalidColumn(value: Record<string, unknown>): string {
  for (const [name, field] of Object.entries(value)) {
    if (name.includes(INVALID_MARK)) return '(row)';
    if (typeof field === 'string' && field.includes(INVALID_MARK)) return name;
    if (field !== null && typeof field === 'object' && JSON.stringify(field).includes(INVALID_MARK)) return name;
  }
  return '(row)';
}

/**
 * Streams one JSON object per line; a line that is not a JSON object, holds bytes that are not valid, or is over
 * the row size becomes a rejected row, not a failed import. Expects UTF-8 bytes (see decodeToUtf8).
 */
export async function* readNdjson(input: Readable, options: NdjsonSourceOptions = {}): AsyncGenerator<RawRow> {
  const maxRowBytes = options.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES;
  const badBytes = options.invalidBytesReason ?? (() => invalidBytesReason('utf8'));
  let line = 0;
  for await (const { text, oversize } of splitLines(input, maxRowBytes)) {
    line++;
    if (oversize) {
      yield {
        line,
        fields: {},
        problem: {
          column: '(row)',
          reason: `is larger than the maximum row size of ${maxRowBytes} bytes (SYNC_MAX_ROW_BYTES or --max-row-bytes)`,
        },
      };
      continue;
    }
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      yield {
        line,
        fields: {},
        problem: {
          column: '(row)',
          reason: trimmed.includes(INVALID_MARK) ? badBytes() : `is not valid JSON: ${capText((err as Error).message, 300)}`,
        },
      };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, fields: {}, problem: { column: '(row)', reason: 'is not a JSON object' } };
      continue;
    }
    const fields = value as Record<string, unknown>;
    if (trimmed.includes(INVALID_MARK)) {
      yield { line, fields, problem: { column: invalidColumn(fields), reason: badBytes() } };
      continue;
    }
    yield { line, fields };
  }
}
