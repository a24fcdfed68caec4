import { Command, Option } from 'commander';
import { Transform, type Readable } from 'node:stream';
import { ColumnError } from '../domain/columns.js';
import type { RawRow } from '../interfaces.js';
import { asImportWords, dryRun } from '../producer/dry-run.js';
import { importRun } from '../producer/import-run.js';
import { createGraphStates } from '../producer/reconcile.js';
import { RowChecker } from '../producer/validate-rows.js';
import { tenantDirectory } from '../config.js';
import { MemoryGuard, RedisOutOfMemoryError } from '../queue/memory.js';
import { detectFormat, openInput, readRows, SourceError } from '../sources/index.js';
import { readPostgres, redactPostgresUrl } from '../sources/postgres.js';
import { createRunAlerts } from '../../jobs/alerts.js';
import { createProgressReporter } from './progress.js';
import { dryRunOutFormat, openDryRunOut, type DryRunOutFormat } from './dry-run-out.js';
import { describeSendTime } from './send-estimate.js';
import { describeInterruptedImport, ImportInterrupted, untilInterrupted } from './interrupt.js';
import { OperatorError, EXIT } from '../errors.js';
import { capText, quoteValue } from '../domain/quote.js';
import { runStateText } from '../domain/run-state-text.js';
import { describeRedisFailure } from '../queue/connection.js';
import { fileIdentity, postgresIdentity, RunInputConflictError, STDIN_IDENTITY, type InputIdentity } from '../producer/run-input.js';
import { INPUT_ENCODINGS, type InputEncoding } from '../sources/encoding.js';
import { checkRunId, collectMapping, loadCliConfig, newRunId, parsePositiveInt, printJson, withServices } from './shared.js';

interface ImportFlags {
  format?: string;
  runId?: string;
  json?: boolean;
  full?: boolean;
  reconcile?: boolean;
  dryRun?: boolean;
  out?: string;
  outFormat?: DryRunOutFormat;
  map?: Record<string, string>;
  fromPostgres?: string;
  query?: string;
  chunkSize: number;
  progress: boolean;
  encoding: InputEncoding;
  maxRowBytes?: number;
}

/** Counts bytes as the parser pulls them (a pass-through, so back-pressure still holds), for the progress bar. */
function countBytes(input: Readable): { input: Readable; read: () => number } {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  input.on('error', (err) => counter.destroy(err));
  return { input: input.pipe(counter), read: () => bytes };
}

