import {
  ConnectionClosedError,
  QueueKeys,
  RedisConnection,
  RedisQueueBackend,
  type BackendFactory,
  type ConnectionOptions,
  type KeyPrefixOptions,
  type QueueBaseOptions,
} from 'bullmq';
import { MarkerWaitInterrupted, type MarkerWatch } from './marker-watch.js';

/**
 * The longest a waiting worker goes without fetching when no marker comes (s). A marker wakes it at once; this is
 * only the safety net should one be missed, so an idle process's tenants ask Redis once each this often, not every
 * 5 s as BullMQ's own wait does (its `drainDelay`).
 */
export const IDLE_FETCH_SEC = 300;

/**
 * A BullMQ queue backend whose worker waits for jobs through a shared MarkerWatch instead of a blocking connection of
 * its own. Everything else (fetching, locks and their renewal, stalled-job recovery, completing, failing) is BullMQ's
 * own over the process's shared connection: only the wait for the next job changes.
 */
class MarkerWatchedBackend extends RedisQueueBackend {
  /** Set by disconnectBlocking (the worker closes or pauses) until reconnectBlocking, as BullMQ's own connection would be. */
  private interrupted = false;

  constructor(
    private readonly watch: MarkerWatch,
    ...args: ConstructorParameters<typeof RedisQueueBackend>
  ) {
    super(...args);
  }

  /** Waits for a delayed job's time with a timer here, not a fresh BZPOPMIN every 10 s. */
  override get maximumBlockTimeout(): number {
    return IDLE_FETCH_SEC;
  }

  override async waitForJob(blockTimeout: number): Promise<{ member: string; score: number } | null> {
    // BullMQ's worker takes a closed connection as "stop waiting" (no error event), exactly what an interrupt means.
    if (this.interrupted) throw new ConnectionClosedError();
    try {
      return await this.watch.wait(this.keys.marker, blockTimeout * 1000);
    } catch (err) {
      if (err instanceof MarkerWaitInterrupted) throw new ConnectionClosedError();
      throw err;
    }
  }

  override async disconnectBlocking(): Promise<void> {
    this.interrupted = true;
    this.watch.interrupt(this.keys.marker);
  }

  override async reconnectBlocking(): Promise<void> {
    this.interrupted = false;
  }
}

/**
 * BackendFactory for BullMQ Workers that share one MarkerWatch and the caller's connection: such a Worker opens no
 * connection of its own. `connection` must be a client instance (shared, never closed by the Worker).
 */
export function markerWatchedBackends(watch: MarkerWatch): BackendFactory<RedisQueueBackend> {
  return (name: string, opts: QueueBaseOptions<ConnectionOptions> & KeyPrefixOptions) => {
    const connection = new RedisConnection(opts.connection, {
      shared: true,
      blocking: false,
      skipVersionCheck: opts.skipVersionCheck,
      skipWaitingForReady: opts.skipWaitingForReady,
    });
    const queueKeys = new QueueKeys(opts.prefix);
    return new MarkerWatchedBackend(watch, connection, name, queueKeys.getKeys(name), (type) => queueKeys.toKey(name, type), opts);
  };
}
