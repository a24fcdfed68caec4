import { randomBytes } from 'node:crypto';
import { graphIdKey } from '../domain/judging.js';
import { redisKeys } from '../redis-layout.js';
import { runScript } from '../scripts/index.js';
import type { RedisClient } from '../interfaces.js';

/** What is known about one configuration's snapshot. `missing` holds Graph's 404 message when it does not exist. */
export interface SnapshotMeta {
  readAt: number;
  missing?: string;
}

/**
 * What a snapshot says of a user status we are about to write after reading it: it can no longer speak for it,
 * and change detection (P:fingerprints, set only by a successful PATCH) decides instead.
 */
export const PENDING = 'pending' as const;
const PENDING_MARK = '?';

export type SnapshotValue = Record<string, unknown> | typeof PENDING | undefined;

/** Fields that are not user status ids start with "/", which no validated id contains. */
const READ_AT = '/readAt';
const MISSING = '/missing';

/**
 * Graph's state per configuration, as last read (see P:snapshot in src/redis-layout.ts). A snapshot is written
 * whole under a temporary key and renamed into place, so a reader never sees a half-read list.
 */
export class SnapshotStore {
  private readonly snapshotKey: (configKey: string) => string;
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    /** Whose Graph the snapshots are of: the same ids in two tenants are two objects (P:snapshot:T/...). */
    tenant: string,
  ) {
    const keys = redisKeys(prefix);
    this.snapshotKey = (configKey) => keys.snapshotOf(tenant, configKey);
  }

  /** The snapshot's read time, if there is one younger than `maxAgeMs`. */
  async fresh(configKey: string, maxAgeMs: number, now = Date.now()): Promise<SnapshotMeta | undefined> {
    const [readAt, missing] = await this.redis.hmget(this.snapshotKey(configKey), READ_AT, MISSING);
    if (readAt === null || now - Number(readAt) > maxAgeMs) return undefined;
    return { readAt: Number(readAt), ...(missing !== null ? { missing } : {}) };
  }

  /** Several lookups in one round trip: per configuration, the compared values of the given ids. */
  async valuesMany(lookups: { configKey: string; userStatusIds: string[] }[]): Promise<SnapshotValue[][]> {
    if (lookups.length === 0) return [];
    const pipeline = this.redis.pipeline();
    // Graph lists GUIDs lower-cased: a row's `0A1B…` is the listed `0a1b…` (graphIdKey, as the writer stores them).
    for (const l of lookups) pipeline.hmget(this.snapshotKey(l.configKey), ...l.userStatusIds.map(graphIdKey));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, found]) => {
      if (err) throw err;
      return (found as (string | null)[]).map((json) =>
        json === null ? undefined : json === PENDING_MARK ? PENDING : (JSON.parse(json) as Record<string, unknown>),
      );
    });
  }

  /**
   * Marks user statuses queued to be written after the snapshot was read. Without it, a second reconcile within
   * SYNC_SNAPSHOT_MAX_AGE would compare with values Graph held before our own PATCH, and send the row again.
   * A snapshot that has expired meanwhile only gets a key without `/readAt`, which counts as no snapshot.
   */
  async markPending(configKey: string, userStatusIds: string[], maxAgeMs: number): Promise<void> {
    if (userStatusIds.length === 0) return;
    const key = this.snapshotKey(configKey);
    const ttl = await this.redis.pttl(key);
    await this.redis
      .multi()
      .hset(key, ...userStatusIds.flatMap((id) => [graphIdKey(id), PENDING_MARK]))
      .pexpire(key, ttl > 0 ? ttl : maxAgeMs)
      .exec();
  }

  /**
   * Replaces listed values with what a GET of each status answered (undefined: 404), where the snapshot still holds
   * exactly what was listed (confirmSnapshotValues-1.lua), so reusing the snapshot needs no GET again.
   */
  async confirm(
    configKey: string,
    entries: { userStatusId: string; listed: Record<string, unknown>; confirmed: Record<string, unknown> | undefined }[],
  ): Promise<void> {
    if (entries.length === 0) return;
    const args = entries.flatMap((e) => [
      graphIdKey(e.userStatusId),
      JSON.stringify(e.listed),
      e.confirmed === undefined ? '' : JSON.stringify(e.confirmed),
    ]);
    await runScript(this.redis, 'confirmSnapshotValues', [this.snapshotKey(configKey)], args);
  }

  /** Starts writing a new snapshot; nothing is visible until `commit`. */
  begin(configKey: string, readAt: number, maxAgeMs: number): SnapshotWriter {
    return new SnapshotWriter(this.redis, this.snapshotKey(configKey), readAt, maxAgeMs);
  }
}

export class SnapshotWriter {
  private readonly tempKey: string;
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly readAt: number,
    private readonly maxAgeMs: number,
  ) {
    this.tempKey = `${key}:tmp:${randomBytes(6).toString('hex')}`;
  }

  /** Adds one page: id -> compared values. The temporary key expires on its own if this process dies. */
  async add(entries: [string, Record<string, unknown>][]): Promise<void> {
    if (entries.length === 0) return;
    const flat: string[] = [];
    for (const [id, values] of entries) flat.push(graphIdKey(id), JSON.stringify(values));
    await this.redis
      .multi()
      .hset(this.tempKey, ...flat)
      .pexpire(this.tempKey, this.maxAgeMs + 3_600_000)
      .exec();
  }

  async commit(missing?: string): Promise<void> {
    const m = this.redis.multi().hset(this.tempKey, READ_AT, String(this.readAt));
    if (missing !== undefined) m.hset(this.tempKey, MISSING, missing);
    await m.rename(this.tempKey, this.key).pexpire(this.key, this.maxAgeMs).exec();
  }

  async abandon(): Promise<void> {
    await this.redis.del(this.tempKey);
  }
}
