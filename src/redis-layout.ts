import { createHash } from 'node:crypto';

/**
 * Every Redis key and queue this project uses, in one place. `P` is SYNC_PREFIX (default `csync`).
 *
 * Queues (BullMQ, with BullMQ's own prefix set to queuePrefix(P, <queue>), i.e. P on one Redis, so its keys are `P:<queue>:*`):
 *   patch-user-status   one job per accepted row; payload = PatchJobData (src/interfaces.ts):
 *                       { runId, line, key, record: { configurationType, configurationId, userStatusId, properties },
 *                         fingerprint, version, enqueuedAt, generation }
 *                       job id = `${runId}:${line}:${generation}`, so a resumed import re-adds nothing twice.
 *   scheduled-import    jobs of BullMQ Job Schedulers (scheduler id = schedule name); payload = ScheduledImportJobData
 *                       (src/queue/schedules.ts): { scheduleName, source: { kind: 'dir', dir } | { kind: 'postgres', url, query },
 *                         format?, full?, reconcile?, verify?, renames?, settleMs? }.
 *                       A postgres URL is stored as given (password included, if any).
 *
 * Runs and rows. EVERY key of a run is `P:run:{runId}` or `P:run:{runId}<suffix>` with its suffix listed in
 * RUN_KEY_SUFFIXES below: the scripts that finish a run give each of them the run's retention (PEXPIRE
 * SYNC_RUN_RETENTION), `prune` deletes each of them, and a running or blocked run's keys never expire (PERSIST when
 * a finished run gets rows again or is blocked). A new per-run key must add its suffix there, and nothing else.
 *   P:runs                  ZSET   runId -> createdAt (ms). Members whose run hash has expired are removed lazily
 *                                  (when runs are listed, when a run is created, and by `prune`)
 *   Run ids are 1-128 characters of [A-Za-z0-9._-], not only dots (src/domain/run-id.ts), checked on the way in and
 *   when read back from P:runs, so no run id can name another key (`nd1:rows` is refused).
 *   P:run:{runId}           HASH   counters per row state (rejected, unchanged, queued, succeeded, failed, superseded, cancelled),
 *                                  input (what the run id stands for, set once at creation by createRun-2.lua, see
 *                                  src/producer/run-input.ts: `file <absolute path> size=<bytes> mtime=<ISO time>` | `stdin` |
 *                                  `postgres <url, password masked> <query>` | `drop <schedule> <file name>` | `http` |
 *                                  `source <label>`; a later import with another input is refused),
 *                                  enqueued, maxLine (highest input line, for ordered reads), createdAt, finishedAt, source,
 *                                  importFinished (0|1), importError,
 *                                  blocked (0|1), blockedReason, throttledCount, throttledMs,
 *                                  cancelledAt (ms, HSETNX by cancelQueuedRows-2.lua: `cancel`; claimRow-5.lua then cancels any
 *                                  queued row of the run instead of sending it, so no worker sends a row of the run afterwards),
 *                                  verifyWhenDone (1 = schedule --verify: verify the run once it completes), verifyClaimedAt
 *                                  (HSETNX: the one process that runs that verify), verifiedAt, verifyChecked, verifyMatching,
 *                                  verifyDrifted, verifyMissing, verifyOverridden (the last verify's counts),
 *                                  alertedCompleted, alertedFailedThreshold, alertedDrifted, alertedBlocked:<breaker trippedAt>
 *                                  (ms when the alert was claimed; HSETNX, so each alert is sent once across the fleet,
 *                                  a blocked alert once per trip of the permission breaker; jobs/alerts.ts)
 *   P:run:{runId}:rows      HASH   line -> the row (RowResult of src/interfaces.ts without `line`, which is the field);
 *                                  its `state` is the truth the counters follow. Per state it holds only:
 *                                    queued      "q|<generation>" ("q|<generation>|<tenant>" for a tenant of SYNC_TENANTS_FILE,
 *                                                see Tenants below; not JSON: the key, values and version are in its
 *                                                job `${runId}:${line}:${generation}`, and, since a queued row is always
 *                                                its key's newest update, the version in P:latest), or, when `retry`/`resume` queued
 *                                                a failed row again, the failed row's JSON with state "queued"
 *                                    (JSON from here on)
 *                                    succeeded   { state, key, httpStatus, attempts, requestId, clientRequestId, finishedAt,
 *                                                  values, responseSha256 } (`values`: the properties the row set, which
 *                                                  `verify` compares with Graph; Graph's 200 body repeats what was sent: only
 *                                                  the first 16 hex digits of its SHA-256 are kept)
 *                                    failed      { state, key, httpStatus, attempts, reason, requestId, clientRequestId,
 *                                                  finishedAt, record, values, fingerprint, version, generation } (what
 *                                                  `retry` resends). A row of a configuration Graph answered 404 for at
 *                                                  `import --reconcile` is failed at admission (httpStatus 404, attempts 0,
 *                                                  reason, record, values), without a PATCH
 *                                    rejected    { state, key, reason, errors }
 *                                    superseded  { state, key, supersededBy: { runId, line }, skippedGeneration? } (its job
 *                                                is left in the queue, not removed: removing it scans the wait list; the
 *                                                job ends unsent when claimed, and records its generation here)
 *                                    cancelled   { state, generation, tenantId?, reason, finishedAt } (`cancel`: no key, its job
 *                                                still holds it; a row cancelled at claim also has `key`)
 *                                  Runs written before this layout hold every row as a full RowResult JSON (with `line`,
 *                                  and Graph's `response`); they are read the same way and expire or are pruned alike.
 *                                  An unchanged row is not in this hash at all:
 *   P:run:{runId}:unchanged STRING bitmap: bit `line` is 1 for an unchanged row (a million lines: 125 KB)
 *   P:run:{runId}:keys      HASH   "<firstLine>-<lastLine>" -> raw-deflated text, one line per valid row of an admitted
 *                                  chunk that had unchanged rows: "<line minus the previous line>\t<key>\t<values JSON>\t<reason>\n"
 *                                  (`values`: the properties the row sets, which `verify` compares with Graph; `reason`: for a
 *                                  row `import --reconcile` found in Graph, naming when Graph's state was read, else empty).
 *                                  Only unchanged rows are looked up here (report, runs API, verify); written after the
 *                                  chunk's admission with HSETNX, and again by a resumed import for chunks whose rows were
 *                                  already admitted. Blobs of the earlier layout ("<delta>\t<key>\n") read as rows without values
 *   P:run:{runId}:nextLine  STRING last line handed out in a shared event run (each POST takes a block of lines)
 *   P:run:{runId}:timeline  HASH   per 10 s bucket of wall-clock time
 *                                  (`<b>` = epoch seconds of the bucket's start, src/results/timeline.ts):
 *                                  `<b>:succeeded`, `<b>:failed` -> rows that ended in that state in the bucket (recordOutcome, by the
 *                                  row's finishedAt); `<b>:throttled` -> 429s received; `<b>:pausedMs` -> ms those 429s added to
 *                                  the fleet's pause (ResultStore.addThrottle). Drawn on the run page; GET /v1/runs/<id>/timeline.
 *                                  An event request answered 503 (Redis did not answer in time) is cancelled by cancelRun-3.lua,
 *                                  sent after its writes on the same connection: its queued rows become failed with
 *                                  reason CANCELLED_REASON (src/server/ingest.ts), or its run is deleted when it holds no row.
 *                                  One answered 503 because Redis ran out of memory after its rows were admitted but before
 *                                  their jobs were added is cancelled the same way (OUT_OF_MEMORY_CANCELLED_REASON; the script
 *                                  may write when Redis is full), and the older queued rows it superseded are queued again
 *                                  (their jobs are never removed) unless their job already came by (skippedGeneration), with
 *                                  P:latest pointing back at them.
 *
 * The demo (src/cli/demo.ts), under its own prefix P = `<SYNC_PREFIX>-demo`:
 *   P:demo                  STRING "1": this prefix is a demo's, which the next demo may clear (set after clearing it)
 *
 * Fleet-wide counters, moved by the same scripts that move rows and runs (so /metrics reads them, never sums runs):
 *   P:stats                 HASH   rows:<state> (rows:queued is the rows waiting now; the others count every row that
 *                                  reached that state since the counters began, pruned or expired runs included),
 *                                  runs:open (runs not finished), runs:blocked (runs blocked now),
 *                                  runs:completed, runs:completed_with_errors, runs:cancelled (runs that finished, counted at
 *                                  each finish; a run `cancel` stamped counts as cancelled),
 *                                  throttledCount, throttledMs (429s and the pause they caused, all runs).
 *                                  rowsLeft:<state> (rows that left a final state again: `retry`/`resume` of a failed row,
 *                                  a 503'd request's cancel giving superseded rows back), so that rows:<state> +
 *                                  rowsLeft:<state> only grows: the compliance_sync_rows_total counter of /metrics.
 *                                  Not backfilled: runs written before it existed are not counted (README, Retention and memory)
 *
 * Change detection and newest-wins, per key `<configurationType>/<configurationId>/<userStatusId>`. Both hashes are
 * keyed by keyDigest(key) below, the first 32 hex digits of the key's SHA-1 (src/scripts/includes/keyDigest.lua is the
 * same for the scripts), not by the key: an entry is kept for every key ever imported, and the ~100-character key as
 * its field cost 64 B more per entry. Find one with redis-cli:
 *   HGET csync:latest $(printf %s '<key>' | sha1sum | cut -c1-32)     ({csync}:latest on a cluster)
 * Releases before the digest wrote the full key as the field; such an entry is still read, and moved to its digest
 * field by the first script that writes and touches its key (no migration step). Such a release must not run beside
 * this one: what it writes under the full key is not read while the digest field exists.
 *   P:latest                HASH   keyDigest(key) -> "<version>|<runId>|<line>"  the newest accepted update (sent or queued)
 *   P:fingerprints          HASH   keyDigest(key) -> "<fingerprint>|<version>"   what Graph holds after our last successful PATCH, or what
 *                                  a snapshot proved it held (import --reconcile); deleted when a PATCH starts, since its
 *                                  outcome is unknown until it ends, and by `verify` for a row it found drifted or missing
 *   P:seq                   STRING arrival counter used in versions (equal lastReportedDateTime: later arrival wins)
 *   P:lock:{key}            STRING job id holding the key while its PATCH is in flight (PX, expires if a worker dies)
 *
 * Fleet-wide pacing (src/pacing/budget.ts, src/pacing/breaker.ts; scripts in src/scripts/):
 *   P:budget                HASH   tat (µs, next free send slot), intervalUs (current adaptive spacing),
 *                                  pauseUntil (µs, end of a 429's Retry-After), lastCutUs, cutIntervalUs (spacing right
 *                                  after the last cut), ceilingIntervalUs (spacing that got the last 429), epoch (moves on
 *                                  with each 429 or breaker trip; voids slots handed out before), blocked (1 = breaker tripped),
 *                                  expiresAtUs (when the hash's expiry, moved on at most every 30 min, falls).
 *                                  Expires 30 to 60 min after its last slot, an hour after a pause, except while `blocked` (then PERSIST)
 *   P:budget:pauses         ZSET   "<startUs>:<endUs>" by endUs: every stretch the fleet was paused by Retry-After, so a
 *                                  row's age leaves it out (jobs/patch-user-status.ts); kept 7 days
 *   P:budget:read           HASH   the same fields, for reads (GET pages; SYNC_READ_RATE_LIMIT): a 429 on a read pauses and slows
 *                                  only what shares this budget. The breaker never sets `blocked` here.
 *   P:breaker               HASH   consecutive403, trippedAt, reason, cause ("refused" when the refusal breaker tripped it),
 *                                  refusalShape (the code and message shape of the 400s counted now; src/pacing/refusal.ts)
 *   P:breaker:refused       SET    "<runId>:<line>" of the rows whose 400 of that shape counts toward the refusal breaker
 *                                  (recordRefusal-4.lua; 5 trip it); deleted by `resume` (PermissionBreaker.reset), PEXPIRE 1 day
 *   P:breaker:refused-own   SET    rows whose counted 400 turned out to be their own (another answer broke the run,
 *                                  breakRefusalRun-3.lua): each fails when it looks again and removes itself; PEXPIRE 1 day
 *
 * Graph's state, read back (src/results/snapshots.ts, src/producer/reconcile.ts, src/producer/verify.ts):
 *   P:snapshot:{configurationType}/{configurationId}   (the default tenant's; tenant T's: see Tenants below)
 *                           HASH   userStatusId (a GUID lower-cased, as Graph lists it) -> JSON of the compared properties
 *                                  Graph held ({"status":"compliant",...}; a null the listing gave for a property a row sets
 *                                  is replaced by what a GET of that status answered, confirmSnapshotValues-1.lua),
 *                                  or "?" once an import queued it to be written after the read (the snapshot then no
 *                                  longer speaks for it: change detection decides, as without --reconcile);
 *                                  "/readAt" -> ms when the read began; "/missing" -> Graph's 404 message when the
 *                                  configuration does not exist (then no user statuses). "/" cannot start an id.
 *                                  Written whole under a temporary key (same name + ":tmp:<random hex>", PEXPIRE max age + 1 h
 *                                  in case the reader dies) and RENAMEd, so a half-read list is never used;
 *                                  PEXPIRE SYNC_SNAPSHOT_MAX_AGE. Not per run: any import or verify within that age reuses it,
 *                                  and every verify replaces it with what it read.
 *   P:missing:{configurationType}/{configurationId}   (the default tenant's; tenant T's: P:missing:T/{configurationType}/{configurationId})
 *                           HASH   what Graph does not hold, remembered (src/results/missing-statuses.ts), since PATCH cannot
 *                                  create it: userStatusId (a GUID lower-cased) -> why ("not in the complete listing read at
 *                                  <ISO>" by import --reconcile, or "PATCH answered 404 at <ISO>: <Graph's message>" by a worker);
 *                                  "/configuration" -> why, when Graph answered 404 for the whole configuration.
 *                                  A plain import fails such rows at admission without a PATCH; a complete listing of the
 *                                  configuration (import --reconcile, verify) forgets every id it lists, and "/configuration";
 *                                  while the hash exists, import --reconcile reads the configuration again rather than reuse
 *                                  a snapshot. No expiry: it is as small as what Graph lacks.
 *   P:run:{runId}:drift     HASH   (a per-run key: in RUN_KEY_SUFFIXES, so it expires and is pruned with its run)
 *                                  line -> JSON { kind: "drifted" | "missing" | "overridden", key, sent: <the row's values>,
 *                                  graph: <what Graph held, compared properties only> | null, properties: [differing names:
 *                                  for drifted those that drifted, for overridden those Graph sets back itself],
 *                                  overridden?: [a drifted row's properties Graph sets back itself], readAt } for each row
 *                                  `verify` found not holding; replaced by each verify of the run. The run hash then
 *                                  carries verifiedAt, verifyChecked, verifyMatching, verifyDrifted, verifyMissing, verifyOverridden.
 *   P:worker-doorbell:<uuid> ZSET  one per worker process on one Redis (src/queue/marker-watch.ts): waited on in the
 *                                  process's one BZPOPMIN with its tenants' queue markers, rung when a tenant starts to
 *                                  wait so the BZPOPMIN restarts with its marker; 60 s expiry, deleted at close
 *   P:overrides             HASH   keyDigest(key) -> JSON { observed?: { readAt, properties: { <name>: { sent, graph } } },
 *                                  overridden?: { <name>: { sent, graph } } } (src/results/overrides.ts, src/domain/override.ts):
 *                                  per key, the properties the last verify found differing (observed: what we sent, what
 *                                  Graph held, when verify read it) and those Graph set back twice running (verify, a
 *                                  successful resend of the same value, verify: Graph held the same value again) with the
 *                                  value we sent. Written by verify (a row that matches Graph deletes its entry); read by
 *                                  verify, which counts such a row overridden rather than drifted and keeps its fingerprint
 *                                  (so plain imports do not send it again), and by import --reconcile, which judges a row
 *                                  differing only in overridden properties, for the value it sends, as held. Not per run,
 *                                  no TTL: an entry lives until its key matches Graph again; one per key that ever differed.
 *
 * Scheduled imports (jobs/scheduled-import.ts):
 *   P:schedule-lock:{name}  STRING token of the firing of schedule {name} that is running (SET NX PX 30 s, renewed every 10 s),
 *                                  so one schedule never runs twice at once across worker processes; expires if a worker dies
 *
 * On a Redis Cluster (SYNC_REDIS_CLUSTER) the layout is the same with `P` = `{<SYNC_PREFIX>}` (keyPrefix() below): the braces
 * are a hash tag, so every key above lives in ONE slot. That is required, not a choice: admitRows, claimRow, recordOutcome,
 * requeueRow, cancelRun, openRun, setRunBlocked, finishImport and pruneRun are Lua scripts that touch the run's keys,
 * P:latest, P:fingerprints, P:seq, P:stats and P:runs together (some build those names from the prefix inside the
 * script), and MULTI blocks (breaker, throttles, snapshots) span P:budget, P:breaker, the run and P:stats.
 * BullMQ's keys are not touched by any of those: each queue gets its own hash tag (queuePrefix() below), so its keys
 * are `{<SYNC_PREFIX>:<queue>}:<queue>:*` and queues spread over the masters. Without SYNC_REDIS_CLUSTER nothing changes:
 * `P` is SYNC_PREFIX and BullMQ's prefix is `P` (keys `P:<queue>:*`), exactly as before clusters were supported.
 * (`{runId}`, `{key}` and the like above are placeholders, not hash tags: Redis hashes a key by its FIRST `{...}`, which on
 * a cluster is always the prefix's.)
 */
