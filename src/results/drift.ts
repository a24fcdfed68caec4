import type { RedisClient, UserStatusProperties } from '../interfaces.js';
import { redisKeys, type RedisKeys } from '../redis-layout.js';
import { runScript } from '../scripts/index.js';
import { OverrideStore } from './overrides.js';

/**
 * One row `verify` found not holding in Graph (P:run:{runId}:drift): drifted, missing, or differing only in properties
 * Graph sets back itself (overridden, src/domain/override.ts), which is not drift.
 */
export interface DriftEntry {
  line: number;
  kind: 'drifted' | 'missing' | 'overridden';
  key: string;
  /** What the row set (and we sent, or found in Graph at import). */
  sent: UserStatusProperties;
  /** What Graph held when verify read it (compared properties only); null when Graph did not list the object. */
  graph: Record<string, unknown> | null;
  /** The differing properties (empty for missing): for drifted those that drifted, for overridden those Graph set back. */
  properties: string[];
  /** A drifted row's properties Graph sets back itself besides those that drifted; absent when none. */
  overridden?: string[];
  readAt: number;
}

export interface VerifyCounts {
  checked: number;
  matching: number;
  drifted: number;
  missing: number;
  /** Rows differing only in properties Graph sets back itself (not drift); absent from counts older than this. */
  overridden?: number;
}

/** What `verify` found for a run, kept under the run's keys so `report --state drifted|missing|overridden` can list it. */
export class DriftStore {
  private readonly keys: RedisKeys;
  /** What verify remembers per key about overridden properties (P:overrides). */
  readonly overrides: OverrideStore;
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = redisKeys(prefix);
    this.overrides = new OverrideStore(redis, prefix);
  }

  /** True for exactly one caller across the fleet, and only for a run created with verifyWhenDone (schedule --verify). */
  async claimVerify(runId: string, now = Date.now()): Promise<boolean> {
    if ((await this.redis.hget(this.keys.run(runId), 'verifyWhenDone')) !== '1') return false;
    return (await this.redis.hsetnx(this.keys.run(runId), 'verifyClaimedAt', String(now))) === 1;
  }

  /** A new verify replaces what the last one found. */
  async start(runId: string): Promise<void> {
    await this.redis.del(this.keys.drift(runId));
  }

  async add(runId: string, entries: DriftEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.redis.hset(this.keys.drift(runId), ...entries.flatMap((e) => [String(e.line), JSON.stringify(e)]));
  }

  /** Makes the change-detection memory forget keys Graph no longer holds, unless a newer PATCH has replaced it. */
  async forgetFingerprints(pairs: [key: string, expected: string][]): Promise<number> {
    if (pairs.length === 0) return 0;
    return Number(await runScript(this.redis, 'forgetFingerprints', [this.keys.fingerprints], pairs.flat()));
  }

  async finish(runId: string, counts: VerifyCounts, now = Date.now()): Promise<void> {
    await this.redis.hset(
      this.keys.run(runId),
      'verifiedAt',
      String(now),
      'verifyChecked',
      String(counts.checked),
      'verifyMatching',
      String(counts.matching),
      'verifyDrifted',
      String(counts.drifted),
      'verifyMissing',
      String(counts.missing),
      'verifyOverridden',
      String(counts.overridden ?? 0),
    );
  }

  /** The entries of one kind, in line order, a batch of lines per round trip. */
  async *entries(runId: string, kind: DriftEntry['kind'], batchSize = 1000): AsyncGenerator<DriftEntry> {
    const lines = (await this.redis.hkeys(this.keys.drift(runId))).map(Number).sort((a, b) => a - b);
    for (let i = 0; i < lines.length; i += batchSize) {
      const values = await this.redis.hmget(this.keys.drift(runId), ...lines.slice(i, i + batchSize).map(String));
      for (const json of values) {
        if (!json) continue;
        const entry = JSON.parse(json) as DriftEntry;
        if (entry.kind === kind) yield entry;
      }
    }
  }
}
