import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../interfaces.js';
import { isCluster } from './connection.js';
import {
  groupByOwner,
  IDLE_SLOT,
  markerSeen,
  nextSweepDelay,
  waitEnded,
  waitOrder,
  waitStarted,
  type Marker,
  type MarkerSlot,
} from './marker-routing.js';

/** The wait of one queue was ended by its worker (closing or pausing), not by a marker or its time. */
export class MarkerWaitInterrupted extends Error {
  override name = 'MarkerWaitInterrupted';
}

export interface MarkerWatchOptions {
  /**
   * One Redis: this process's doorbell key, a sorted set in the BZPOPMIN with the markers. A queue that starts to wait
   * while the BZPOPMIN in flight does not name its marker rings it (ZADD), so the wait starts again with that marker too.
   */
  doorbellKey: string;
  /** One Redis: the name of the waiting connection in CLIENT LIST. */
  connectionName?: string;
  /**
   * One Redis: the longest one BZPOPMIN blocks (s). BullMQ keeps its blocking commands at 10 s at most so that a
   * connection lost without a word is noticed; an idle process sends one BZPOPMIN every this many seconds.
   */
  blockTimeoutSec?: number;
  /** A Redis Cluster: the sweep's delay, back to `minMs` after it found markers, doubling up to `maxMs` while idle. */
  sweep?: { minMs: number; maxMs: number };
  onError?: (err: Error) => void;
}

interface Waiter {
  resolve(marker: Marker | null): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * Pops, in one script per master, one member of each marker named (a Redis Cluster refuses one command over keys of
 * several slots, and each queue has its own slot; `allow-cross-slot-keys` lets one script read keys of several slots of
 * its own node). Returns key, member, score for each marker that held one.
 */
const SWEEP_SCRIPT = `#!lua flags=allow-cross-slot-keys
local popped = {}
for _, key in ipairs(KEYS) do
  local m = redis.call('ZPOPMIN', key)
  if m[1] then
    popped[#popped + 1] = key
    popped[#popped + 1] = m[1]
    popped[#popped + 1] = m[2]
  end
end
return popped`;

const JOB_WAITING: Marker = { member: '0', score: 0 };

/**
 * Waits for the BullMQ markers of many queues at once, so a worker process holds a fixed number of Redis connections
 * whatever its tenant count (each BullMQ Worker would otherwise hold its own blocking connection):
 * - one Redis: one connection of its own blocks in one BZPOPMIN over the markers of every queue whose worker waits
 *   (and the doorbell), in an order that puts each tenant first in turn (waitOrder);
 * - a Redis Cluster: no connection of its own; a sweep pops the markers of the waiting queues with one script per
 *   master over the cluster client's connections, every 100 ms while markers come, backing off to one a second.
 * A marker popped for a queue whose worker is busy is held for that worker's next wait (markerSeen).
 */
export class MarkerWatch {
  private readonly slots = new Map<string, MarkerSlot>();
  private readonly waiters = new Map<string, Waiter>();
  private closed = false;
  /** Ends the loop's pause for lack of waiting queues (a queue starts to wait). */
  private kick?: () => void;
  /** Ends any pause of the loop (close()). */
  private stopPause?: () => void;
  /** One Redis: the markers named by the BZPOPMIN in flight, and whether the doorbell was rung since it was sent. */
  private inFlight?: Set<string>;
  private rung = false;
  private waitConnection?: Redis;
  private readonly loop: Promise<void>;
  /** A cluster whose Redis refuses the sweep script (before 7.0: no script flags): one ZPOPMIN per marker instead. */
  private sweepByCommand = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: MarkerWatchOptions,
  ) {
    this.loop = isCluster(redis) ? this.sweepLoop(redis) : this.blockLoop(redis);
  }

