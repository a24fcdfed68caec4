import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { GraphRequestError, type PatchResult, type UserStatusWriter } from '../src/graph/client.js';
import type { PatchJobData, RowResult } from '../src/interfaces.js';
import type { PermissionBreaker } from '../src/pacing/breaker.js';
import { judgeRefusal, refusalBlockedReason, REFUSAL_RECHECK_MS } from '../src/pacing/refusal.js';
import type { RefusalBreaker } from '../src/pacing/refusal-breaker.js';
import { BudgetBlockedError, type RateBudget, type SendSlot } from '../src/pacing/budget.js';
import type { FinalRow, RecordedOutcome, ResultStore, SuccessBreakerKeys } from '../src/results/store.js';
import type { MissingStatuses } from '../src/results/missing-statuses.js';
import { notFoundScope } from '../src/domain/judging.js';
import { tenantIdOf } from '../src/redis-layout.js';
import type { PatchWorkerHooks } from './hooks.js';
import { nextStep, type AttemptEvent, type AttemptState, type Step } from './next-step.js';

export interface PatchProcessorDeps extends PatchWorkerHooks {
  store: ResultStore;
  budget: RateBudget;
  breaker: PermissionBreaker;
  /** The tenant's breaker for refused writes (a run of 400s of one shape). */
  refusals: RefusalBreaker;
  writer: UserStatusWriter;
  /** Where a 404 is remembered (the status, or its whole configuration), so a plain import does not send it again. */
  missing?: MissingStatuses;
  logger: Logger;
  requestTimeoutMs: number;
  maxRowAgeMs: number;
  /** SYNC_MAX_RETRY_AFTER: the longest any one Retry-After is waited. */
  maxRetryAfterMs?: number;
  /** Called once when the breaker trips: pauses this tenant's queue, so no worker takes its jobs; other tenants keep sending. */
  pauseFleet: (reason: string) => Promise<void>;
  /** Injected for tests; Date.now and Math.random otherwise. */
  now?: () => number;
  random?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A 400 the refusal breaker has not judged yet, kept in the job's progress while the row waits (still queued). */
interface HeldRefusal {
  reason: string;
  status: number;
  requestId?: string;
  clientRequestId?: string;
  /** ms when Graph answered it. */
  heldAt: number;
}

interface JobProgress {
  requests?: number;
  refusal?: HeldRefusal;
}

/**
 * Turns one job into at most one successful PATCH. The processor only carries out steps: what to do after
 * each attempt is decided by nextStep() (next-step.ts), a pure function. One loop, no exceptions for control
 * flow: a 429 is waited out through the fleet's budget without using up the row's attempts, transient
 * failures are retried soon and then handed back to BullMQ's back-off, and permanent ones fail the row at once,
 * except a 400: it counts toward the tenant's refusal breaker (src/pacing/refusal.ts) while the row waits, still queued,
 * and fails the row only once another answer from Graph shows it was the row's own.
 */
export function createPatchUserStatusProcessor(deps: PatchProcessorDeps) {
  const { store, budget, breaker, refusals, writer } = deps;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const lockTtlMs = deps.requestTimeoutMs + 10_000;
  const recordOutcome = outcomeBatcher(store, refusals.successKeys);

  return async function processPatchUserStatus(job: Job<PatchJobData>, token?: string): Promise<string> {
    const data = job.data;
    const owner = job.id!;
    const log = deps.logger.child({ runId: data.runId, line: data.line, key: data.key, jobId: job.id });
    const startedAt = now();
    const progress = (job.progress ?? {}) as JobProgress;
    /** The row's identity for the refusal breaker: distinct rows, whatever their keys. */
    const rowId = `${data.runId}:${data.line}`;
    let heldRefusal = typeof progress === 'object' ? progress.refusal : undefined;
    const ageDeadline = data.enqueuedAt + deps.maxRowAgeMs;
    const state: AttemptState = {
      now: startedAt,
      deadline: ageDeadline,
      pausedMs: 0,
      requests: (typeof progress === 'object' ? progress.requests : undefined) ?? 0,
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

    /**
     * True from a successful claim to the next attempt: if that attempt's slot comes at once, it sends on this claim
     * instead of claiming again. Without a wait in between, the claim is as recent as a second one would be, give or
     * take the one round trip for the slot (a second claim leaves the same round trip before the PATCH).
     */
    let claimIsFresh = false;
    const claim = async (): Promise<AttemptEvent | undefined> => {
      const decision = await store.claimRow(data.runId, data.line, data.key, data.version, data.generation, owner, lockTtlMs);
      claimIsFresh = decision === 'send';
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
      // Only the attempt right after a claim may use it: any later one follows a sleep or a wait.
      const claimedJustNow = claimIsFresh;
      claimIsFresh = false;
      if (now() > (await deadline())) return { type: 'deadline-passed' };
      try {
        slot = await budget.acquire(deadline);
      } catch (err) {
        if (err instanceof BudgetBlockedError) return { type: 'budget-blocked' };
        throw err;
      }
      if (!slot) return { type: 'deadline-passed' };
      // Claimed again: a newer update may have arrived while this one waited for its slot (or since its last attempt).
      if (slot.waited || !claimedJustNow) {
        const notClaimed = await claim();
        if (notClaimed) return notClaimed;
      }
      state.requests++;
      const forceTokenRefresh = refreshToken;
      refreshToken = false;
      try {
        result = await writer.patch(data.record, { forceTokenRefresh });
        return { type: 'succeeded' };
      } catch (err) {
        if (!(err instanceof GraphRequestError)) throw err;
        lastClientRequestId = err.clientRequestId;
        return {
          type: 'refused',
          kind: err.kind,
          message: err.message,
          status: err.status,
          code: err.code,
          retryAfterMs: err.retryAfterMs,
          requestId: err.requestId,
        };
      }
    };

    /**
     * A row that came back with a 400 the refusal breaker had not judged: fail it with that 400 (it was its own), wait
     * on, or (the breaker held it and `resume` released it) send it again. No PATCH is sent to find out.
     */
    const heldStep = async (): Promise<Step | undefined> => {
      if (!heldRefusal) return undefined;
      const verdict = judgeRefusal(await refusals.view(rowId), heldRefusal.heldAt, now(), state.deadline, random());
      if (verdict.do === 'resend') {
        heldRefusal = undefined;
        return undefined;
      }
      if (verdict.do === 'hold') return { do: 'postpone', delayMs: verdict.delayMs, why: 'a 400 waits for the refusal breaker to decide' };
      await refusals.forget(rowId);
      lastClientRequestId = heldRefusal.clientRequestId;
      return { do: 'fail', reason: heldRefusal.reason, status: heldRefusal.status, requestId: heldRefusal.requestId, tripsBreaker: false };
    };

    const progressNow = (): JobProgress => ({ requests: state.requests, ...(heldRefusal ? { refusal: heldRefusal } : {}) });

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
      const recorded = await recordOutcome({ runId: data.runId, row: outcome, owner });
      if (recorded.startsWith('already')) log.warn({ outcome: recorded }, 'row had already ended; outcome not recorded twice');
      else deps.onRowFinished?.(outcome, now() - startedAt, data.runId);
      if (recorded === 'completed') deps.onRunCompleted?.(data.runId);
    };

    let event: AttemptEvent | undefined;
    let firstStep: Step | undefined;
    try {
      event = await claim();
      if (!event) firstStep = await heldStep();
      if (!event && !firstStep) event = await attempt();
    } catch (err) {
      event = { type: 'crashed', message: (err as Error).message };
      firstStep = undefined;
    }
    for (;;) {
      state.now = now();
      state.random = random();
      const step = firstStep ?? nextStep(event!, state, deps.maxRowAgeMs, deps.maxRetryAfterMs);
      firstStep = undefined;
      if (event?.type === 'refused') state.lastError = event.message;
      switch (step.do) {
        case 'record-success':
          await record({
            ...row(),
            state: 'succeeded',
            httpStatus: result!.status,
            requestId: result!.requestId,
            clientRequestId: result!.clientRequestId,
            response: result!.body,
          });
          // The success also ended the tenant's run of 403s and of refused writes (in recordOutcome's call).
          if (state.requests > 1) log.debug({ requests: state.requests }, 'row succeeded after retries');
          return 'succeeded';
        case 'skip':
          // Superseded while waiting for a slot: the lock taken by the first claim must not hold up the newer update.
          await store.releaseLock(data.key, owner);
          // A row that ended elsewhere no longer counts toward the refusal breaker.
          if (heldRefusal) await refusals.forget(rowId);
          return step.decision;
        case 'postpone':
          await store.releaseLock(data.key, owner);
          await job.updateProgress(progressNow());
          await job.moveToDelayed(now() + step.delayMs, token);
          throw new DelayedError(step.why);
        case 'hand-back':
          await store.releaseLock(data.key, owner);
          await job.updateProgress({ requests: state.requests });
          log.warn({ err: step.why }, 'attempt failed; BullMQ will retry the job after its back-off');
          throw new Error(step.why);
        case 'fail':
          // Any other answer from Graph shows the route is there: the 400s counted so far were the rows' own.
          if (step.status !== undefined && step.status !== 400) void refusals.breakRun().catch(() => undefined);
          if (step.tripsBreaker && (await breaker.recordForbidden(step.reason))) {
            log.error({ reason: step.reason }, 'permission breaker tripped: pausing the fleet');
            await store.setBlocked(data.runId, step.reason);
            await deps.pauseFleet(step.reason);
            deps.onRunBlocked?.(data.runId, step.reason);
          }
          if (step.status === 404 && deps.missing) {
            // Best effort: the row's failure is recorded either way; a lost memory only means a later import sends it once more.
            await rememberNotFound(deps.missing, data.record, event?.type === 'refused' ? event.message : step.reason, now()).catch(
              (err: unknown) => log.warn({ err: (err as Error).message }, 'could not remember the 404'),
            );
          }
          await record({
            ...row(),
            state: 'failed',
            httpStatus: step.status,
            reason: step.reason,
            requestId: step.requestId,
            clientRequestId: lastClientRequestId,
            record: data.record,
          });
          throw new UnrecoverableError(step.reason);
        case 'count-refusal': {
          // The row stays queued whatever the count says: it fails only once its 400 is known to be its own.
          const reason = refusalBlockedReason(step.reason, refusals.threshold);
          const count = await refusals.record(step.shape, rowId, reason, now());
          if (count.outcome === 'tripped') {
            log.error({ reason }, 'refusal breaker tripped: the same 400 on distinct rows; pausing the fleet');
            await store.setBlocked(data.runId, reason);
            await deps.pauseFleet(reason);
            deps.onRunBlocked?.(data.runId, reason);
          }
          // Counting: wait for the verdict. Held or tripped: the breaker holds the row, sent again after `resume`.
          heldRefusal =
            count.outcome === 'counting'
              ? { reason: step.reason, status: step.status, requestId: step.requestId, clientRequestId: lastClientRequestId, heldAt: now() }
              : undefined;
          await store.releaseLock(data.key, owner);
          await job.updateProgress(progressNow());
          await job.moveToDelayed(now() + Math.round(REFUSAL_RECHECK_MS * (0.5 + random())), token);
          throw new DelayedError(`400 counted toward the refusal breaker (${count.outcome})`);
        }
        case 'wait-out-throttle': {
          state.throttleStreak++;
          const pausedMs = await budget.throttled(step.waitMs, slot!);
          await store.addThrottle(data.runId, 1, pausedMs);
          deps.onThrottled?.(pausedMs, tenantIdOf(data.record));
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

/** Most outcomes one call records: bounds how long one script holds Redis. */
const MAX_OUTCOMES_PER_CALL = 100;

/**
 * Outcomes recorded together: those that finish in the same turn of the event loop (answers that arrived together) go
 * in one call (recordOutcomes), sent at the end of that turn, so under load a call carries several rows and the
 * counters move once per run. No outcome waits for another call to finish, so recording adds no latency.
 * Each caller gets its own row's answer, or the call's error.
 */
function outcomeBatcher(store: ResultStore, breakers: SuccessBreakerKeys) {
  type Waiting = {
    outcome: { runId: string; row: FinalRow; owner: string };
    resolve: (r: RecordedOutcome) => void;
    reject: (e: unknown) => void;
  };
  let waiting: Waiting[] = [];
  const flush = async () => {
    const batch = waiting;
    waiting = [];
    try {
      const answers = await store.recordOutcomes(
        batch.map((w) => w.outcome),
        breakers,
      );
      batch.forEach((w, i) => w.resolve(answers[i]));
    } catch (err) {
      batch.forEach((w) => w.reject(err));
    }
  };
  return (outcome: Waiting['outcome']) =>
    new Promise<RecordedOutcome>((resolve, reject) => {
      waiting.push({ outcome, resolve, reject });
      if (waiting.length === 1) setImmediate(() => void flush());
      else if (waiting.length >= MAX_OUTCOMES_PER_CALL) void flush();
    });
}

/** A PATCH answered 404: Graph holds no such user status (or configuration, when its message names that), and PATCH cannot create one. */
async function rememberNotFound(missing: MissingStatuses, record: PatchJobData['record'], message: string, at: number): Promise<void> {
  const tenant = tenantIdOf(record);
  const configKey = `${record.configurationType}/${record.configurationId}`;
  const why = `PATCH answered 404 at ${new Date(at).toISOString()}: ${message}`;
  if (notFoundScope(message, record.configurationId, record.userStatusId) === 'configuration')
    await missing.rememberConfiguration(tenant, configKey, why);
  else await missing.rememberStatuses(tenant, configKey, [[record.userStatusId, why]]);
}