/**
 * Tenants (SYNC_TENANTS_FILE). The default tenant ('' here: rows without tenantId, described by the environment
 * variables) keeps every key and queue above exactly as a single-tenant deployment has them. Every other tenant T
 * (a lower-case GUID) gets its own:
 *   queue patch-user-status-T   (BullMQ keys `P:patch-user-status-T:*`), the same payload; its rows' record carries tenantId
 *   P:tenant:T:budget           HASH   as P:budget, T's write budget (the tenant's rateLimit, default SYNC_RATE_LIMIT)
 *   P:tenant:T:budget:read      HASH   as P:budget:read, T's read budget (T's readRateLimit, default SYNC_READ_RATE_LIMIT):
 *                                      import --reconcile, verify and schedule --verify read T's rows through it only
 *   P:tenant:T:breaker          HASH   as P:breaker, T's 403 breaker: it sets `blocked` on T's budget and pauses T's queue only
 *   P:tenant:T:breaker:refused, P:tenant:T:breaker:refused-own   as P:breaker:refused(-own), T's refusal breaker
 *   P:snapshot:T/{configurationType}/{configurationId}   as P:snapshot:..., Graph's state of T's configuration, read
 *                                      from T's Graph with T's token (src/producer/reconcile.ts createGraphStates)
 *   P:missing:T/{configurationType}/{configurationId}    as P:missing:..., what T's Graph does not hold
 * Change detection: T's rows have the key "T/<configurationType>/<configurationId>/<userStatusId>" (tenantRecordKey), so
 * P:latest, P:fingerprints and P:lock:{key} never mix two tenants' objects that share ids. A queued row of T is stored
 * as "q|<generation>|T" in its run's rows hash (so its job is found in T's queue).
 */
