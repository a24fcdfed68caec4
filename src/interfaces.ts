/**
 * Types shared across stages. Data flows one way:
 * source (RawRow) -> domain (UserStatusRecord) -> producer (PatchJobData) -> jobs -> results (RowResult).
 */
import type { Cluster, Redis } from 'ioredis';

export const COMPLIANCE_STATUSES = [
  'unknown',
  'notApplicable',
  'compliant',
  'remediated',
  'nonCompliant',
  'error',
  'conflict',
  'notAssigned',
] as const;
export type ComplianceStatusValue = (typeof COMPLIANCE_STATUSES)[number];

export const CONFIGURATION_TYPES = ['mobileAppConfiguration', 'iosLobAppProvisioningConfiguration'] as const;
export type ConfigurationType = (typeof CONFIGURATION_TYPES)[number];

/** One input row before validation; `line` is the 1-based physical line where the row starts (header is line 1 in CSV). */
export interface RawRow {
  line: number;
  fields: Record<string, unknown>;
  /** Set by a source when the row is broken as a whole (wrong cell count, unparsable JSON line). */
  problem?: FieldError;
}

/** The PATCHable properties; absent means "leave unchanged" (PATCH semantics). */
export interface UserStatusProperties {
  userDisplayName?: string;
  devicesCount?: number;
  status?: ComplianceStatusValue;
  lastReportedDateTime?: string;
  userPrincipalName?: string;
}

/** A validated row: where to write and what to write. */
export interface UserStatusRecord {
  /** The tenant (lower-case GUID of SYNC_TENANTS_FILE); absent for the default tenant. Never sent to Graph. */
  tenantId?: string;
  configurationType: ConfigurationType;
  configurationId: string;
  userStatusId: string;
  properties: UserStatusProperties;
}

export interface FieldError {
  column: string;
  reason: string;
}

export type ValidationResult = { ok: true; record: UserStatusRecord } | { ok: false; errors: FieldError[] };

/** States a row can be in; `queued` is the only one that is not final. See src/redis-layout.ts. */
export const ROW_STATES = ['rejected', 'unchanged', 'queued', 'succeeded', 'failed', 'superseded', 'cancelled'] as const;
export type RowState = (typeof ROW_STATES)[number];
export const FINAL_ROW_STATES: readonly RowState[] = ['rejected', 'unchanged', 'succeeded', 'failed', 'superseded', 'cancelled'];

/** Payload of one `patch-user-status` job. See src/redis-layout.ts. */
export interface PatchJobData {
  runId: string;
  line: number;
  key: string;
  record: UserStatusRecord;
  fingerprint: string;
  /**
   * Newest-wins ordering, compared as a plain string: "<20-digit 100 ns ticks since 0001-01-01 of
   * lastReportedDateTime, all zeros when absent>:<16-digit arrival sequence>" (src/domain/version.ts).
   */
  version: string;
  enqueuedAt: number;
  /** Bumped by `retry`/`resume`, so a re-sent row gets a fresh job id and stale deliveries of the old job are ignored. */
  generation: number;
  /** Event-driven rows jump the bulk backlog. */
  origin?: 'bulk' | 'event';
}

/** What is stored per row in the run's row hash. */
export interface RowResult {
  line: number;
  key: string;
  /** A waiting row of a tenant of SYNC_TENANTS_FILE: whose queue holds its job (the key names the tenant too). */
  tenantId?: string;
  state: RowState;
  httpStatus?: number;
  attempts?: number;
  reason?: string;
  /** Every problem found in a rejected row, column by column. */
  errors?: FieldError[];
  requestId?: string;
  /** The client-request-id we sent with the last request for this row (a new UUID per request). */
  clientRequestId?: string;
  startedAt?: number;
  finishedAt?: number;
  /** The 200 body Graph returned. */
  response?: unknown;
  /** The properties this row sets (absent: leave unchanged); what `verify` compares with Graph. */
  values?: UserStatusProperties;
  /** import --reconcile: when the Graph state that proved this row unchanged was read (ms). */
  graphReadAt?: number;
  /** Kept for failed rows so `retry` can send them again. */
  record?: UserStatusRecord;
  fingerprint?: string;
  version?: string;
  generation?: number;
  /** For superseded rows: which row replaced this one. */
  supersededBy?: { runId: string; line: number };
}

export type RunState = 'running' | 'completed' | 'completed_with_errors' | 'blocked' | 'cancelled';

export interface RunStatus {
  runId: string;
  state: RunState;
  total: number;
  rejected: number;
  /** Rows in state `queued`; `pending` is the public name in `status --json`. */
  pending: number;
  succeeded: number;
  failed: number;
  unchanged: number;
  superseded: number;
  /** Rows `cancel` took out of the queue before they were sent. */
  cancelled: number;
  accepted: number;
  /** Rows that became jobs (some may later be superseded by newer updates). */
  enqueued: number;
  importFinished: boolean;
  /** Set when the input broke off (unreadable mid-way, malformed CSV); rows after that point were never read. */
  importError?: string;
  createdAt: number;
  finishedAt?: number;
  /** When `cancel` was given (ms); the run's rows still queued then, or admitted later, are never sent. */
  cancelledAt?: number;
  source?: string;
  blockedReason?: string;
  throttledCount: number;
  throttledMs: number;
}

/** One line of `doctor`: a check's verdict, what was found, and what to do about it (empty when ok). */
export interface DoctorCheck {
  name: string;
  result: 'ok' | 'warn' | 'fail';
  detail: string;
  fix: string;
}

/**
 * A connection to Redis: one server (REDIS_URL) or a Redis Cluster (SYNC_REDIS_CLUSTER). Both speak the same
 * commands; what differs (SCAN and INFO reach one node of a cluster) goes through src/queue/connection.ts.
 */
export type RedisClient = Redis | Cluster;

/**
 * An older queued row a newer one superseded at admission, with what its job carries: its job stays in the queue and
 * ends unsent when a worker claims it, or, if the newer row is cancelled first, sends it after all (cancelRun-3.lua).
 */
export interface ReplacedRow {
  runId: string;
  line: number;
  key: string;
  version: string;
  generation: number;
}
