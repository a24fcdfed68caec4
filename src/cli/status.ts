import { Command } from 'commander';
import type { RunStatus } from '../interfaces.js';
import { OperatorError, EXIT } from '../errors.js';
import { tenantFigures } from '../producer/tenant-status.js';
import { tenantsOf } from '../tenants/tenant.js';
import { runStateText } from '../domain/run-state-text.js';
import { withIsoTimes } from '../domain/iso-times.js';
import { checkRunId, printJson, withStore } from './shared.js';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function formatStatus(s: RunStatus): string {
  const lines = [
    `run ${s.runId}: ${runStateText(s)}${s.blockedReason ? ` (${s.blockedReason})` : ''}`,
    `  total ${s.total}  rejected ${s.rejected}  pending ${s.pending}  ` +
      `succeeded ${s.succeeded}  failed ${s.failed}  unchanged ${s.unchanged}  ` +
      `superseded ${s.superseded}  cancelled ${s.cancelled}`,
    `  throttled ${s.throttledCount} times, ${seconds(s.throttledMs)} ` +
      `paused${s.finishedAt ? `; took ${seconds(s.finishedAt - s.createdAt)}` : ''}`,
  ];
  if (s.source) lines.push(`  source ${s.source}`);
  if (s.importError) lines.push(`  import stopped early: ${s.importError}`);
  return lines.join('\n');
}

export const statusCommand = new Command('status')
  .description("Show a run's state and counts")
  .argument('<runId>', 'run id', checkRunId)
  .option('--json', 'print one JSON object')
  .addHelpText(
    'after',
    `
--json fields: runId, state (running | completed | completed_with_errors | blocked | cancelled), total, rejected, pending,
succeeded, failed, unchanged, superseded, cancelled, accepted, enqueued, importFinished, importError?, createdAt, finishedAt?,
cancelledAt? (ms since the epoch; createdAtIso, finishedAtIso?, cancelledAtIso? give them as ISO 8601 UTC), source, blockedReason?,
throttledCount, throttledMs, byTenant ({"default" | <tenant GUID>: {<counter>: count}}, named as the run's counters
(pending, succeeded, ...): with SYNC_TENANTS_FILE the run's rows are read to count them),
blockedTenants ([{tenant, reason, trippedAt, trippedAtIso}]: tenants whose breaker (403s, or the same 400 on distinct rows)
holds their rows, fleet-wide; \`resume <runId>\` resumes them),
fleetPauses ([{tenant, budget: write | read, until, remainingMs}]: Retry-After pauses holding the fleet now,
and when each ends). Exit codes: 0 found, 4 no such run, 1 Redis unreachable.`,
  )
  .action(async (runId: string, flags: { json?: boolean }) => {
    await withStore(async ({ config, redis, store }) => {
      const status = await store.status(runId);
      if (!status) throw new OperatorError(`no run ${runId}`, EXIT.notFound);
      const fleet = { prefix: config.prefix, tenants: tenantsOf(config) };
      const { byTenant, blockedTenants, fleetPauses } = await tenantFigures(fleet, redis, store, status);
      if (flags.json) printJson({ ...withIsoTimes(status), byTenant, blockedTenants, fleetPauses });
      else {
        const lines = [formatStatus(status)];
        if (config.tenants.length > 0) {
          for (const [tenant, counts] of Object.entries(byTenant))
            lines.push(
              `  tenant ${tenant}: ${Object.entries(counts)
                .map(([state, n]) => `${state} ${n}`)
                .join('  ')}`,
            );
        }
        for (const b of blockedTenants)
          lines.push(
            `  tenant ${b.tenant} blocked: ${b.reason} (compliance-sync resume <runId> once ` +
              `the permission is granted or the refusal is fixed)`,
          );
        for (const p of fleetPauses)
          lines.push(
            `  tenant ${p.tenant} ${p.budget}s paused by Graph's Retry-After until ${p.until} (${Math.ceil(p.remainingMs / 1000)} s left)`,
          );
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    });
  });
