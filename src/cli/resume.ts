import { Command } from 'commander';
import { requeueFailedRows } from '../producer/requeue.js';
import { PermissionBreaker } from '../pacing/breaker.js';
import { OperatorError, EXIT } from '../errors.js';
import { printJson, withServices, checkRunId } from './shared.js';

export const resumeCommand = new Command('resume')
  .description('Continue a run blocked by missing Graph permissions, once the permission is granted')
  .argument('<runId>', 'run id', checkRunId)
  .option('--json', 'print {"runId","requeued"}')
  .addHelpText('after', '\nResets the permission breaker, resumes the queue for every worker, and queues again the rows of this run that failed with 403.\nExit codes: 0 resumed, 4 no such run, 1 Redis unreachable.')
  .action(async (runId: string, flags: { json?: boolean }) => {
    await withServices(async ({ config, redis, store, queue }) => {
      if (!(await store.runExists(runId))) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      await new PermissionBreaker(redis, config.prefix).reset();
      await store.setBlocked(runId, undefined);
      const summary = await requeueFailedRows(store, queue, runId, (row) => row.httpStatus === 403);
      await queue.resume();
      if (flags.json) printJson({ runId, requeued: summary.requeued });
      else process.stdout.write(`run ${runId} resumed: ${summary.requeued} rows refused with 403 are queued again\n`);
    });
  });
