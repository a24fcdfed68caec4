import pRetry, { AbortError } from 'p-retry';
import type { SyncConfig } from '../src/config.js';
import type { RedisClient, RunStatus } from '../src/interfaces.js';
import type { Logger } from '../src/logger.js';
import type { PermissionBreaker } from '../src/pacing/breaker.js';
import { tenantsOf } from '../src/tenants/tenant.js';
import type { PatchWorkerHooks } from './hooks.js';
import { ResultStore } from '../src/results/store.js';
import type { VerifyCounts } from '../src/results/drift.js';

export type AlertEvent = 'completed' | 'blocked' | 'failed_threshold' | 'drifted';

/** The JSON body POSTed to SYNC_ALERT_WEBHOOK_URL. */
export interface AlertPayload {
  event: AlertEvent;
  runId: string;
  status: RunStatus;
  /** With `drifted`: what the verify after the run found. */
  verify?: VerifyCounts;
}

/** A scheduled file moved to failed/ (unreadable, a required column missing, malformed, or no data rows). */
export interface ImportFailedPayload {
  event: 'failed_import';
  runId: string;
  schedule: string;
  file: string;
  reason: string;
  /** Absent when no run was created (the file was refused before its first row). */
  status?: RunStatus;
}

export interface ImportFailure {
  runId: string;
  schedule: string;
  file: string;
  reason: string;
}

export interface RunAlertsOptions {
  webhookUrl: string;
  /** Alert when failed rows reach this percent of accepted rows; undefined: never. */
  failedPercent?: number;
  logger: Logger;
  /** Per delivery attempt. */
  timeoutMs?: number;
  /** Further attempts after a network error, a timeout, a 5xx, 408 or 429. */
  retries?: number;
}

/** Where the webhook lives, without path or query, which often hold the webhook's secret. */
function webhookHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '<invalid url>';
  }
}

/**
 * Tells a webhook when a run completes, becomes blocked, or its failed share crosses SYNC_ALERT_FAILED_PERCENT.
 * Any worker (or the server, or an import) may notice the change; a Redis HSETNX on the run hash decides
 * which one sends, so each alert goes out once across the fleet. A delivery that still fails after its
 * retries is logged at error level and not tried again (at most once, never twice).
 */
export class RunAlerts {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly host: string;

  constructor(
    private readonly store: ResultStore,
    private readonly breaker: Pick<PermissionBreaker, 'state'>,
    private readonly options: RunAlertsOptions,
  ) {
    this.host = webhookHost(options.webhookUrl);
  }

  /** Sends every alert now due for the run that nobody has sent yet; returns the ones this call delivered. */
  async checkRun(runId: string): Promise<AlertEvent[]> {
    const status = await this.store.status(runId);
    if (!status) return [];
    const due: { event: AlertEvent; field: string }[] = [];
    if (status.state === 'blocked') {
      // One blocked alert per trip of the breaker: after `resume` a run can be blocked again.
      const { trippedAt } = await this.breaker.state();
      if (trippedAt !== undefined) due.push({ event: 'blocked', field: `alertedBlocked:${trippedAt}` });
    }
    if (this.failedShareReached(status)) due.push({ event: 'failed_threshold', field: 'alertedFailedThreshold' });
    if (status.state === 'completed' || status.state === 'completed_with_errors')
      due.push({ event: 'completed', field: 'alertedCompleted' });

    const delivered: AlertEvent[] = [];
    for (const { event, field } of due) {
      if (!(await this.store.claimAlert(runId, field))) continue;
      if (await this.deliver({ event, runId, status })) delivered.push(event);
    }
    return delivered;
  }

  /**
   * Tells the webhook a scheduled file went to failed/. Not claimed in Redis: the file itself was claimed by one
   * worker (an atomic rename), so only that worker gets here. Never waits, never throws.
   */
  importFailed(failure: ImportFailure): void {
    const pending = (async () => {
      const status = await this.store.status(failure.runId).catch(() => undefined);
      await this.deliver({ event: 'failed_import', ...failure, ...(status ? { status } : {}) });
    })().catch((err: Error) =>
      this.options.logger.error({ runId: failure.runId, err: err.message }, 'could not send the failed_import alert'),
    );
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
  }

  /** A verify found rows Graph no longer holds (schedule --verify): one `drifted` alert per run across the fleet. */
  async alertDrift(runId: string, verify: VerifyCounts): Promise<boolean> {
    const status = await this.store.status(runId);
    if (!status || !(await this.store.claimAlert(runId, 'alertedDrifted'))) return false;
    return this.deliver({ event: 'drifted', runId, status, verify });
  }

  /** checkRun without waiting: for the worker's hooks, which must not slow or fail a row. */
  watch(runId: string): void {
    const pending = this.checkRun(runId).catch((err: Error) =>
      this.options.logger.error({ runId, err: err.message }, 'could not check the run for alerts'),
    );
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
  }

  /** Resolves once every alert started by watch() has been delivered or given up (call before exiting). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  hooks(): PatchWorkerHooks {
    return {
      onRunCompleted: (runId) => this.watch(runId),
      onRunBlocked: (runId) => this.watch(runId),
      onRowFinished: (row, _latencyMs, runId) => {
        if (row.state === 'failed' && this.options.failedPercent !== undefined) this.watch(runId);
      },
    };
  }

  /**
   * The share is of all accepted rows, so it is judged once the input has been read to the end:
   * before that, the first failure of a run would be 100%.
   */
  private failedShareReached(status: RunStatus): boolean {
    const percent = this.options.failedPercent;
    if (percent === undefined || !status.importFinished || status.accepted === 0) return false;
    return (status.failed * 100) / status.accepted >= percent;
  }

  private async deliver(payload: AlertPayload | ImportFailedPayload): Promise<boolean> {
    const { logger, webhookUrl } = this.options;
    const body = JSON.stringify(payload);
    try {
      await pRetry(
        async () => {
          const res = await fetch(webhookUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'compliance-sync-alerts' },
            body,
            signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
          });
          await res.body?.cancel();
          if (res.ok) return;
          const error = new Error(`webhook answered ${res.status}`);
          // A 4xx other than 408/429 will not change on a retry.
          throw res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429 ? new AbortError(error) : error;
        },
        { retries: this.options.retries ?? 3, minTimeout: 500, factor: 2, randomize: true },
      );
      logger.info({ event: payload.event, runId: payload.runId, webhook: this.host }, 'alert sent');
      return true;
    } catch (err) {
      logger.error(
        { event: payload.event, runId: payload.runId, webhook: this.host, err: (err as Error).message },
        'alert could not be delivered',
      );
      return false;
    }
  }
}

/** The alerts of this process, or undefined when SYNC_ALERT_WEBHOOK_URL is not set. */
export function createRunAlerts(config: SyncConfig, redis: RedisClient, logger: Logger): RunAlerts | undefined {
  if (!config.alertWebhookUrl) return undefined;
  // A run is blocked by whichever tenant's breaker tripped last: each trip of any tenant's breaker is one alert.
  const breakers = tenantsOf(config).map((tenant) => tenant.breaker(redis));
  const anyBreaker: Pick<PermissionBreaker, 'state'> = {
    async state() {
      const states = await Promise.all(breakers.map((b) => b.state()));
      return states.filter((st) => st.trippedAt !== undefined).sort((a, b) => b.trippedAt! - a.trippedAt!)[0] ?? states[0];
    },
  };
  return new RunAlerts(new ResultStore(redis, config.prefix), anyBreaker, {
    webhookUrl: config.alertWebhookUrl,
    failedPercent: config.alertFailedPercent,
    logger,
  });
}
