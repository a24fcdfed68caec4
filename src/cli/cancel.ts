import { Command } from 'commander';
import { OperatorError, EXIT } from '../errors.js';
import { checkRunId, printJson, withStore } from './shared.js';

export const cancelCommand = new Command('cancel')
  .description('Cancel a run: its rows still waiting are never sent (on any worker), and the run ends as cancelled')
  .argument('<runId>', 'run id', checkRunId)
  .option('--json', 'print {"runId","cancelled":N} (plus "alreadyFinished":true when the run had ended)')
  .addHelpText(
    'after',
    `
The run's queued rows become \`cancelled\`; their jobs stay in the queue and every worker skips them (no PATCH), as it
does any row of the run queued later (an import still reading). A row already being sent finishes. Cancelling a run
that has finished changes nothing and says so.
Exit codes: 0 cancelled (or already finished), 4 no such run, 1 Redis unreachable, 2 bad usage.`,
  )
  .action(async (runId: string, flags: { json?: boolean }) => {
    await withStore(async ({ store }) => {
      const outcome = await store.cancelQueuedRows(runId);
      if (outcome.kind === 'missing') throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      if (outcome.kind === 'finished') {
        const state = (await store.status(runId))?.state;
        process.stderr.write(`run ${runId} has already finished (${state}); nothing to cancel, nothing changed\n`);
        if (flags.json) printJson({ runId, cancelled: 0, alreadyFinished: true });
        return;
      }
      const rows = outcome.rows;
      if (flags.json) printJson({ runId, cancelled: rows });
      else process.stdout.write(`run ${runId}: cancelled; ${rows} queued rows will not be sent\n`);
    });
  });
