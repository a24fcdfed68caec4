import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { GraphRequestError, type PatchResult, type UserStatusWriter } from '../src/graph/client.js';
import type { PatchJobData, RowResult } from '../src/interfaces.js';
import type { PermissionBreaker } from '../src/pacing/breaker.js';
import { BudgetBlockedError, type RateBudget, type SendSlot } from '../src/pacing/budget.js';
import type { ResultStore } from '../src/results/store.js';
import type { PatchWorkerHooks } from './hooks.js';
import { nextStep, type AttemptEvent, type AttemptState } from './next-step.js';

export interface PatchProcessorDeps extends PatchWorkerHooks {
  store: ResultStore;
  budget: RateBudget;
  breaker: PermissionBreaker;
  writer: UserStatusWriter;
  logger: Logger;
  requestTimeoutMs: number;
  maxRowAgeMs: number;
  /** SYNC_MAX_RETRY_AFTER: the longest any one Retry-After is waited. */
  maxRetryAfterMs?: number;
  /** Called once when the breaker trips, to pause the queue for every worker. */
  pauseFleet: (reason: string) => Promise<void>;
  /** Injected for tests; Date.now and Math.random otherwise. */
  now?: () => number;
  random?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Turns one job into at most one successful PATCH. The processor only carries out steps: what to do after
 * each attempt is decided by nextStep() (next-step.ts), a pure function. One loop, no exceptions for control
 * flow: a 429 is waited out through the fleet's budget without using up the row's attempts, transient
 * failures are retried soon and then handed back to BullMQ's back-off, and permanent ones fail the row at once.
 */
export function createPatchUserStatusProcessor(deps: PatchProcessorDeps) {
  const { store, budget, breaker, writer } = deps;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const lockTtlMs = deps.requestTimeoutMs + 10_000;

  return async function processPatchUserStatus(job: Job<PatchJobData>, token?: string): Promise<string> {
    const data = job.data;
    const owner = job.id!;
    const log = deps.logger.child({ runId: data.runId, line: data.line, key: data.key, jobId: job.id });
    const startedAt = now();
    const ageDeadline = data.enqueuedAt + deps.maxRowAgeMs;
    const state: AttemptState = {
      now: startedAt,
      deadline: ageDeadline,
      pausedMs: 0,
      requests: (job.progress as { requests?: number } | undefined)?.requests ?? 0,
      quickRetries: 0,
      throttleStreak: 0,
      tokenRefreshed: false,
      lastDelivery: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
      random: 0,
    };
    let refreshToken = false;
    let slot: SendSlot | undefined;
    let result: PatchResult | undefined;
    let lastClientRequestId: string | undefined;

    const claim = async (): Promise<AttemptEvent | undefined> => {
      const decision = await store.claimRow(data.runId, data.line, data.key, data.version, data.generation, owner, lockTtlMs);
      return decision === 'send' ? undefined : { type: 'not-claimed', decision };
    };

    /**
     * The row's deadline, moved on by every fleet pause since it was queued (in the queue, waiting for a slot, or yet to
     * come for a pause in force): a pause never fails a row for age. The pause ledger is read only when `at` lies past
     * the deadline known so far.
     */
    const deadline = async (at: number = now()): Promise<number> => {
      if (at <= state.deadline) return state.deadline;
      state.pausedMs = await budget.pausedSince(data.enqueuedAt);
      state.deadline = ageDeadline + state.pausedMs;
      return state.deadline;
    };

    /** One attempt: wait for a slot, check the row is still the newest, send. */
    const attempt = async (): Promise<AttemptEvent> => {
      if (now() > (await deadline())) return { type: 'deadline-passed' };
      try {
        slot = await budget.acquire(deadline);
      } catch (err) {
        if (err instanceof BudgetBlockedError) return { type: 'budget-blocked' };
        throw err;
      }
      if (!slot) return { type: 'deadline-passed' };
      // Claimed again: a newer update may have arrived while this one waited for its slot.
      const notClaimed = await claim();
      if (notClaimed) return notClaimed;
      state.requests++;
      const forceTokenRefresh = refreshToken;
      refreshToken = false;
      try {
        result = await writer.patch(data.record, { forceTokenRefresh });
        return { type: 'succeeded' };
      } catch (err) {
        if (!(err instanceof GraphRequestError)) throw err;
        lastClientRequestId = err.clientRequestId;
        return { type: 'refused', kind: err.kind, message: err.message, status: err.status, retryAfterMs: err.retryAfterMs, requestId: err.requestId };
      }
    };

    const row = (): RowResult => ({
      line: data.line,
      key: data.key,
      state: 'queued',
      fingerprint: data.fingerprint,
      version: data.version,
      generation: data.generation,
      attempts: state.requests,
      startedAt,
      finishedAt: now(),
      // What this row sets, kept for `verify` (the row's stored result is replaced by this one).
      values: data.record.properties,
    });

    const record = async (outcome: RowResult & { state: 'succeeded' | 'failed' }) => {
      const recorded = await store.recordOutcome(data.runId, outcome, owner);
      if (recorded.startsWith('already')) log.warn({ outcome: recorded }, 'row had already ended; outcome not recorded twice');
      else deps.onRowFinished?.(outcome, now() - startedAt, data.runId);
      if (recorded === 'completed') deps.onRunCompleted?.(data.runId);
    };

    let event: AttemptEvent;
    try {
      event = (await claim()) ?? (await attempt());
    } catch (err) {
      event = { type: 'crashed', message: (err as Error).message };
    }
    for (;;) {
      state.now = now();
      state.random = random();
      const step = nextStep(event, state, deps.maxRowAgeMs, deps.maxRetryAfterMs);
      if (event.type === 'refused') state.lastError = event.message;
      switch (step.do) {
        case 'record-success':
          await record({ ...row(), state: 'succeeded', httpStatus: result!.status, requestId: result!.requestId, clientRequestId: result!.clientRequestId, response: result!.body });
          if (state.requests > 1) log.debug({ requests: state.requests }, 'row succeeded after retries');
          void breaker.recordSuccess().catch(() => undefined);
          return 'succeeded';
        case 'skip':
          // Superseded while waiting for a slot: the lock taken by the first claim must not hold up the newer update.
          await store.releaseLock(data.key, owner);
          return step.decision;
        case 'postpone':
          await store.releaseLock(data.key, owner);
          await job.updateProgress({ requests: state.requests });
          await job.moveToDelayed(now() + step.delayMs, token);
          throw new DelayedError(step.why);
        case 'hand-back':
          await store.releaseLock(data.key, owner);
          await job.updateProgress({ requests: state.requests });
          log.warn({ err: step.why }, 'attempt failed; BullMQ will retry the job after its back-off');
          throw new Error(step.why);
        case 'fail':
          if (step.tripsBreaker && (await breaker.recordForbidden(step.reason))) {
            log.error({ reason: step.reason }, 'permission breaker tripped: pausing the fleet');
            await store.setBlocked(data.runId, step.reason);
            await deps.pauseFleet(step.reason);
            deps.onRunBlocked?.(data.runId, step.reason);
          }
          await record({ ...row(), state: 'failed', httpStatus: step.status, reason: step.reason, requestId: step.requestId, clientRequestId: lastClientRequestId, record: data.record });
          throw new UnrecoverableError(step.reason);
        case 'wait-out-throttle': {
          state.throttleStreak++;
          const pausedMs = await budget.throttled(step.waitMs, slot!);
          await store.addThrottle(data.runId, 1, pausedMs);
          deps.onThrottled?.(pausedMs);
          log.debug({ retryAfterMs: step.waitMs }, 'throttled by Graph');
          break;
        }
        case 'retry-soon':
          if (step.refreshToken) {
            state.tokenRefreshed = refreshToken = true;
            log.info(step.why);
          } else {
            state.quickRetries++;
          }
          if (step.delayMs > 0) await sleep(step.delayMs);
          break;
      }
      try {
        event = await attempt();
      } catch (err) {
        event = { type: 'crashed', message: (err as Error).message };
      }
    }
  };
}