export const importCommand = new Command('import')
  .description('Validate an export and queue one Graph PATCH per changed row (streams; never loads the file)')
  .argument('[file]', 'CSV or NDJSON file, or - for stdin (omit with --from-postgres)')
  .addOption(new Option('--format <format>', 'input format (default: from the extension, else csv)').choices(['csv', 'ndjson']))
  .option(
    '--run-id <id>',
    'run id (A-Z a-z 0-9 _ . -, up to 128); rerun with the same id and the same input to resume an interrupted import',
    checkRunId,
  )
  .option('--json', 'print the summary as one JSON line on stdout')
  .option('--full', 'send every valid row, even if Graph already holds the same values')
  .option(
    '--reconcile',
    "compare every row with Graph's current state (read once per configuration, " +
      'through SYNC_READ_RATE_LIMIT) and send only what Graph does not hold',
  )
  .option('--dry-run', 'validate and diff only: print what would be sent, send and store nothing')
  .option('--out <file>', 'with --dry-run: write the rows it would send (line, key, decision, the properties the PATCH sets) to FILE')
  .addOption(
    new Option('--out-format <format>', 'format of --out (default: ndjson for a .ndjson or .jsonl file name, else csv)').choices([
      'csv',
      'ndjson',
    ]),
  )
  .option('--map <target=source>', 'read a column under another name, e.g. --map userStatusId=user_id (repeatable)', collectMapping)
  .option('--from-postgres <url>', 'read rows from PostgreSQL instead of a file (with --query)')
  .option('--query <sql>', 'SQL whose result columns are the input columns (with --from-postgres)')
  .addOption(
    new Option('--encoding <encoding>', "the input's encoding when it has no byte order mark (a BOM wins)")
      .choices([...INPUT_ENCODINGS])
      .default('utf8'),
  )
  .option('--max-row-bytes <n>', 'largest row in bytes (default SYNC_MAX_ROW_BYTES, 65536)', parsePositiveInt('--max-row-bytes'))
  .option('--chunk-size <n>', 'rows validated and queued per Redis round trip', parsePositiveInt('--chunk-size'), 1000)
  .option('--no-progress', 'no progress bar or progress lines')
  .addHelpText(
    'after',
    `
Columns: configurationId, userStatusId (alias id), configurationType (mobileAppConfiguration | iosLobAppProvisioningConfiguration),
userDisplayName, devicesCount, status, lastReportedDateTime, userPrincipalName. Empty cells leave a property unchanged.
tenantId (a GUID of SYNC_TENANTS_FILE) picks the row's tenant; without it the row is the default tenant's.

Rows holding bytes that are not valid in the input's encoding are rejected, naming line and column (Excel on Windows
often writes windows-1252 or UTF-16: pass --encoding). An input with no data rows is imported as an empty run, with a
warning on stderr. A run id names one input: a different input under an existing run id is refused (exit 2).

--reconcile reads each configuration's user statuses from Graph (one snapshot per configuration, kept in Redis for
SYNC_SNAPSHOT_MAX_AGE) and compares every row with it: a row Graph already holds ends unchanged (its reason names the read
time), any other row is sent, even one an earlier import sent (drift). Rows of a configuration Graph does not have fail, unsent.
Use it for a first sync of an existing tenant, after Redis lost its data, or when something else may have changed Graph.
Each tenant's rows (tenantId, SYNC_TENANTS_FILE) are compared with that tenant's Graph, read with its own token
through its own read budget (its readRateLimit).

Exit codes: 0 input fully read (even with rejected rows), 1 unreadable input, missing column, oversize CSV row, Graph
unreachable (--reconcile), Redis unreachable or not answering (SYNC_REDIS_COMMAND_TIMEOUT_MS), or Redis out of memory
(rerun with the same --run-id once memory is freed: it continues where it stopped), 2 bad usage or a run id that holds
another input.
Ctrl-C stops reading: the rows read so far stay queued, stderr says how many and how to cancel (compliance-sync cancel
<runId>) or resume (rerun with --run-id <runId>), and the command exits 130. A second Ctrl-C ends it at once.
--dry-run --out FILE also writes the rows it would send (decision new or changed): line, key, decision and the properties
the PATCH would set (Redis keeps fingerprints, not earlier values, so a changed row lists all of them). CSV, or NDJSON for
--out-format ndjson or a FILE ending in .ndjson or .jsonl.
--dry-run --json prints {"dryRun":true,"rows","new","changed","unchanged","rejected","stale","accepted","enqueued","superseded"}:
accepted, enqueued (new + changed) and superseded (stale) are the words of an import's --json.
--json prints {"runId","rows","accepted","rejected","enqueued","unchanged","superseded","resumed","queuedNow"} as the last stdout line
(queuedNow: rows this pass newly queued; 0 when a resumed import found nothing new).`,
  )
  .action(async (file: string | undefined, flags: ImportFlags) => {
    if (flags.fromPostgres ? file !== undefined : file === undefined) {
      throw new OperatorError('give either a file (or - for stdin) or --from-postgres <url> --query <sql>', EXIT.usage);
    }
    if (flags.fromPostgres && !flags.query) throw new OperatorError('--from-postgres needs --query <sql>', EXIT.usage);
    if (flags.reconcile && flags.dryRun) throw new OperatorError('--reconcile cannot be combined with --dry-run', EXIT.usage);
    if ((flags.out !== undefined || flags.outFormat !== undefined) && !flags.dryRun)
      throw new OperatorError("--out and --out-format go with --dry-run (a real import's rows are in `report <runId>`)", EXIT.usage);
    if (flags.outFormat !== undefined && flags.out === undefined) throw new OperatorError('--out-format needs --out <file>', EXIT.usage);
    if (flags.reconcile && flags.full)
      throw new OperatorError(
        '--reconcile and --full contradict each other: --full sends every row, --reconcile only what Graph lacks',
        EXIT.usage,
      );
    const renames = flags.map ?? {};
    const warnings = new Set<string>();
    const onUnknownColumn = (name: string) => {
      if (!warnings.has(name)) process.stderr.write(`warning: column ${quoteValue(name)} is not a known column and is ignored\n`);
      warnings.add(name);
    };
    const config = loadCliConfig();
    // One checker for the whole import (and dry run): the source maps header names with it, and the import validates
    // with it; under GRAPH_API_VERSION=v1.0 it rejects iosLobAppProvisioningConfiguration rows.
    let checker: RowChecker;
    try {
      checker = new RowChecker(renames, onUnknownColumn, { apiVersion: config.apiVersion, tenants: tenantDirectory(config) });
    } catch (err) {
      if (err instanceof ColumnError) throw new OperatorError(err.message, EXIT.usage);
      throw err;
    }

    const maxRowBytes = flags.maxRowBytes ?? config.maxRowBytes;
    let rows: AsyncIterable<RawRow>;
    let label: string;
    let input: InputIdentity;
    let totalBytes: number | undefined;
    let bytesRead: (() => number) | undefined;
    if (flags.fromPostgres) {
      rows = readPostgres(flags.fromPostgres, flags.query!);
      label = `postgres ${redactPostgresUrl(flags.fromPostgres)}`;
      input = postgresIdentity(redactPostgresUrl(flags.fromPostgres), flags.query!);
    } else {
      let stream: Readable;
      try {
        stream = await openInput(file!);
      } catch (err) {
        if (err instanceof SourceError) throw new OperatorError(err.message);
        throw err;
      }
      const format = detectFormat(file!, flags.format);
      if (file !== '-') {
        const { realpath, stat } = await import('node:fs/promises');
        const info = await stat(file!);
        totalBytes = info.size;
        input = fileIdentity(await realpath(file!), info.size, info.mtimeMs);
        const counted = countBytes(stream);
        stream = counted.input;
        bytesRead = counted.read;
      } else {
        input = STDIN_IDENTITY;
      }
      rows = readRows(stream, format, checker.mapColumn, { encoding: flags.encoding, maxRowBytes });
      label = file === '-' ? `stdin (${format})` : `${file} (${format})`;
    }

    await withServices(async ({ config, redis, store, queue, logger }) => {
      if (flags.dryRun) {
        const out = flags.out === undefined ? undefined : await openDryRunOut(flags.out, dryRunOutFormat(flags.out, flags.outFormat));
        let summary;
        try {
          summary = await dryRun(store, rows, { checker, full: flags.full, chunkSize: flags.chunkSize, onRow: out?.write });
        } finally {
          await out?.close();
        }
        const words = asImportWords(summary);
        if (flags.json) printJson({ dryRun: true, ...summary, ...words });
        else
          process.stdout.write(
            `dry run of ${label}: ${summary.rows} rows: ${summary.new} ` +
              `new, ${summary.changed} changed, ${summary.unchanged} ` +
              `unchanged, ${summary.stale} stale, ${summary.rejected} rejected; an import ` +
              `would queue ${words.enqueued} to send. Nothing was sent.\n`,
          );
        return;
      }
      const runId = checkRunId(flags.runId ?? newRunId());
      const reporter = createProgressReporter(flags.progress, totalBytes);
      // Ctrl-C stops reading: what was read is still queued, and the operator is told how to cancel or resume. A second
      // Ctrl-C ends the process at once (the handler is gone by then).
      const interrupt = new AbortController();
      const onInterrupt = () => interrupt.abort();
      process.once('SIGINT', onInterrupt);
      let summary;
      try {
        summary = await importRun(store, queue, {
          runId,
          rows: untilInterrupted(rows, interrupt.signal),
          sourceLabel: label,
          full: flags.full,
          checker,
          input,
          memoryGuard: new MemoryGuard(redis, config.memoryHighWaterPercent),
          reconcile: flags.reconcile ? createGraphStates(config, redis) : undefined,
          apiVersion: config.apiVersion,
          chunkSize: flags.chunkSize,
          onProgress: (p) => reporter.update(p, bytesRead?.()),
          logger,
        });
      } catch (err) {
        reporter.stop();
        if (err instanceof ImportInterrupted) {
          const status = await store.status(runId);
          throw new OperatorError(describeInterruptedImport(runId, label, status), EXIT.interrupted);
        }
        if (err instanceof RunInputConflictError) throw err;
        const message = capText((err as Error).message);
        if (err instanceof RedisOutOfMemoryError && err.queuedAll) {
          throw new OperatorError(
            `${message}: every row of ${label} was queued, but the run could not be marked ` +
              `as read to the end. Free memory (let workers finish queued rows, or run ` +
              `\`compliance-sync prune\`), then rerun with --run-id ${runId} to close it ` +
              `(nothing is queued twice).`,
          );
        }
        if (err instanceof RedisOutOfMemoryError) {
          const where =
            err.fromLine !== undefined ? `nothing from line ${err.fromLine} of ${label} on was queued` : `nothing of ${label} was queued`;
          throw new OperatorError(
            `${message}: ${where}. Free memory (let workers finish queued rows, or run ` +
              `\`compliance-sync prune\`), then rerun with --run-id ${runId} to pick up where ` +
              `it stopped.`,
          );
        }
        const redisFailure = describeRedisFailure(err, config.redisCommandTimeoutMs);
        if (redisFailure)
          throw new OperatorError(`${label}: import stopped: ${redisFailure}; rerun with --run-id ${runId} once Redis answers`);
        if (err instanceof ColumnError) throw new OperatorError(`${label}: ${message}`);
        const partialRun = (await store.runExists(runId))
          ? ` (rows read before this point are in run ${runId}; fix the input and rerun with --run-id ${runId})`
          : '';
        throw new OperatorError(`${label}: import stopped: ${message}${partialRun}`);
      }
      reporter.stop();
      process.off('SIGINT', onInterrupt);
      // An empty export is nearly always a broken one: say so, though reading nothing is not a failure.
      if (summary.rows === 0 && !summary.resumed) process.stderr.write(`warning: ${label} holds no data rows; nothing was imported\n`);
      // Every row had already ended when the input did (e.g. all unchanged): no worker will announce this run.
      if (summary.completed) await createRunAlerts(config, redis, logger)?.checkRun(runId);
      // Totals come from the run, so a resumed import reports the same figures as an uninterrupted one.
      const status = (await store.status(runId))!;
      // queuedNow: rows this pass newly queued. A resumed pass re-adds the jobs of rows an earlier pass left queued
      // under their same ids (a no-op when the job is there): those are not new.
      const queuedNow = summary.enqueued;
      const result = {
        runId,
        rows: status.total,
        accepted: status.accepted,
        rejected: status.rejected,
        enqueued: status.enqueued,
        unchanged: status.unchanged,
        superseded: status.superseded,
        resumed: summary.resumed,
        queuedNow,
      };
      if (flags.json) printJson(result);
      else if (summary.resumed && queuedNow === 0) {
        process.stdout.write(
          `run ${runId}: resumed: nothing new to queue (${result.rows} rows read ` +
            `earlier; ${runStateText(status)}, ${status.pending} still pending)\n`,
        );
      } else {
        process.stdout.write(
          `run ${runId}: ${result.rows} rows read, ${result.accepted} ` +
            `accepted, ${result.rejected} ` +
            `rejected, ${summary.resumed ? `${queuedNow} newly queued (${result.enqueued} in all)` : `${result.enqueued} queued to send`}` +
            `, ${result.unchanged} ` +
            `unchanged${result.superseded ? `, ${result.superseded} superseded` : ''}\n`,
        );
        // Every row ended at import (all unchanged or rejected): say how the run ended, rejected rows included.
        if (status.state !== 'running') process.stdout.write(`run ${runId}: ${runStateText(status)}\n`);
        if (result.rejected > 0) process.stdout.write(`see the rejected rows with: compliance-sync report ${runId} --state rejected\n`);
      }
      // How long the workers will take at the configured budget (stderr: --json keeps stdout to its one line).
      const sendTime = describeSendTime(status.pending, config.rateLimit);
      if (sendTime)
        process.stderr.write(
          `${sendTime}${config.tenants.length > 0 ? '; the tenants of SYNC_TENANTS_FILE send alongside, each at its own budget' : ''}\n`,
        );
    });
  });