export const DEFAULT_TENANT = '';

/** The tenant whose keys and queue hold a record: the one it names, else the default tenant. */
export function tenantIdOf(record: { tenantId?: string }): string {
  return record.tenantId ?? DEFAULT_TENANT;
}

/**
 * The field of a change-detection key's entry in P:latest and P:fingerprints: the first 32 hex digits (128 bits) of the
 * SHA-1 of its UTF-8 bytes. The scripts compute the same in src/scripts/includes/keyDigest.lua; this one is for
 * tests, benches and tools that read those hashes.
 */
export function keyDigest(key: string): string {
  return createHash('sha1').update(key, 'utf8').digest('hex').slice(0, 32);
}

/** The BullMQ queue of a tenant's rows: `patch-user-status` for the default tenant. */
export function patchQueueName(tenant: string): string {
  return tenant === DEFAULT_TENANT ? QUEUE_NAMES.patch : `${QUEUE_NAMES.patch}-${tenant}`;
}

/** A row's change-detection key (`<type>/<configurationId>/<userStatusId>`), qualified by its tenant unless default. */
export function tenantRecordKey(tenant: string, key: string): string {
  return tenant === DEFAULT_TENANT ? key : `${tenant}/${key}`;
}

/** The tenant of a change-detection key: a default tenant's key has three `/`-separated parts, another tenant's four. */
export function tenantOfRecordKey(key: string): string {
  const parts = key.split('/');
  return parts.length === 4 ? parts[0] : DEFAULT_TENANT;
}

