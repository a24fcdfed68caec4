import { Command, Option } from 'commander';
import { parseDuration } from '../config.js';
import type { RunState, RunStatus } from '../interfaces.js';
import { OperatorError, EXIT } from '../errors.js';
import { parsePositiveInt, printJson, withStore } from './shared.js';

const RUN_STATES: readonly RunState[] = ['running', 'completed', 'completed_with_errors', 'blocked', 'cancelled'];

/** One run as `runs --json` lists it: timestamps as ISO 8601 UTC, `finishedAt` null while the run has not ended. */
export function runListEntry(s: RunStatus) {
  return {
    runId: s.runId,
    state: s.state,
    createdAt: new Date(s.createdAt).toISOString(),
    finishedAt: s.finishedAt === undefined ? null : new Date(s.finishedAt).toISOString(),
    total: s.total,
    pending: s.pending,
    succeeded: s.succeeded,
    failed: s.failed,
    source: s.source ?? null,
  };
}

type Entry = ReturnType<typeof runListEntry>;

/** The readable table: one row per run, columns padded to their widest cell. */
export function formatRunsTable(entries: readonly Entry[]): string {
  if (entries.length === 0) return 'no runs';
  const header = ['RUN', 'STATE', 'CREATED (UTC)', 'FINISHED (UTC)', 'TOTAL', 'PENDING', 'SUCCEEDED', 'FAILED', 'SOURCE'];
  const cells = entries.map((e) => [
    e.runId,
    e.state,
    e.createdAt,
    e.finishedAt ?? '-',
    String(e.total),
    String(e.pending),
    String(e.succeeded),
    String(e.failed),
    e.source ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [header, ...cells]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function parseSince(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new OperatorError(`--since must be a duration such as 90s, 1h30m or 7d, got "${value}"`, EXIT.usage);
  return ms;
}

export const runsCommand = new Command('runs')
  .description('List runs, newest first')
  .addOption(new Option('--state <state>', 'only runs in this state').choices([...RUN_STATES]))
  .option('--since <duration>', 'only runs created within this long, e.g. 90s, 1h30m, 7d', parseSince)
  .option('--limit <n>', 'look at most this many of the newest runs (before --state filters them)', parsePositiveInt('--limit'), 1000)
  .option('--json', 'print {"runs":[...]} as the last stdout line')
  .addHelpText(
    'after',
    `
--json: {"runs":[{"runId","state","createdAt","finishedAt","total","pending","succeeded","failed","source"}]}, newest first;
state is running | completed | completed_with_errors | blocked | cancelled; timestamps are ISO 8601 UTC (finishedAt null
while the run has not ended). Runs are kept SYNC_RUN_RETENTION after they finish (see prune).
Exit codes: 0 listed (also when there are none), 1 Redis unreachable, 2 bad usage.`,
  )
  .action(async (flags: { state?: RunState; since?: number; limit: number; json?: boolean }) => {
    await withStore(async ({ store }) => {
      const since = flags.since === undefined ? undefined : Date.now() - flags.since;
      const runs = (await store.listRuns(flags.limit, since)).filter((s) => !flags.state || s.state === flags.state);
      const entries = runs.map(runListEntry);
      if (flags.json) printJson({ runs: entries });
      else process.stdout.write(`${formatRunsTable(entries)}\n`);
    });
  });
