import { Command, Option } from 'commander';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ColumnError, createColumnMapper } from '../domain/columns.js';
import {
  checkCron,
  checkScheduleName,
  createScheduleQueue,
  DEFAULT_SETTLE_MS,
  getSchedule,
  listSchedules,
  removeSchedule,
  ScheduleError,
  upsertSchedule,
  type ScheduleQueue,
  type ScheduleSource,
  type ScheduleSummary,
} from '../queue/schedules.js';
import { OperatorError, EXIT } from '../errors.js';
import { INPUT_ENCODINGS, type InputEncoding } from '../sources/encoding.js';
import { collectMapping, parseMillisecondsFlag, printJson, withServices, type Services } from './shared.js';

interface AddFlags {
  cron: string;
  tz?: string;
  dir?: string;
  fromPostgres?: string;
  query?: string;
  format?: 'csv' | 'ndjson';
  full?: boolean;
  reconcile?: boolean;
  verify?: boolean;
  map?: Record<string, string>;
  settle?: number;
  encoding?: InputEncoding;
  json?: boolean;
}

function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ScheduleError || err instanceof ColumnError) throw new OperatorError(err.message, EXIT.usage);
    throw err;
  }
}

const parseSettle = parseMillisecondsFlag('--settle', { allowZero: true });

async function resolveSource(flags: AddFlags): Promise<ScheduleSource> {
  if (flags.reconcile && flags.full)
    throw new OperatorError(
      '--reconcile and --full contradict each other: --full sends every row, --reconcile only what Graph lacks',
      EXIT.usage,
    );
  if ((flags.dir === undefined) === (flags.fromPostgres === undefined)) {
    throw new OperatorError('give exactly one source: --dir <folder> or --from-postgres <url> --query <sql>', EXIT.usage);
  }
  if (flags.dir !== undefined) {
    if (flags.query !== undefined) throw new OperatorError('--query goes with --from-postgres, not with --dir', EXIT.usage);
    // Stored absolute: the worker that runs the schedule has its own working directory.
    const dir = resolve(flags.dir);
    const info = await stat(dir).catch(() => undefined);
    if (!info) throw new OperatorError(`--dir ${dir} does not exist`, EXIT.usage);
    if (!info.isDirectory()) throw new OperatorError(`--dir ${dir} is not a directory`, EXIT.usage);
    return { kind: 'dir', dir };
  }
  if (!flags.query) throw new OperatorError('--from-postgres needs --query <sql>', EXIT.usage);
  let url: URL;
  try {
    url = new URL(flags.fromPostgres!);
  } catch {
    throw new OperatorError('--from-postgres must be a URL like postgres://user@host:5432/database', EXIT.usage);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new OperatorError(`--from-postgres must start with postgres:// or postgresql://, got "${url.protocol}//"`, EXIT.usage);
  }
  if (url.password) {
    process.stderr.write(
      'warning: the password in --from-postgres is stored in Redis with the schedule; ' +
        "prefer a URL without it and PGPASSWORD in the worker's environment\n",
    );
  }
  return { kind: 'postgres', url: flags.fromPostgres!, query: flags.query };
}

async function withScheduleQueue<T>(fn: (queue: ScheduleQueue, services: Services) => Promise<T>): Promise<T> {
  return withServices(async (services) => {
    const queue = createScheduleQueue(services.redis, services.config.prefix);
    try {
      return await fn(queue, services);
    } finally {
      await queue.close().catch(() => undefined);
    }
  });
}

function describe(s: ScheduleSummary): string {
  const options = [
    s.format && `--format ${s.format}`,
    s.full && '--full',
    s.reconcile && '--reconcile',
    s.verify && '--verify',
    ...Object.entries(s.map).map(([t, src]) => `--map ${t}=${src}`),
    s.settleMs !== undefined && s.settleMs !== DEFAULT_SETTLE_MS && `--settle ${s.settleMs}`,
    s.encoding && `--encoding ${s.encoding}`,
  ].filter(Boolean);
  return (
    `${s.pattern}${s.tz ? ` (${s.tz})` : ''}, next run ${s.nextRun ?? 'none'}; ` +
    `source: ${s.source}${options.length ? `; ${options.join(' ')}` : ''}`
  );
}

