import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { RawRow } from '../interfaces.js';

/** Streams one JSON object per line; a line that is not a JSON object becomes a rejected row, not a failed import. */
export async function* readNdjson(input: Readable): AsyncGenerator<RawRow> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      yield { line, fields: {}, problem: { column: '(row)', reason: `is not valid JSON: ${(err as Error).message}` } };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, fields: {}, problem: { column: '(row)', reason: 'is not a JSON object' } };
      continue;
    }
    yield { line, fields: value as Record<string, unknown> };
  }
}
