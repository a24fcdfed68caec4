import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { resolveHeader, type CanonicalColumn } from '../domain/columns.js';
import type { RawRow } from '../interfaces.js';
import { readCsv } from './csv.js';
import { readNdjson } from './ndjson.js';
import { decodeToUtf8, invalidBytesReason, type InputEncoding } from './encoding.js';
import { SourceError } from './errors.js';

export type FileFormat = 'csv' | 'ndjson';

export { SourceError };

export function detectFormat(path: string, explicit?: string): FileFormat {
  if (explicit === 'csv' || explicit === 'ndjson') return explicit;
  if (explicit) throw new SourceError(`--format must be csv or ndjson, got "${explicit}"`);
  return /\.(nd)?jsonl?$/i.test(path) ? 'ndjson' : 'csv';
}

/** Opens the file first, so a missing or unreadable path fails with a clear message before any run exists. */
export async function openInput(path: string, stdin: Readable = process.stdin): Promise<Readable> {
  if (path === '-') return stdin;
  try {
    const handle = await open(path, 'r');
    const stat = await handle.stat();
    if (stat.isDirectory()) {
      await handle.close();
      throw new SourceError(`cannot read ${path}: it is a directory`);
    }
    return handle.createReadStream({ highWaterMark: 256 * 1024 });
  } catch (err) {
    if (err instanceof SourceError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new SourceError(
      `cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message}`,
    );
  }
}

export interface ReadRowsOptions {
  /** The input's encoding when it has no BOM (default utf8). */
  encoding?: InputEncoding;
  /** Largest row in bytes (default 64 KiB, SYNC_MAX_ROW_BYTES). */
  maxRowBytes?: number;
}

/**
 * Rows of a CSV or NDJSON stream; the CSV header is checked against the known columns before the first row.
 * The bytes are decoded first (BOM detection, --encoding), and a row holding bytes that are not valid in that
 * encoding is rejected, naming its line and column, rather than sent with U+FFFD in place of the bytes.
 */
export function readRows(
  input: Readable,
  format: FileFormat,
  mapColumn: (name: string) => CanonicalColumn | undefined,
  options: ReadRowsOptions = {},
): AsyncIterable<RawRow> {
  const decoder = decodeToUtf8(options.encoding ?? 'utf8');
  input.on('error', (err) => decoder.destroy(err));
  const utf8 = input.pipe(decoder);
  const badBytes = () => invalidBytesReason(decoder.detected);
  if (format === 'ndjson') return readNdjson(utf8, { maxRowBytes: options.maxRowBytes, invalidBytesReason: badBytes });
  return readCsv(utf8, {
    onHeader: (header) => void resolveHeader(header, mapColumn),
    maxRowBytes: options.maxRowBytes,
    invalidBytesReason: badBytes,
    mayHoldInvalidBytes: () => decoder.marked,
  });
}
