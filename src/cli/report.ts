import { stringify } from 'csv-stringify';
import { Command, Option } from 'commander';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { ROW_STATES, type RowState } from '../interfaces.js';
import { DriftStore } from '../results/drift.js';
import { DRIFT_COLUMNS, driftRecord, neutraliseCell, REPORT_COLUMNS, reportJson, reportRecord } from '../results/report.js';
import { OperatorError, EXIT } from '../errors.js';
import { withServices, checkRunId } from './shared.js';

// Kept exported from here for the modules that import it from the CLI; it lives with the report columns.
export { neutraliseCell };

async function write(out: Writable, text: string) {
  if (!out.write(text)) await once(out, 'drain');
}

export const reportCommand = new Command('report')
  .description('Write one line per row of a run: line, key, state, HTTP status, attempts and the reason for any failure or rejection')
  .argument('<runId>', 'run id', checkRunId)
  .addOption(
    new Option('--state <state>', 'only rows in this state; drifted, missing and overridden list what the last `verify` found').choices([
      ...ROW_STATES,
      'drifted',
      'missing',
      'overridden',
    ]),
  )
  .addOption(new Option('--format <format>', 'output format').choices(['csv', 'ndjson']).default('csv'))
  .option('--out <path>', 'write to a file instead of stdout')
  .addHelpText(
    'after',
    `\nColumns: ${REPORT_COLUMNS.join(', ')}; with --state drifted, missing or ` +
      `overridden also ${DRIFT_COLUMNS.slice(REPORT_COLUMNS.length).join(', ')} (the ` +
      `values we sent and those Graph holds, as JSON; for overridden, differs names ` +
      `the properties Graph sets back itself). CSV cells starting with = + - @ are ` +
      `prefixed with ' so spreadsheets do not run them.\nExit codes: 0 written, 4 no ` +
      `such run, 1 Redis unreachable or the file cannot be written.`,
  )
  .action(
    async (runId: string, flags: { state?: RowState | 'drifted' | 'missing' | 'overridden'; format: 'csv' | 'ndjson'; out?: string }) => {
      await withServices(async ({ store, redis, config }) => {
        if (!(await store.runExists(runId))) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
        const out: Writable = flags.out ? createWriteStream(flags.out) : process.stdout;
        if (flags.out) {
          await Promise.race([
            once(out, 'open'),
            once(out, 'error').then(([err]) => Promise.reject(new OperatorError(`cannot write ${flags.out}: ${(err as Error).message}`))),
          ]);
        }
        if (flags.state === 'drifted' || flags.state === 'missing' || flags.state === 'overridden') {
          const drift = new DriftStore(redis, config.prefix).entries(runId, flags.state);
          const records = async function* () {
            for await (const entry of drift) {
              const row = await store.getRow(runId, entry.line);
              if (row) yield driftRecord(row, entry);
            }
          };
          if (flags.format === 'ndjson') {
            for await (const record of records()) await write(out, `${JSON.stringify(record)}\n`);
          } else {
            const csv = stringify({ header: true, columns: [...DRIFT_COLUMNS], cast: { string: neutraliseCell } });
            csv.pipe(out, { end: false });
            for await (const record of records()) if (!csv.write(record)) await once(csv, 'drain');
            csv.end();
            await once(csv, 'end');
          }
          if (flags.out) {
            out.end();
            await once(out, 'finish');
          }
          return;
        }
        const rows = store.iterateRows(runId, flags.state ? [flags.state] : undefined);
        if (flags.format === 'ndjson') {
          for await (const row of rows) await write(out, `${JSON.stringify(reportJson(row))}\n`);
        } else {
          const csv = stringify({ header: true, columns: [...REPORT_COLUMNS], cast: { string: neutraliseCell } });
          csv.pipe(out, { end: false });
          for await (const row of rows) if (!csv.write(reportRecord(row))) await once(csv, 'drain');
          csv.end();
          await once(csv, 'end');
        }
        if (flags.out) {
          out.end();
          await once(out, 'finish');
        }
      });
    },
  );
