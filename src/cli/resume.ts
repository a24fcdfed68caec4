import { Command } from 'commander';
import { requeueFailedRows } from '../producer/requeue.js';
import { tenantsOf } from '../tenants/tenant.js';
import { PatchQueues } from '../queue/queues.js';
import { OperatorError, EXIT } from '../errors.js';
import { printJson, withServices, checkRunId } from './shared.js';

export const resumeCommand = new Command('resume')
  .description('Continue a run blocked by missing Graph permissions or by Graph refusing every write, once that is fixed')
  .argument('<runId>', 'run id', checkRunId)
  .option('--json', 'print {"runId","requeued"}')
  .addHelpText(
    'after',
    '\nResets the breakers (of every tenant they hold: 403s, or the same 400 on ' +
      'distinct rows), resumes their queues for every worker, and queues again the rows ' +
      'of this run that failed with 403. Rows the refusal breaker held never failed: ' +
      'they are still queued, and are sent again.\nExit codes: 0 resumed, 4 no such ' +
      'run, 1 Redis unreachable.',
  )
  .action(async (runId: string, flags: { json?: boolean }) => {
    await withServices(async ({ config, redis, store, queue }) => {
      if (!(await store.runExists(runId))) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      // Every tenant held by its breaker is let go (the default tenant always, as before tenants existed): each resumes
      // its own queue, and this run's 403 rows go back to their tenants' queues.
      const queues = new PatchQueues(redis, config.prefix, queue);
      try {
        const resumed = [];
        for (const tenant of tenantsOf(config)) {
          const breaker = tenant.breaker(redis);
          if (!tenant.isDefault && !(await breaker.state()).tripped) continue;
          await breaker.reset();
          resumed.push(queues.for(tenant.id));
        }
        await store.setBlocked(runId, undefined);
        const summary = await requeueFailedRows(store, queues, runId, (row) => row.httpStatus === 403);
        await Promise.all(resumed.map((q) => q.resume()));
        if (flags.json) printJson({ runId, requeued: summary.requeued });
        else
          process.stdout.write(
            `run ${runId} resumed: ${summary.requeued} rows refused with 403 are queued again; rows held by a breaker are sent again\n`,
          );
      } finally {
        await queues.close();
      }
    });
  });
