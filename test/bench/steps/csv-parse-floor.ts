/**
 * The floor for any CSV import: csv-parse reading the file into one object per row, nothing else.
 * Usage: node --import tsx test/bench/steps/csv-parse-floor.ts <file>; prints {"rows":n} on stdout.
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';

const file = process.argv[2];
if (!file) throw new Error('usage: csv-parse-floor.ts <file>');
let rows = 0;
// The same read size and parser options the CSV source uses, minus its line bookkeeping.
const parser = createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(
  parse({ bom: true, columns: true, relax_column_count: true, skip_empty_lines: true }),
);
for await (const record of parser) if (record) rows++;
process.stdout.write(`${JSON.stringify({ rows })}\n`);
