import { Command } from 'commander';
import { parseDuration } from '../config.js';
import { OperatorError, EXIT } from '../errors.js';
import { printJson, withServices } from './shared.js';

interface PruneFlags {
  olderThan?: string;
  dryRun?: boolean;
  json?: boolean;
  progress: boolean;
}

function parseOlderThan(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new OperatorError(`--older-than must be a duration such as 30d, 12h, 90m or 0s, got "${value}"`, EXIT.usage);
  return ms;
}

export const pruneCommand = new Command('prune')
  .description('Remove finished runs (their status, rows and every other key of them) that finished longer ago than a duration')
  .option('--older-than <duration>', 'remove runs that finished at least this long ago, e.g. 30d, 12h, 90m (default: SYNC_RUN_RETENTION)')
  .option('--dry-run', 'count what would be removed, remove nothing')
  .option('--json', 'print {"runs":N,"rows":M} as the last stdout line')
  .option('--no-progress', 'no progress lines on stderr')
  .addHelpText(
    'after',
    `
Finished runs expire by themselves SYNC_RUN_RETENTION (default 30d) after they finish; prune removes them now, e.g. to
free memory. A run that is still running (input not fully read, rows waiting) or blocked is never removed. The
change-detection memory (what Graph holds per key) is not tied to runs and stays. After a run is pruned, status,
report, retry and resume answer exit 4 as for any unknown run.
Exit codes: 0 done (also when nothing was old enough), 1 Redis unreachable, 2 bad usage.`,
  )
  .action(async (flags: PruneFlags) => {
    const olderThanFlag = flags.olderThan === undefined ? undefined : parseOlderThan(flags.olderThan);
    await withServices(async ({ config, store }) => {
      const olderThanMs = olderThanFlag ?? config.runRetentionMs;
      let lastReport = Date.now();
      const result = await store.prune(olderThanMs, {
        dryRun: flags.dryRun,
        onProgress: (checked, total, soFar) => {
          if (!flags.progress || Date.now() - lastReport < 2000) return;
          lastReport = Date.now();
          process.stderr.write(
            `prune: ${checked} of ${total} runs checked, ${soFar.runs} ${flags.dryRun ? 'would be ' : ''}removed (${soFar.rows} rows)\n`,
          );
        },
      });
      if (flags.json) printJson(result);
      else
        process.stdout.write(
          `${flags.dryRun ? 'dry run: would remove' : 'removed'} ${result.runs} finished ` +
            `runs (${result.rows} rows) that finished more ` +
            `than ${flags.olderThan ?? `${olderThanMs / 1000} s`} ago\n`,
        );
    });
  });