  /**
   * Waits for the next marker of one queue, at most `timeoutMs`: the marker, or null when the time ran out. Rejects
   * with MarkerWaitInterrupted when interrupt() or close() ends it.
   */
  wait(markerKey: string, timeoutMs: number): Promise<Marker | null> {
    if (this.closed) return Promise.reject(new MarkerWaitInterrupted('the marker watch is closed'));
    this.interrupt(markerKey);
    const started = waitStarted(this.slot(markerKey));
    this.slots.set(markerKey, started.slot);
    if (started.wake) return Promise.resolve(started.wake);
    return new Promise<Marker | null>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (Number.isFinite(timeoutMs)) waiter.timer = setTimeout(() => this.settle(markerKey, null), Math.max(0, timeoutMs));
      this.waiters.set(markerKey, waiter);
      this.startWaitingFor(markerKey);
    });
  }

  /** Ends a queue's wait now (its worker closes or pauses). */
  interrupt(markerKey: string): void {
    const waiter = this.takeWaiter(markerKey);
    waiter?.reject(new MarkerWaitInterrupted('the wait for a job was interrupted'));
  }

  /** Stops watching: every wait ends (interrupted), the waiting connection (one Redis) is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const key of [...this.waiters.keys()]) this.interrupt(key);
    this.stopPause?.();
    this.waitConnection?.disconnect();
    await this.loop;
    if (!isCluster(this.redis)) await this.redis.unlink(this.options.doorbellKey).catch(() => undefined);
  }

  /** How many queues wait for a marker now (for tests and the bench). */
  get waitingCount(): number {
    return this.waiters.size;
  }

  private slot(key: string): MarkerSlot {
    return this.slots.get(key) ?? IDLE_SLOT;
  }

  private takeWaiter(key: string): Waiter | undefined {
    const waiter = this.waiters.get(key);
    if (!waiter) return undefined;
    this.waiters.delete(key);
    clearTimeout(waiter.timer);
    this.slots.set(key, waitEnded(this.slot(key)));
    return waiter;
  }

  private settle(key: string, marker: Marker | null): void {
    this.takeWaiter(key)?.resolve(marker);
  }

  /** A marker was popped for `key`: wake its waiting worker, or hold the marker for its next wait. */
  private deliver(key: string, marker: Marker): void {
    const seen = markerSeen(this.slot(key), marker);
    const waiter = seen.wake ? this.waiters.get(key) : undefined;
    if (waiter) {
      this.waiters.delete(key);
      clearTimeout(waiter.timer);
    }
    this.slots.set(key, seen.slot);
    if (waiter && seen.wake) waiter.resolve(seen.wake);
  }

  private waitingKeys(): string[] {
    return [...this.waiters.keys()];
  }

  /** A queue started to wait: the loop must watch its marker too. */
  private startWaitingFor(key: string): void {
    if (this.kick) {
      this.kick();
      return;
    }
    // One Redis, a BZPOPMIN in flight without this marker: ring the doorbell once so it starts again with it.
    if (this.inFlight && !this.inFlight.has(key) && !this.rung && !isCluster(this.redis)) {
      this.rung = true;
      this.redis
        .multi()
        .zadd(this.options.doorbellKey, 0, 'ring')
        .pexpire(this.options.doorbellKey, 60_000)
        .exec()
        .catch((err: Error) => this.options.onError?.(err));
    }
  }

  /**
   * Resolves after `ms` (never, without it) or at close(); when `untilWaiting`, also as soon as a queue starts to wait.
   * The sweep's delay is not cut short by waits: queues that start to wait often would make it spin.
   */
  private pause(ms: number | undefined, untilWaiting: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.kick = undefined;
        this.stopPause = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.stopPause = done;
      if (untilWaiting) this.kick = done;
    });
  }

  /** Every waiting queue fetches once: after an error, a marker may have been missed. */
  private wakeAll(): void {
    for (const key of this.waitingKeys()) this.deliver(key, JOB_WAITING);
  }

  private newWaitConnection(base: Redis): Redis {
    const connection = base.duplicate(this.options.connectionName ? { connectionName: this.options.connectionName } : {});
    // Errors reach the loop through the BZPOPMIN; ioredis would otherwise print them.
    connection.on('error', () => undefined);
    this.waitConnection = connection;
    return connection;
  }

  private async blockLoop(base: Redis): Promise<void> {
    const timeoutSec = this.options.blockTimeoutSec ?? 10;
    let connection = this.newWaitConnection(base);
    let lastPopped: string | undefined;
    while (!this.closed) {
      const keys = this.waitingKeys();
      if (keys.length === 0) {
        await this.pause(undefined, true);
        continue;
      }
      this.inFlight = new Set(keys);
      this.rung = false;
      let watchdog: NodeJS.Timeout | undefined;
      try {
        const popping = connection.bzpopmin(...waitOrder(keys, lastPopped), this.options.doorbellKey, timeoutSec);
        popping.catch(() => undefined);
        // ioredis may send a blocking command again after a reconnect and never settle it (BullMQ #4479): past its
        // timeout, the connection is replaced.
        const stuck = new Promise<'stuck'>((resolve) => (watchdog = setTimeout(() => resolve('stuck'), timeoutSec * 1000 + 5000)));
        const popped = await Promise.race([popping, stuck]);
        if (popped === 'stuck') {
          connection.disconnect();
          if (!this.closed) connection = this.newWaitConnection(base);
          this.wakeAll();
          continue;
        }
        if (!popped) continue;
        const [key, member, score] = popped;
        if (key === this.options.doorbellKey) continue;
        lastPopped = key;
        this.deliver(key, { member, score: Number(score) });
      } catch (err) {
        if (this.closed) break;
        this.options.onError?.(err as Error);
        this.wakeAll();
        await this.pause(1000, false);
      } finally {
        clearTimeout(watchdog);
        this.inFlight = undefined;
      }
    }
    connection.disconnect();
  }

  private async sweepLoop(cluster: Cluster): Promise<void> {
    const bounds = this.options.sweep ?? { minMs: 100, maxMs: 1000 };
    const slotOf = new Map<string, number>();
    let delay = bounds.minMs;
    while (!this.closed) {
      const keys = this.waitingKeys();
      if (keys.length === 0) {
        delay = bounds.minMs;
        await this.pause(undefined, true);
        continue;
      }
      let found = false;
      try {
        for (const key of keys) if (!slotOf.has(key)) slotOf.set(key, Number(await cluster.cluster('KEYSLOT', key)));
        const masters = new Map<string, Redis>(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
        const { byOwner, unplaced } = groupByOwner(
          keys.map((key) => ({ key, slot: slotOf.get(key)! })),
          (slot) => {
            const owner = cluster.slots[slot]?.[0];
            return owner !== undefined && masters.has(owner) ? owner : undefined;
          },
        );
        for (const key of unplaced) this.deliver(key, JOB_WAITING);
        if (unplaced.length > 0) found = true;
        await Promise.all(
          [...byOwner].map(async ([owner, group]) => {
            try {
              for (const [key, marker] of await this.popMarkers(cluster, masters.get(owner)!, group)) {
                found = true;
                this.deliver(key, marker);
              }
            } catch (err) {
              // A slot moved (resharding, failover): these queues fetch once, and ioredis learns the new owners.
              found = true;
              for (const key of group) this.deliver(key, JOB_WAITING);
              cluster.refreshSlotsCache();
              this.options.onError?.(err as Error);
            }
          }),
        );
      } catch (err) {
        if (this.closed) break;
        this.options.onError?.(err as Error);
        this.wakeAll();
      }
      delay = nextSweepDelay(delay, found, bounds);
      await this.pause(delay, false);
    }
  }

  /** Pops the markers of `keys`, all served by `master`: one script, or one ZPOPMIN each where scripts cannot. */
  private async popMarkers(cluster: Cluster, master: Redis, keys: string[]): Promise<Array<[string, Marker]>> {
    const popped: Array<[string, Marker]> = [];
    if (!this.sweepByCommand) {
      try {
        const flat = (await master.eval(SWEEP_SCRIPT, keys.length, ...keys)) as string[];
        for (let i = 0; i + 2 < flat.length; i += 3) popped.push([flat[i], { member: flat[i + 1], score: Number(flat[i + 2]) }]);
        return popped;
      } catch (err) {
        if (/^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/.test((err as Error).message)) throw err;
        this.sweepByCommand = true;
        this.options.onError?.(new Error(`the marker sweep script was refused (${(err as Error).message}); popping each marker instead`));
      }
    }
    const answers = await Promise.all(keys.map((key) => cluster.zpopmin(key)));
    answers.forEach((answer, i) => {
      if (answer.length >= 2) popped.push([keys[i], { member: answer[0], score: Number(answer[1]) }]);
    });
    return popped;
  }
}
