import type { RawRow } from '../interfaces.js';
import { redactUrl } from '../redact-url.js';

/**
 * Reads a query through a server-side cursor, `batchSize` rows at a time, so a million-row table
 * never sits in memory. `line` is the row's 1-based position in the result.
 */
export async function* readPostgres(connectionString: string, query: string, batchSize = 1000): AsyncGenerator<RawRow> {
  // Loaded when a query is read, not when a worker starts (most never run a PostgreSQL schedule).
  const [{ default: pg }, { default: Cursor }] = await Promise.all([import('pg'), import('pg-cursor')]);
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is unreachable: ${(err as Error).message}`, { cause: err });
  }
  try {
    const cursor = client.query(new Cursor(query));
    let line = 0;
    for (;;) {
      const rows = (await cursor.read(batchSize)) as Record<string, unknown>[];
      if (rows.length === 0) break;
      for (const row of rows) {
        line++;
        const fields: Record<string, unknown> = {};
        for (const [name, value] of Object.entries(row)) {
          // timestamptz columns arrive as Date; Graph wants ISO 8601 with a zone.
          fields[name] = value instanceof Date ? value.toISOString() : value;
        }
        yield { line, fields };
      }
    }
    await cursor.close();
  } finally {
    await client.end();
  }
}

/** Hides the password of a connection URL in labels and messages. */
export const redactPostgresUrl = (url: string): string => redactUrl(url, '<postgres url>');