/** The key without its tenant (what Graph's path is built from). */
export function untenantedRecordKey(key: string): string {
  const parts = key.split('/');
  return parts.length === 4 ? parts.slice(1).join('/') : key;
}

export const QUEUE_NAMES = {
  patch: 'patch-user-status',
  scheduledImport: 'scheduled-import',
} as const;

/**
 * Suffixes of every per-run key besides the run hash `P:run:{runId}` itself (see above): retention and prune cover each.
 * `:timeline` is the per-run timeline (written by recordOutcome-5.lua and throttle recording); `:drift` is what `verify` found.
 */
export const RUN_KEY_SUFFIXES: readonly string[] = [':rows', ':unchanged', ':keys', ':nextLine', ':timeline', ':drift'];

/**
 * The prefix of every key of ours: SYNC_PREFIX on one Redis; on a Redis Cluster the same name as a hash tag, so all our
 * keys share one slot (the multi-key scripts and MULTI blocks need that). The result is what redisKeys() and the
 * scripts are given as `prefix`.
 */
export function keyPrefix(syncPrefix: string, cluster: boolean): string {
  return cluster ? `{${syncPrefix}}` : syncPrefix;
}

/** Whether a prefix from keyPrefix() is a cluster's (a hash tag): SYNC_PREFIX itself may not hold braces. */
export function isClusterPrefix(prefix: string): boolean {
  return prefix.startsWith('{') && prefix.endsWith('}');
}

