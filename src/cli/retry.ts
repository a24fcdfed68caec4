import { Command } from 'commander';
import { retryFailedRows } from '../producer/requeue.js';
import { describeLeftOut } from '../producer/retry-decision.js';
import { OperatorError, EXIT } from '../errors.js';
import { printJson, withServices, checkRunId } from './shared.js';

export const retryCommand = new Command('retry')
  .description("Queue a run's transient failures again (5xx, 429, timeouts, network, age limit); --all adds the permanent ones (400, 403, 404...)")
  .argument('<runId>', 'run id', checkRunId)
  .option('--all', 'also resend rows Graph refused for good (400, 401, 403, 404, 409, 422...)')
  .option('--json', 'print {"runId","requeued","superseded","skipped","leftOut","leftOutByStatus"}')
  .addHelpText(
    'after',
    `
By default only failures that may succeed when sent again are resent: Graph answered 5xx, 429 or 408, or never answered
(a timeout, a network error, the row ran out of SYNC_MAX_ROW_AGE_MS). A row Graph refused for good (400, 401, 403,
404, 409, 422...) would get the same answer: it is left out, counted on stderr and in leftOut / leftOutByStatus
({"404": N}); fix the cause, then \`retry --all\`. A row with a newer update elsewhere becomes superseded instead.
Exit codes: 0 done (also when nothing had failed), 4 no such run, 1 Redis unreachable, 2 bad usage.`,
  )
  .action(async (runId: string, flags: { all?: boolean; json?: boolean }) => {
    await withServices(async ({ store, queue }) => {
      if (!(await store.runExists(runId))) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      const { leftOut, ...summary } = await retryFailedRows(store, queue, runId, flags.all === true);
      const leftOutLine = describeLeftOut(leftOut);
      if (leftOutLine) process.stderr.write(`run ${runId}: ${leftOutLine}\n`);
      if (flags.json) printJson({ runId, ...summary, leftOut: leftOut.total, leftOutByStatus: leftOut.byStatus });
      else process.stdout.write(`run ${runId}: ${summary.requeued} failed rows queued again, ${summary.superseded} superseded by newer updates, ${summary.skipped} skipped, ${leftOut.total} left out (permanent)\n`);
    });
  });
