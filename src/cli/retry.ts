import { Command } from 'commander';
import { retryFailedRows } from '../producer/requeue.js';
import { describeLeftOut } from '../producer/retry-decision.js';
import { OperatorError, EXIT } from '../errors.js';
import { printJson, withServices, checkRunId } from './shared.js';

export const retryCommand = new Command('retry')
  .description(
    "Queue a run's transient failures again (5xx, 429, timeouts, network, age limit); --all adds the permanent ones (400, 403, 404...)",
  )
  .argument('<runId>', 'run id', checkRunId)
  .option('--all', 'also resend rows Graph refused for good (400, 401, 403, 404, 409, 422...)')
  .option(
    '--json',
    'print {"runId","requeued","superseded","skipped","leftOut","leftOutByStatus"} (and "runCancelled":true for a cancelled run)',
  )
  .addHelpText(
    'after',
    `
By default only failures that may succeed when sent again are resent: Graph answered 5xx, 429 or 408, or never answered
(a timeout, a network error, the row ran out of SYNC_MAX_ROW_AGE_MS). A row Graph refused for good (400, 401, 403,
404, 409, 422...) would get the same answer: it is left out, counted on stderr and in leftOut / leftOutByStatus
({"404": N}); fix the cause, then \`retry --all\`. A row with a newer update elsewhere becomes superseded instead.
A cancelled run is left as it is. Exit codes: 0 done (also when nothing had failed, or the run was cancelled),
4 no such run, 1 Redis unreachable, 2 bad usage.`,
  )
  .action(async (runId: string, flags: { all?: boolean; json?: boolean }) => {
    await withServices(async ({ store, queue }) => {
      const status = await store.status(runId);
      if (!status) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      // A cancelled run sends nothing more (claimRow would cancel each resent row): say so instead of queueing them.
      if (status.cancelledAt !== undefined) {
        process.stderr.write(`run ${runId} was cancelled: retry resends nothing of it; import its input under a new run id to send it\n`);
        if (flags.json) printJson({ runId, requeued: 0, superseded: 0, skipped: 0, leftOut: 0, leftOutByStatus: {}, runCancelled: true });
        return;
      }
      const { leftOut, ...summary } = await retryFailedRows(store, queue, runId, flags.all === true);
      const leftOutLine = describeLeftOut(leftOut);
      if (leftOutLine) process.stderr.write(`run ${runId}: ${leftOutLine}\n`);
      if (flags.json) printJson({ runId, ...summary, leftOut: leftOut.total, leftOutByStatus: leftOut.byStatus });
      else
        process.stdout.write(
          `run ${runId}: ${summary.requeued} failed rows queued ` +
            `again, ${summary.superseded} superseded by newer updates, ${summary.skipped} ` +
            `skipped, ${leftOut.total} left out (permanent)\n`,
        );
    });
  });