/** The name a prefix from keyPrefix() stands for (SYNC_PREFIX), for SCAN patterns and messages. */
export function basePrefix(prefix: string): string {
  return isClusterPrefix(prefix) ? prefix.slice(1, -1) : prefix;
}

/**
 * BullMQ's `prefix` option for queue `queueName` (its keys are `<this>:<queueName>:*`): our prefix on one Redis; on a
 * cluster a hash tag of its own per queue, so each queue's keys (which BullMQ's scripts use together) share a slot,
 * and different queues can live on different masters.
 */
export function queuePrefix(prefix: string, queueName: string): string {
  return isClusterPrefix(prefix) ? `{${basePrefix(prefix)}:${queueName}}` : prefix;
}

/**
 * SCAN patterns that match every key of a deployment: `P:*` on one Redis; on a cluster our slot's keys and every
 * queue's (`{P}:*` and `{P:*}:*`). Scan each master with them.
 */
export function keyPatterns(prefix: string): string[] {
  if (!isClusterPrefix(prefix)) return [`${prefix}:*`];
  // SYNC_PREFIX holds no glob character (src/config.ts), so it needs no escaping.
  const base = basePrefix(prefix);
  return [`{${base}}:*`, `{${base}:*}:*`];
}

export function redisKeys(prefix: string) {
  return {
    prefix,
    runs: `${prefix}:runs`,
    demoMarker: `${prefix}:demo`,
    run: (runId: string) => `${prefix}:run:${runId}`,
    rows: (runId: string) => `${prefix}:run:${runId}:rows`,
    timeline: (runId: string) => `${prefix}:run:${runId}:timeline`,
    unchanged: (runId: string) => `${prefix}:run:${runId}:unchanged`,
    rowKeys: (runId: string) => `${prefix}:run:${runId}:keys`,
    nextLine: (runId: string) => `${prefix}:run:${runId}:nextLine`,
    stats: `${prefix}:stats`,
    latest: `${prefix}:latest`,
    fingerprints: `${prefix}:fingerprints`,
    overrides: `${prefix}:overrides`,
    seq: `${prefix}:seq`,
    lock: (key: string) => `${prefix}:lock:${key}`,
    budget: `${prefix}:budget`,
    readBudget: `${prefix}:budget:read`,
    snapshot: (configKey: string) => `${prefix}:snapshot:${configKey}`,
    drift: (runId: string) => `${prefix}:run:${runId}:drift`,
    breaker: `${prefix}:breaker`,
    scheduleLock: (scheduleName: string) => `${prefix}:schedule-lock:${scheduleName}`,
    budgetOf: (tenant: string) => (tenant === DEFAULT_TENANT ? `${prefix}:budget` : `${prefix}:tenant:${tenant}:budget`),
    readBudgetOf: (tenant: string) => (tenant === DEFAULT_TENANT ? `${prefix}:budget:read` : `${prefix}:tenant:${tenant}:budget:read`),
    breakerOf: (tenant: string) => (tenant === DEFAULT_TENANT ? `${prefix}:breaker` : `${prefix}:tenant:${tenant}:breaker`),
    snapshotOf: (tenant: string, configKey: string) => `${prefix}:snapshot:${tenantRecordKey(tenant, configKey)}`,
    missingOf: (tenant: string, configKey: string) => `${prefix}:missing:${tenantRecordKey(tenant, configKey)}`,
    /**
     * The hash of a BullMQ job of a tenant's patch queue (its `data` field holds the PatchJobData; read by ResultStore
     * for a waiting row's key and version, and by cancelRun), in that queue's slot.
     */
    patchJob: (tenant: string, jobId: string) => `${queuePrefix(prefix, patchQueueName(tenant))}:${patchQueueName(tenant)}:${jobId}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;

export function jobIdFor(runId: string, line: number, generation: number): string {
  return `${runId}:${line}:${generation}`;
}