const addCommand = new Command('add')
  .description('Create a schedule, or update it if the name exists (upsert): import a drop folder or a PostgreSQL query on a cron pattern')
  .argument('<name>', 'schedule name: letters, digits, _ and - (1-40 characters)')
  .requiredOption('--cron <expr>', 'cron pattern: 5 fields (minute hour day month weekday) or 6 with seconds first')
  .option('--tz <zone>', "IANA time zone the pattern is read in, e.g. Europe/Berlin (default: the worker's local zone)")
  .option('--dir <folder>', 'import each new file that appears in this folder once, then move it to processed/ or failed/')
  .option('--from-postgres <url>', 'run --query against this database at each firing (one run per firing)')
  .option('--query <sql>', 'SQL whose result columns are the input columns (with --from-postgres)')
  .addOption(
    new Option('--format <format>', "format of dropped files (default: from each file's extension, else csv)").choices(['csv', 'ndjson']),
  )
  .option('--full', 'send every valid row, even if Graph already holds the same values')
  .option('--reconcile', "compare every row with Graph's current state before sending (as import --reconcile)")
  .option('--verify', 'once each run completes, read Graph back and check it holds every row (as verify); drift raises the drifted alert')
  .option('--map <target=source>', 'read a column under another name, e.g. --map userStatusId=user_id (repeatable)', collectMapping)
  .addOption(
    new Option('--encoding <encoding>', "dropped files' encoding when they have no byte order mark (default utf8)").choices([
      ...INPUT_ENCODINGS,
    ]),
  )
  .option(
    '--settle <ms>',
    'a dropped file is taken only once unchanged for this long (ms, or a duration such as 30s)',
    parseSettle,
    DEFAULT_SETTLE_MS,
  )
  .option('--json', 'print the schedule as one JSON line')
  .addHelpText(
    'after',
    `
Adding a name that exists replaces its pattern, zone, source and options (upsert).
Schedules fire in \`compliance-sync worker\` processes; each firing is a normal run (see \`status\`), labelled "schedule <name>: ...".
A schedule never runs twice at once: a firing that finds the previous one still running is skipped.

Drop folders: files are taken oldest first; hidden files and *.tmp, *.part, *.partial, *.crdownload are ignored
(write as .tmp and rename when done). Each file is moved to processing/<name>/ while it is imported, then to processed/
(even with rejected rows) or failed/ (unreadable, missing column) with <file>.error.txt beside it.

Examples:
  compliance-sync schedule add nightly --cron "0 3 * * *" --tz Europe/Berlin --dir /data/intune-drop
  compliance-sync schedule add hourly-db --cron "0 * * * *" \\
    --from-postgres postgres://sync@db/compliance --query "select * from user_status_export"

Exit codes: 0 added or updated, 2 bad usage (bad cron, zone, source or --map), 1 Redis unreachable.`,
  )
  .action(async (name: string, flags: AddFlags) => {
    const scheduleName = usage(() => checkScheduleName(name));
    usage(() => checkCron(flags.cron, flags.tz));
    usage(() => createColumnMapper(flags.map ?? {}));
    const source = await resolveSource(flags);
    await withScheduleQueue(async (queue) => {
      const { updated } = await upsertSchedule(queue, {
        scheduleName,
        pattern: flags.cron.trim(),
        ...(flags.tz ? { tz: flags.tz } : {}),
        source,
        ...(flags.format ? { format: flags.format } : {}),
        ...(flags.full ? { full: true } : {}),
        ...(flags.reconcile ? { reconcile: true } : {}),
        ...(flags.verify ? { verify: true } : {}),
        ...(flags.map ? { renames: flags.map } : {}),
        ...(source.kind === 'dir' ? { settleMs: flags.settle ?? DEFAULT_SETTLE_MS } : {}),
        ...(source.kind === 'dir' && flags.encoding && flags.encoding !== 'utf8' ? { encoding: flags.encoding } : {}),
      });
      const summary = (await getSchedule(queue, scheduleName))!;
      if (flags.json) printJson({ ...summary, updated });
      else
        process.stdout.write(
          `schedule ${scheduleName} ${updated ? 'updated' : 'added'}: ${describe(summary)}` +
            `\nSchedules fire in running \`compliance-sync worker\` processes.\n`,
        );
    });
  });

const listCommand = new Command('list')
  .description('Show every schedule: name, pattern, time zone, next run and source (passwords hidden)')
  .option(
    '--json',
    'print a JSON array of {name, pattern, tz, nextRun, source, format, full, reconcile, verify, map, settleMs} on one line',
  )
  .addHelpText('after', '\nExit codes: 0 listed (also when there are none), 1 Redis unreachable.')
  .action(async (flags: { json?: boolean }) => {
    await withScheduleQueue(async (queue) => {
      const schedules = await listSchedules(queue);
      if (flags.json) return printJson(schedules);
      if (schedules.length === 0) return void process.stdout.write('no schedules (add one with: compliance-sync schedule add --help)\n');
      for (const s of schedules) process.stdout.write(`${s.name}: ${describe(s)}\n`);
    });
  });

const removeCommand = new Command('remove')
  .description('Delete a schedule and its next pending firing (a firing already running finishes)')
  .argument('<name>')
  .addHelpText(
    'after',
    '\nFiles already in the drop folder stay where they are.\nExit codes: 0 removed, 4 no such schedule, 1 Redis unreachable.',
  )
  .action(async (name: string) => {
    await withScheduleQueue(async (queue) => {
      if (!(await removeSchedule(queue, name)))
        throw new OperatorError(`no schedule named "${name}" (see: compliance-sync schedule list)`, EXIT.notFound);
      process.stdout.write(`schedule ${name} removed\n`);
    });
  });

export const scheduleCommand = new Command('schedule')
  .description('Run imports on a cron pattern: from a drop folder or a PostgreSQL query (processed by `worker`)')
  .addCommand(addCommand)
  .addCommand(listCommand)
  .addCommand(removeCommand);
