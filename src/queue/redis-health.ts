import { RedisConnection } from 'bullmq';
import semver from 'semver';
import type { DoctorCheck, RedisClient } from '../interfaces.js';

/**
 * What `doctor` checks about the Redis a fleet runs on. Reading the facts is one INFO and one TIME
 * (CONFIG is often disabled on managed Redis, and INFO carries the same settings); each judgment is a
 * pure function of those facts, so every verdict and its fix can be tested without a broken Redis.
 */

export interface RedisFacts {
  version: string;
  maxmemoryPolicy: string;
  aofEnabled: boolean;
  usedMemory: number;
  /** 0 means no limit. */
  maxmemory: number;
  clusterEnabled: boolean;
}

/** Parses the text of INFO into `field -> value` (sections and blank lines skipped). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

export function redisFactsFromInfo(info: Record<string, string>): RedisFacts {
  return {
    version: info.redis_version ?? 'unknown',
    maxmemoryPolicy: info.maxmemory_policy ?? 'unknown',
    aofEnabled: info.aof_enabled === '1',
    usedMemory: Number(info.used_memory ?? 0),
    maxmemory: Number(info.maxmemory ?? 0),
    clusterEnabled: info.cluster_enabled === '1',
  };
}

export async function readRedisFacts(redis: RedisClient): Promise<RedisFacts> {
  return redisFactsFromInfo(parseInfo(await redis.info('everything')));
}

/** Redis's TIME as epoch ms, with the local clock read halfway through the round trip. */
export async function readRedisClock(redis: RedisClient, now: () => number = Date.now): Promise<{ localMs: number; redisMs: number }> {
  const before = now();
  const [sec, micro] = await redis.time();
  const after = now();
  return { localMs: (before + after) / 2, redisMs: Number(sec) * 1000 + Number(micro) / 1000 };
}

/**
 * Compares dotted versions as semver does ("7.10.0" > "7.2.4"); Redis reports `major.minor.patch`, and a shorter one
 * ("5.0") is read with its missing parts as 0. Both must be digits and dots (judgeRedisVersion checks first).
 */
export function compareVersions(a: string, b: string): number {
  return semver.compare(asSemver(a), asSemver(b));
}

function asSemver(version: string): semver.SemVer {
  const parsed = /^\d+(\.\d+)*$/.test(version) ? semver.coerce(version) : null;
  if (!parsed) throw new Error(`not a dotted version: "${version}"`);
  return parsed;
}

export const BULLMQ_MIN_REDIS = RedisConnection.minimumVersion;
export const BULLMQ_RECOMMENDED_REDIS = RedisConnection.recommendedMinimumVersion;

const ok = (name: string, detail: string): DoctorCheck => ({ name, result: 'ok', detail, fix: '' });

export function judgeRedisVersion(version: string, minimum = BULLMQ_MIN_REDIS, recommended = BULLMQ_RECOMMENDED_REDIS): DoctorCheck {
  const name = 'redis.version';
  if (!/^\d+(\.\d+)*$/.test(version)) {
    return {
      name,
      result: 'warn',
      detail: `Redis did not report a version (redis_version "${version}")`,
      fix: `make sure this is Redis ${recommended} or later; BullMQ refuses anything below ${minimum}`,
    };
  }
  if (compareVersions(version, minimum) < 0) {
    return {
      name,
      result: 'fail',
      detail: `Redis ${version} is older than ${minimum}, the oldest BullMQ accepts`,
      fix: `upgrade Redis to ${recommended} or later`,
    };
  }
  if (compareVersions(version, recommended) < 0) {
    return {
      name,
      result: 'warn',
      detail: `Redis ${version} works, but BullMQ recommends ${recommended} or later`,
      fix: `upgrade Redis to ${recommended} or later`,
    };
  }
  return ok(name, `Redis ${version} (BullMQ needs ${minimum} or later)`);
}

