import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import pRetry from 'p-retry';
import type { Logger } from 'pino';
import { GraphRequestError, type PatchResult, type UserStatusWriter } from '../src/graph/client.js';
import { classifyError } from '../src/graph/errors.js';
import type { PatchJobData, RowResult } from '../src/interfaces.js';
import { BudgetBlockedError, type RateBudget, type SendSlot } from '../src/pacing/budget.js';
import { PERMISSION_HINT, type PermissionBreaker } from '../src/pacing/breaker.js';
import type { ResultStore } from '../src/results/store.js';

export interface PatchProcessorDeps {
  store: ResultStore;
  budget: RateBudget;
  breaker: PermissionBreaker;
  writer: UserStatusWriter;
  logger: Logger;
  requestTimeoutMs: number;
  maxRowAgeMs: number;
  /** Quick in-job retries for transient errors before the job goes back to BullMQ's slower back-off. */
  transientRetries?: number;
  /** Called once when the breaker trips, to pause the queue for every worker. */
  pauseFleet: (reason: string) => Promise<void>;
  onRowFinished?: (row: RowResult, latencyMs: number, runId: string) => void;
  onThrottled?: (pausedMs: number) => void;
  onRunCompleted?: (runId: string) => void;
  /** Called by the worker whose 403 tripped the permission breaker, after the run is marked blocked. */
  onRunBlocked?: (runId: string, reason: string) => void;
}

/** The row ended without a PATCH (superseded, already done by another delivery): nothing to record. */
class SkipRow extends Error {
  constructor(readonly decision: string) {
    super(decision);
  }
}
class PostponeRow extends Error {
  constructor(readonly delayMs: number, why: string) {
    super(why);
  }
}
class DeadlineExceeded extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (ms: number) => Math.round(ms * (0.5 + Math.random()));

/**
 * Turns one job into at most one successful PATCH, honouring the fleet's budget:
 * a 429 pauses everyone and is retried without using up the row's attempts; transient errors are
 * retried with back-off (p-retry, then BullMQ); permanent ones fail the row at once with Graph's reason.
 */
