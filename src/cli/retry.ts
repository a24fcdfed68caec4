import { Command } from 'commander';
import { requeueFailedRows } from '../producer/requeue.js';
import { OperatorError, EXIT } from '../errors.js';
import { printJson, withServices, checkRunId } from './shared.js';

export const retryCommand = new Command('retry')
  .description("Queue a run's failed rows again (rows with a newer update elsewhere become superseded instead)")
  .argument('<runId>', 'run id', checkRunId)
  .option('--json', 'print {"runId","requeued","superseded","skipped"}')
  .addHelpText('after', '\nExit codes: 0 done (also when nothing had failed), 4 no such run, 1 Redis unreachable.')
  .action(async (runId: string, flags: { json?: boolean }) => {
    await withServices(async ({ store, queue }) => {
      if (!(await store.runExists(runId))) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      const summary = await requeueFailedRows(store, queue, runId);
      if (flags.json) printJson({ runId, ...summary });
      else process.stdout.write(`run ${runId}: ${summary.requeued} failed rows queued again, ${summary.superseded} superseded by newer updates, ${summary.skipped} skipped\n`);
    });
  });