export function judgeEvictionPolicy(policy: string): DoctorCheck {
  const name = 'redis.maxmemory-policy';
  if (policy === 'noeviction')
    return ok(name, 'maxmemory-policy is noeviction: a full Redis refuses writes rather than dropping queued rows');
  return {
    name,
    result: 'fail',
    detail:
      `maxmemory-policy is ${policy}: when memory runs short Redis may evict queued ` +
      `jobs, locks and row results, and BullMQ requires noeviction`,
    fix:
      'set maxmemory-policy noeviction (redis-server --maxmemory-policy noeviction, or ' +
      'CONFIG SET maxmemory-policy noeviction and CONFIG REWRITE; on a managed Redis, ' +
      'in its settings)',
  };
}

export function judgeAof(aofEnabled: boolean): DoctorCheck {
  const name = 'redis.aof';
  if (aofEnabled) return ok(name, 'AOF is on: a restart keeps what is queued');
  return {
    name,
    result: 'warn',
    detail: 'AOF is off: a Redis restart loses queued rows and the results recorded since the last snapshot',
    fix:
      'turn on AOF (redis-server --appendonly yes --appendfsync everysec, or CONFIG SET ' +
      'appendonly yes and CONFIG REWRITE); docker-compose.yml does',
  };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Memory used against maxmemory: warn from 80 %, fail from 95 % (with noeviction, writes are refused at 100 %). */
export function judgeMemory(usedMemory: number, maxmemory: number): DoctorCheck {
  const name = 'redis.memory';
  if (maxmemory <= 0) return ok(name, `${mb(usedMemory)} used; no maxmemory limit, so the machine's memory is the limit`);
  const ratio = usedMemory / maxmemory;
  const detail = `${mb(usedMemory)} used of maxmemory ${mb(maxmemory)} (${Math.round(ratio * 100)} %)`;
  if (ratio >= 0.95)
    return {
      name,
      result: 'fail',
      detail: `${detail}: RedisClient is about to refuse writes, so imports and outcomes would fail`,
      fix: 'raise maxmemory, or delete old runs and finish or remove queued work before starting a run',
    };
  if (ratio >= 0.8)
    return {
      name,
      result: 'warn',
      detail: `${detail}: a large import may not fit`,
      fix: 'raise maxmemory, or delete old runs before a large import (a queued row takes about 2 kB)',
    };
  return ok(name, detail);
}

/** What CLUSTER INFO says about a cluster as a whole. */
export interface ClusterFacts {
  state: string;
  slotsAssigned: number;
  slotsOk: number;
  /** Masters that serve at least one slot (cluster_size). */
  masters: number;
}

export const CLUSTER_SLOTS = 16384;

export function clusterFactsFromInfo(info: Record<string, string>): ClusterFacts {
  return {
    state: info.cluster_state ?? 'unknown',
    slotsAssigned: Number(info.cluster_slots_assigned ?? 0),
    slotsOk: Number(info.cluster_slots_ok ?? 0),
    masters: Number(info.cluster_size ?? 0),
  };
}

/**
 * Whether the Redis that was configured is the kind it is. `cluster` is what CLUSTER INFO said when SYNC_REDIS_CLUSTER
 * is set (undefined with REDIS_URL): every slot must be served, or rows whose keys hash there would fail.
 */
export function judgeCluster(clusterEnabled: boolean, cluster?: ClusterFacts): DoctorCheck {
  const name = 'redis.cluster';
  if (cluster === undefined) {
    if (!clusterEnabled) return ok(name, 'not a cluster: every key lives on this one Redis');
    return {
      name,
      result: 'fail',
      detail:
        'this Redis is a node of a Redis Cluster, but REDIS_URL names one Redis: commands ' +
        'for keys in the slots of other nodes would be refused (MOVED)',
      fix: "set SYNC_REDIS_CLUSTER to the cluster's nodes (host:port,host:port,...), which replaces REDIS_URL",
    };
  }
  if (!clusterEnabled) {
    return {
      name,
      result: 'fail',
      detail: 'SYNC_REDIS_CLUSTER is set, but this Redis is not in cluster mode',
      fix: 'unset SYNC_REDIS_CLUSTER and set REDIS_URL for a single Redis, or name the nodes of a Redis Cluster',
    };
  }
  const served = `${cluster.slotsOk} of ${CLUSTER_SLOTS} slots served by ${cluster.masters} master${cluster.masters === 1 ? '' : 's'}`;
  if (cluster.state !== 'ok' || cluster.slotsOk < CLUSTER_SLOTS) {
    return {
      name,
      result: 'fail',
      detail:
        `cluster_state is ${cluster.state}` +
        `, ${served}` +
        (cluster.slotsAssigned < CLUSTER_SLOTS ? ` (${CLUSTER_SLOTS - cluster.slotsAssigned} slots assigned to no node)` : '') +
        `: keys in the other slots cannot be read or written`,
      fix:
        'bring the failed masters back or fail over to their replicas, and assign every ' +
        'slot (redis-cli --cluster check / --cluster fix)',
    };
  }
  return ok(name, `Redis Cluster, cluster_state ok, ${served}`);
}

const SEVERITY: Record<DoctorCheck['result'], number> = { ok: 0, warn: 1, fail: 2 };

/**
 * The checks of every master of a cluster folded into one line per check: the worst node's verdict, naming the
 * node, so one full or misconfigured master is not hidden by the others.
 */
export function worstPerCheck(perNode: readonly { node: string; checks: readonly DoctorCheck[] }[]): DoctorCheck[] {
  if (perNode.length === 1) return [...perNode[0].checks];
  const out: DoctorCheck[] = [];
  for (const [i, check] of (perNode[0]?.checks ?? []).entries()) {
    let worst = { node: perNode[0].node, check };
    for (const n of perNode.slice(1)) {
      const other = n.checks[i];
      if (other && SEVERITY[other.result] > SEVERITY[worst.check.result]) worst = { node: n.node, check: other };
    }
    out.push(
      worst.check.result === 'ok'
        ? { ...check, detail: `${perNode.length} masters; ${perNode[0].node}: ${check.detail}` }
        : { ...worst.check, detail: `master ${worst.node}: ${worst.check.detail}` },
    );
  }
  return out;
}

/** Pacing spans machines (one schedule of send slots in Redis), so clocks must roughly agree. */
export function judgeClockSkew(localMs: number, redisMs: number, maxSkewMs = 2000): DoctorCheck {
  const name = 'clock';
  const skew = localMs - redisMs;
  const detail =
    `this machine's clock ` +
    `is ${Math.abs(skew) < 1 ? 'in step with' : `${(Math.abs(skew) / 1000).toFixed(3)} s ${skew > 0 ? 'ahead of' : 'behind'}`}` +
    ` Redis's TIME`;
  if (Math.abs(skew) > maxSkewMs)
    return {
      name,
      result: 'warn',
      detail,
      fix: 'synchronise the clocks of this machine and the Redis host (NTP, e.g. chrony or systemd-timesyncd)',
    };
  return ok(name, detail);
}

/** The judgments of one server's own settings, in the order `doctor` prints them (then redis.cluster). */
export function judgeRedisServer(facts: RedisFacts): DoctorCheck[] {
  return [
    judgeRedisVersion(facts.version),
    judgeEvictionPolicy(facts.maxmemoryPolicy),
    judgeAof(facts.aofEnabled),
    judgeMemory(facts.usedMemory, facts.maxmemory),
  ];
}

/** Every Redis judgment for one Redis (REDIS_URL), in the order `doctor` prints them. */
export function judgeRedis(facts: RedisFacts): DoctorCheck[] {
  return [...judgeRedisServer(facts), judgeCluster(facts.clusterEnabled)];
}

/** Every Redis judgment for a cluster: each master's settings (worst one named), then the cluster's own state. */
export function judgeRedisCluster(perNode: readonly { node: string; facts: RedisFacts }[], cluster: ClusterFacts): DoctorCheck[] {
  const servers = worstPerCheck(perNode.map((n) => ({ node: n.node, checks: judgeRedisServer(n.facts) })));
  return [
    ...servers,
    judgeCluster(
      perNode.every((n) => n.facts.clusterEnabled),
      cluster,
    ),
  ];
}

/** CLUSTER INFO, from any node. */
export async function readClusterFacts(redis: RedisClient): Promise<ClusterFacts> {
  return clusterFactsFromInfo(parseInfo(String(await redis.call('CLUSTER', 'INFO'))));
}
