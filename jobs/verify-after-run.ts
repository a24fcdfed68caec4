import type { SyncConfig } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import { DriftStore } from '../src/results/drift.js';
import { ResultStore } from '../src/results/store.js';
import type { RunAlerts } from './alerts.js';
import type { PatchWorkerHooks } from './hooks.js';
import type { RedisClient } from '../src/interfaces.js';

/**
 * schedule --verify: when a run created with verifyWhenDone completes, one process of the fleet (whichever claims
 * it first) reads Graph back and verifies the run; drift raises the `drifted` alert.
 */
export class RunVerifier {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly drift: DriftStore;
  private readonly store: ResultStore;

  constructor(
    private readonly config: SyncConfig,
    private readonly redis: RedisClient,
    private readonly logger: Logger,
    private readonly alerts?: RunAlerts,
  ) {
    this.drift = new DriftStore(redis, config.prefix);
    this.store = new ResultStore(redis, config.prefix);
  }

  async verifyIfAsked(runId: string): Promise<void> {
    if (!(await this.drift.claimVerify(runId))) return;
    // Loaded here, not at start-up: few runs ask for it, and a worker should reach its first PATCH without the reading code.
    const [{ createGraphStates }, { verifyRun }] = await Promise.all([
      import('../src/producer/reconcile.js'),
      import('../src/producer/verify.js'),
    ]);
    const summary = await verifyRun(this.store, this.drift, createGraphStates(this.config, this.redis, { fresh: true }), runId);
    const { checked, matching, drifted, missing, overridden } = summary;
    const log = this.logger.child({ runId });
    // Overridden rows (Graph sets those properties back itself) are not drift: no alert for them.
    if (drifted + missing === 0) {
      log.info({ checked, matching, overridden }, 'verify after the run: Graph holds every row');
      return;
    }
    log.warn({ checked, matching, drifted, missing, overridden }, 'verify after the run: Graph no longer holds some rows');
    await this.alerts?.alertDrift(runId, { checked, matching, drifted, missing });
  }

  watch(runId: string): void {
    const pending = this.verifyIfAsked(runId).catch((err: Error) =>
      this.logger.error({ runId, err: err.message }, 'could not verify the run after it completed'),
    );
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
  }

  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  hooks(): PatchWorkerHooks {
    return { onRunCompleted: (runId) => this.watch(runId) };
  }
}
