import type { Logger } from '../src/logger.js';
import type { ResultStore } from '../src/results/store.js';
import type { PatchWorkerHooks } from './hooks.js';
import { REASON_LOG_INTERVAL_MS, ReasonLimiter } from './reason-limiter.js';
import { PROGRESS_LOG_INTERVAL_MS, runProgressLine, runSummary, type ProgressSample } from './run-progress.js';

export interface RunLogOptions {
  /** How often a progress line per active run is logged (a minute; tests pass less). */
  progressIntervalMs?: number;
  /** How often one failure reason may be logged (a minute; tests pass less). */
  reasonIntervalMs?: number;
  /** For tests: the clock. */
  now?: () => number;
}

export interface RunLog {
  hooks: PatchWorkerHooks;
  /** Logs the progress lines and held-back failure reasons due now (the timer calls it; tests may too). */
  tick(): Promise<void>;
  /** Stops the timer and waits for lines being written. */
  close(): Promise<void>;
}

/**
 * What a worker tells its operator about runs: a progress line per run it worked on in the last interval (sent, failed,
 * throttled, ETA), a summary when it finishes a run, and each failure reason at warn, at most once per reason per interval.
 * Figures come from the run's status in Redis, so they are the fleet's, not only this process's.
 */
export function createRunLog(store: ResultStore, logger: Logger, options: RunLogOptions = {}): RunLog {
  const now = options.now ?? Date.now;
  const reasons = new ReasonLimiter(options.reasonIntervalMs ?? REASON_LOG_INTERVAL_MS);
  /** Runs this worker has finished rows of and that were still running at the last tick, with their last sample. */
  const active = new Map<string, ProgressSample | undefined>();
  const pending = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    const p = work
      .catch((err: unknown) => logger.warn({ err: (err as Error).message }, "run log: could not read a run's status"))
      .finally(() => pending.delete(p));
    pending.add(p);
  };

  const tick = async () => {
    for (const [runId, previous] of [...active]) {
      const status = await store.status(runId);
      // Ended, blocked or pruned: no progress to report (the worker that finished it logged the summary).
      if (!status || status.state !== 'running') {
        active.delete(runId);
        continue;
      }
      const { line, sample } = runProgressLine(status, previous, now());
      active.set(runId, sample);
      logger.info(
        line,
        `run ${runId}: ${line.sent} sent, ${line.failed} failed, ${line.throttled} throttled, ${line.pending} pending, ETA ${line.eta}`,
      );
    }
    for (const { reason, suppressed } of reasons.due(now())) {
      logger.warn({ reason, rows: suppressed }, `${suppressed} more ${suppressed === 1 ? 'row' : 'rows'} failed: ${reason}`);
    }
  };

  // One tick at a time: a slow Redis makes lines late, never doubled.
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    track(tick().finally(() => (ticking = false)));
  }, options.progressIntervalMs ?? PROGRESS_LOG_INTERVAL_MS);
  // Logging never keeps a worker alive on its own.
  timer.unref();

  return {
    hooks: {
      onRowFinished: (row, _latencyMs, runId) => {
        if (!active.has(runId)) active.set(runId, undefined);
        if (row.state !== 'failed') return;
        const reason = row.reason ?? 'no reason recorded';
        const verdict = reasons.offer(reason, now());
        if (!verdict.log) return;
        logger.warn(
          {
            runId,
            reason,
            httpStatus: row.httpStatus,
            line: row.line,
            key: row.key,
            ...(verdict.suppressed > 0 ? { heldBack: verdict.suppressed } : {}),
          },
          `row failed: ${reason}${verdict.suppressed > 0 ? ` (and ${verdict.suppressed} more since the last line)` : ''}`,
        );
      },
      onRunCompleted: (runId) => {
        active.delete(runId);
        track(
          (async () => {
            const status = await store.status(runId);
            if (status)
              logger.info(
                runSummary(status, now()),
                `run ${runId} finished: ${status.state}, ${status.succeeded} sent, ${status.failed} failed, ${status.unchanged} unchanged`,
              );
          })(),
        );
      },
    },
    tick,
    async close() {
      clearInterval(timer);
      await Promise.all([...pending]);
    },
  };
}