export function createPatchUserStatusProcessor(deps: PatchProcessorDeps) {
  const { store, budget, breaker, writer } = deps;
  const lockTtlMs = deps.requestTimeoutMs + 10_000;

  return async function processPatchUserStatus(job: Job<PatchJobData>, token?: string): Promise<string> {
    const data = job.data;
    const owner = job.id!;
    const log = deps.logger.child({ runId: data.runId, line: data.line, key: data.key, jobId: job.id });
    const deadline = data.enqueuedAt + deps.maxRowAgeMs;
    const startedAt = Date.now();
    const previousRequests = (job.progress as { requests?: number } | undefined)?.requests ?? 0;
    let requests = 0;
    let forceTokenRefresh = false;
    let tokenRefreshed = false;
    let throttleStreak = 0;

    const claim = async () => {
      const decision = await store.claimRow(data.runId, data.line, data.key, data.version, data.generation, owner, lockTtlMs);
      if (decision === 'locked') throw new PostponeRow(jitter(500), 'an older update of this key is in flight');
      if (decision !== 'send') throw new SkipRow(decision);
    };

    const sendOnce = async (): Promise<PatchResult> => {
      for (;;) {
        if (Date.now() > deadline) throw new DeadlineExceeded();
        let slot: SendSlot | undefined;
        try {
          slot = await budget.acquire(deadline);
        } catch (err) {
          if (err instanceof BudgetBlockedError) throw new PostponeRow(2000, err.message);
          throw err;
        }
        if (!slot) throw new DeadlineExceeded();
        await claim(); // again: a newer update may have arrived while this one waited for its slot
        requests++;
        // Read and cleared before sending: a `finally` would clear it again after the `continue` that set it.
        const refreshToken = forceTokenRefresh;
        forceTokenRefresh = false;
        try {
          return await writer.patch(data.record, { forceTokenRefresh: refreshToken });
        } catch (error) {
          const err = classifyError(error, false);
          if (err.kind === 'throttled') {
            // Missing Retry-After: exponential back-off with jitter, shared by the fleet through the pause.
            const waitMs = err.retryAfterMs ?? jitter(Math.min(1000 * 2 ** throttleStreak, 60_000));
            throttleStreak++;
            const pausedMs = await budget.throttled(waitMs, slot);
            await store.addThrottle(data.runId, 1, pausedMs);
            deps.onThrottled?.(pausedMs);
            log.debug({ retryAfterMs: waitMs }, 'throttled by Graph');
            continue;
          }
          if (err.kind === 'unauthorized' && !tokenRefreshed) {
            tokenRefreshed = forceTokenRefresh = true;
            log.info('401 from Graph: refreshing the token once');
            continue;
          }
          if (err.kind === 'transient' && err.retryAfterMs !== undefined) {
            await sleep(Math.min(err.retryAfterMs, Math.max(0, deadline - Date.now())));
          }
          throw err;
        }
      }
    };

    const baseRow = (): RowResult => ({
      line: data.line,
      key: data.key,
      state: 'queued',
      fingerprint: data.fingerprint,
      version: data.version,
      generation: data.generation,
      attempts: previousRequests + requests,
      startedAt,
      finishedAt: Date.now(),
    });

    const finish = async (row: RowResult & { state: 'succeeded' | 'failed' }) => {
      const outcome = await store.recordOutcome(data.runId, row, owner);
      if (outcome.startsWith('already')) log.warn({ outcome }, 'row had already ended; outcome not recorded twice');
      else deps.onRowFinished?.(row, Date.now() - startedAt, data.runId);
      if (outcome === 'completed') deps.onRunCompleted?.(data.runId);
    };

    try {
      await claim();
      const result = await pRetry(sendOnce, {
        retries: deps.transientRetries ?? 4,
        minTimeout: 250,
        maxTimeout: 5000,
        factor: 2,
        randomize: true,
        shouldRetry: ({ error }) => error instanceof GraphRequestError && error.kind === 'transient' && Date.now() < deadline,
      });
      await finish({ ...baseRow(), state: 'succeeded', httpStatus: result.status, requestId: result.requestId, response: result.body });
      if (throttleStreak > 0 || requests > 1) log.debug({ requests }, 'row succeeded after retries');
      void breaker.recordSuccess().catch(() => undefined);
      return 'succeeded';
    } catch (error) {
      if (error instanceof SkipRow) {
        // Superseded while waiting for a slot: the lock taken by the first claim must not hold up the newer update.
        await store.releaseLock(data.key, owner);
        return error.decision;
      }
      if (error instanceof PostponeRow) {
        await store.releaseLock(data.key, owner);
        await job.updateProgress({ requests: previousRequests + requests });
        await job.moveToDelayed(Date.now() + error.delayMs, token);
        throw new DelayedError(error.message);
      }
      if (error instanceof DeadlineExceeded) {
        const reason = `gave up: not sent within SYNC_MAX_ROW_AGE_MS (${Math.round(deps.maxRowAgeMs / 1000)} s) of being queued`;
        await finish({ ...baseRow(), state: 'failed', reason, record: data.record });
        throw new UnrecoverableError(reason);
      }
      const err = classifyError(error, false);
      const lastBullAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (err.kind === 'transient' && !lastBullAttempt && Date.now() < deadline) {
        // Back to BullMQ for its slower exponential back-off; the row stays queued.
        await store.releaseLock(data.key, owner);
        await job.updateProgress({ requests: previousRequests + requests });
        log.warn({ err: err.message }, 'transient failure; BullMQ will retry');
        throw err;
      }
      let reason = err.message;
      if (err.kind === 'forbidden') {
        reason = `${err.message} (${PERMISSION_HINT})`;
        if (await breaker.recordForbidden(reason)) {
          log.error({ reason }, 'permission breaker tripped: pausing the fleet');
          await store.setBlocked(data.runId, reason);
          await deps.pauseFleet(reason);
          deps.onRunBlocked?.(data.runId, reason);
        }
      } else if (err.kind === 'unauthorized') {
        reason = `${err.message} (the token was refreshed once and Graph still refused it)`;
      } else if (err.kind === 'transient') {
        reason = `${err.message} (still failing after ${previousRequests + requests} requests)`;
      }
      await finish({ ...baseRow(), state: 'failed', httpStatus: err.status, reason, requestId: err.requestId, record: data.record });
      throw new UnrecoverableError(reason);
    }
  };
}
