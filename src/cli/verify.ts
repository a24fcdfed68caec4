import { Command } from 'commander';
import { EXIT, OperatorError } from '../errors.js';
import { createGraphStates, GraphReadError } from '../producer/reconcile.js';
import { verifyRun } from '../producer/verify.js';
import { DriftStore } from '../results/drift.js';
import { printJson, withServices } from './shared.js';

export const verifyCommand = new Command('verify')
  .description('Read Graph back and check that it holds every succeeded and unchanged row of a run')
  .argument('<runId>')
  .option('--json', 'print {"runId","checked","matching","drifted","missing","overridden"} as the last stdout line')
  .addHelpText(
    'after',
    `
Each configuration of the run is read from Graph once, now (through SYNC_READ_RATE_LIMIT), and every succeeded and
unchanged row is compared with what Graph holds, for the properties the row sets. A row is drifted when Graph holds
other values, missing when Graph does not list it. List them with: report <runId> --state drifted (or missing).
Drifted and missing rows are forgotten by change detection, so the next import sends them again.
A row is overridden, not drifted, when it differs only in properties Graph sets back itself (as Intune recomputes
devicesCount): after our successful PATCH, Graph held another value, the row was sent again, and Graph again set the
same value. Overridden rows are not drift (exit 0) and later imports do not send them again for those properties,
unless the input changes such a property or --full is given. List them with: report <runId> --state overridden.
Each tenant's rows (tenantId, SYNC_TENANTS_FILE) are checked against that tenant's Graph, read with its own token
through its own read budget (its readRateLimit).

Exit codes: 0 every row matches (or is overridden), 5 some row drifted or is missing, 4 no such run,
1 Redis or Graph unreachable, 2 bad usage.`,
  )
  .action(async (runId: string, flags: { json?: boolean }) => {
    const summary = await withServices(async ({ config, redis, store }) => {
      const status = await store.status(runId);
      if (!status) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      // Only ended rows say what Graph should hold; rows still waiting are checked by a later verify.
      if (status.pending > 0)
        process.stderr.write(`warning: run ${runId} still has ${status.pending} rows waiting to be sent; they are not checked\n`);
      try {
        return await verifyRun(store, new DriftStore(redis, config.prefix), createGraphStates(config, redis, { fresh: true }), runId);
      } catch (err) {
        if (err instanceof GraphReadError) throw new OperatorError(`verify ${runId}: ${err.message}`);
        throw err;
      }
    });
    const { checked, matching, drifted, missing, overridden } = summary;
    if (summary.unverifiable > 0) {
      process.stderr.write(
        `warning: ${summary.unverifiable} rows were not checked: recorded without their ` +
          `values (before verify existed), of a tenant no longer in SYNC_TENANTS_FILE, or ` +
          `queued by an import while this verify read Graph\n`,
      );
    }
    if (flags.json) printJson({ runId, checked, matching, drifted, missing, overridden });
    else {
      process.stdout.write(
        `run ${runId}: ${checked} rows checked against Graph: ${matching} ` +
          `matching, ${drifted} drifted, ${missing} missing, ${overridden} overridden\n`,
      );
      if (drifted > 0) process.stdout.write(`see them with: compliance-sync report ${runId} --state drifted\n`);
      if (missing > 0) process.stdout.write(`see them with: compliance-sync report ${runId} --state missing\n`);
      if (overridden > 0)
        process.stdout.write(
          `Graph sets some properties back itself (not drift, not sent again): compliance-sync report ${runId} --state overridden\n`,
        );
    }
    // Overridden is not drift: Graph owns those values, and nothing we send would change them.
    if (drifted > 0 || missing > 0) process.exitCode = EXIT.drift;
  });
