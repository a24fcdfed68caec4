import type { SyncConfig, TenantConfig } from '../config.js';
import { compareWithGraph, comparedValues, SELECTED_PROPERTIES } from '../domain/compare.js';
import { createTokenSource, type TokenSource } from '../graph/auth.js';
import { UserStatusWriter, type ListOptions } from '../graph/client.js';
import type { ConfigurationType, RedisClient } from '../interfaces.js';
import { readBudget } from '../pacing/budget.js';
import { pacedReads, ReadFailedError } from '../pacing/reads.js';
import { DEFAULT_TENANT } from '../redis-layout.js';
import { PENDING, SnapshotStore, type SnapshotMeta } from '../results/snapshots.js';
import type { UnversionedRow } from './validate-rows.js';

/** Page size asked of Graph (`$top`); Graph may return fewer. */
export const READ_PAGE_SIZE = 1000;

export class GraphReadError extends Error {
  override name = 'GraphReadError';
}

/**
 * Graph's state per configuration for one run: each configuration is read at most once per run (the snapshot in
 * Redis is reused while younger than SYNC_SNAPSHOT_MAX_AGE, or read again when `fresh` asks for a new read).
 */
export class GraphState {
  private readonly known = new Map<string, Promise<SnapshotMeta>>();
  /** Pages read and the configurations read from Graph (not from a reused snapshot), for summaries and tests. */
  readonly stats = { configurationsRead: 0, pagesRead: 0, snapshotsReused: 0 };

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly client: Pick<UserStatusWriter, 'listUserStatuses'>,
    private readonly pace: ListOptions['pace'],
    private readonly maxAgeMs: number,
    /** Verify reads Graph now, whatever snapshot exists. */
    private readonly fresh = false,
  ) {}

  configuration(configurationType: ConfigurationType, configurationId: string): Promise<SnapshotMeta> {
    const configKey = `${configurationType}/${configurationId}`;
    let meta = this.known.get(configKey);
    if (!meta) {
      meta = this.load(configurationType, configurationId, configKey);
      this.known.set(configKey, meta);
    }
    return meta;
  }

  valuesMany(lookups: { configKey: string; userStatusIds: string[] }[]) {
    return this.snapshots.valuesMany(lookups);
  }

  /** The rows of this chunk that will be written: the snapshot no longer speaks for them (see SnapshotStore.markPending). */
  async markPending(rows: UnversionedRow[]): Promise<void> {
    const byConfig = groupByConfiguration(rows);
    await Promise.all([...byConfig].map(([configKey, group]) => this.snapshots.markPending(configKey, group.map((r) => r.record!.userStatusId), this.maxAgeMs)));
  }

  private async load(configurationType: ConfigurationType, configurationId: string, configKey: string): Promise<SnapshotMeta> {
    if (!this.fresh) {
      const reused = await this.snapshots.fresh(configKey, this.maxAgeMs);
      if (reused) {
        this.stats.snapshotsReused++;
        return reused;
      }
    }
    // The read time is when the read began: anything Graph changed later may or may not be in the snapshot.
    const readAt = Date.now();
    const writer = this.snapshots.begin(configKey, readAt, this.maxAgeMs);
    this.stats.configurationsRead++;
    try {
      for await (const page of this.client.listUserStatuses(configurationType, configurationId, { select: SELECTED_PROPERTIES, top: READ_PAGE_SIZE, pace: this.pace })) {
        this.stats.pagesRead++;
        await writer.add(page.items.filter((item) => typeof item.id === 'string').map((item) => [item.id as string, comparedValues(item)]));
      }
      await writer.commit();
      return { readAt };
    } catch (err) {
      if (err instanceof ReadFailedError && err.status === 404) {
        await writer.abandon();
        const w = this.snapshots.begin(configKey, readAt, this.maxAgeMs);
        await w.commit(err.message);
        return { readAt, missing: err.message };
      }
      await writer.abandon().catch(() => undefined);
      throw new GraphReadError(`could not read ${configKey} from Graph: ${(err as Error).message}`);
    }
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The valid rows of a chunk by tenant ('' for the default tenant), as each tenant's Graph is read on its own. */
function groupByTenant(rows: UnversionedRow[]): Map<string, UnversionedRow[]> {
  const byTenant = new Map<string, UnversionedRow[]>();
  for (const row of rows) {
    if (!row.record) continue;
    const tenant = row.record.tenantId ?? DEFAULT_TENANT;
    let group = byTenant.get(tenant);
    if (!group) byTenant.set(tenant, (group = []));
    group.push(row);
  }
  return byTenant;
}

/** One tenant's valid rows by configuration (`<configurationType>/<configurationId>`, as snapshots are keyed). */
function groupByConfiguration(rows: UnversionedRow[]): Map<string, UnversionedRow[]> {
  const byConfig = new Map<string, UnversionedRow[]>();
  for (const row of rows) {
    if (!row.record) continue;
    const configKey = `${row.record.configurationType}/${row.record.configurationId}`;
    let group = byConfig.get(configKey);
    if (!group) byConfig.set(configKey, (group = []));
    group.push(row);
  }
  return byConfig;
}

/**
 * Graph's state for one run, per tenant: each tenant's rows are judged against its own Graph (its graphBaseUrl, token
 * source, read budget and snapshot keys), never another tenant's objects that share their ids. A tenant's GraphState
 * is made when its first row comes by, so a run of one tenant reads nothing of the others'.
 */
export class GraphStates {
  /** undefined for a tenant without a Graph to read, so it is looked up once. */
  private readonly states = new Map<string, GraphState | undefined>();

  constructor(
    /** A tenant's state, or undefined for a tenant no longer configured (its rows then get no verdict). */
    private readonly create: (tenant: string) => GraphState | undefined,
  ) {}

  of(tenant: string): GraphState | undefined {
    if (!this.states.has(tenant)) this.states.set(tenant, this.create(tenant));
    return this.states.get(tenant);
  }

  /** The rows of this chunk that will be written, each in its own tenant's snapshots. */
  async markPending(rows: UnversionedRow[]): Promise<void> {
    await Promise.all([...groupByTenant(rows)].map(([tenant, group]) => this.of(tenant)?.markPending(group) ?? Promise.resolve()));
  }
}

/**
 * Sets each valid row's Graph verdict from the snapshots (reading a configuration from Graph the first time
 * one of its rows comes by): holds, differs (or not listed), or the configuration does not exist.
 */
export async function judgeRows(states: GraphStates, rows: UnversionedRow[]): Promise<void> {
  await Promise.all(
    [...groupByTenant(rows)].map(([tenant, group]) => {
      const state = states.of(tenant);
      // A tenant with no Graph to read: change detection decides, as without --reconcile.
      return state ? judgeTenantRows(state, group) : Promise.resolve();
    }),
  );
}

async function judgeTenantRows(state: GraphState, rows: UnversionedRow[]): Promise<void> {
  const byConfig = groupByConfiguration(rows);
  const groups = [...byConfig.entries()];
  // Configurations not read yet are read side by side (the read budget paces them); then one round trip for the values.
  const metas = await Promise.all(groups.map(([, group]) => state.configuration(group[0].record!.configurationType, group[0].record!.configurationId)));
  const listed = groups.flatMap(([configKey, group], g) => (metas[g].missing === undefined ? [{ configKey, userStatusIds: group.map((r) => r.record!.userStatusId), g }] : []));
  const held = await state.valuesMany(listed);
  const heldByGroup = new Map(listed.map((l, k) => [l.g, held[k]]));
  groups.forEach(([, group], g) => {
    const meta = metas[g];
    if (meta.missing !== undefined) {
      const reason = `not sent: Graph has no such configuration (${meta.missing}; read at ${iso(meta.readAt)})`;
      for (const row of group) row.graph = { verdict: 'missingConfiguration', reason };
      return;
    }
    const values = heldByGroup.get(g)!;
    const reason = `unchanged: Graph held these values when its state was read at ${iso(meta.readAt)}`;
    group.forEach((row, i) => {
      const held = values[i];
      // Queued to be written after the read: change detection decides, as without --reconcile.
      if (held === PENDING) return;
      const comparison = compareWithGraph(row.record!.properties, held);
      row.graph = comparison.kind === 'equal' ? { verdict: 'holds', reason, readAt: meta.readAt } : { verdict: 'differs' };
    });
  });
}

export interface GraphStatesOptions {
  /** Verify reads Graph now, whatever snapshot exists. */
  fresh?: boolean;
  /** For tests: the default tenant's token source (createTokenSource(config) otherwise). */
  tokens?: TokenSource;
  /** For tests: a tenant's token source (createTokenSource(tenant) otherwise). */
  tenantTokens?: (tenant: TenantConfig) => TokenSource;
}

/**
 * Graph's state for one run, for every tenant: the default tenant's read with the configured credentials through
 * P:budget:read (as before tenants), each tenant of SYNC_TENANTS_FILE with its own graphBaseUrl, credentials and
 * read budget (its readRateLimit, P:tenant:T:budget:read) into its own snapshots (P:snapshot:T/...).
 */
export function createGraphStates(config: SyncConfig, redis: RedisClient, options: GraphStatesOptions = {}): GraphStates {
  const tenants = new Map(config.tenants.map((t) => [t.tenantId, t]));
  const state = (tenant: string, settings: { graphBaseUrl: string; readRateLimit: SyncConfig['readRateLimit']; tokens: TokenSource }) => {
    const client = new UserStatusWriter({ graphBaseUrl: settings.graphBaseUrl, apiVersion: config.apiVersion, requestTimeoutMs: config.requestTimeoutMs }, settings.tokens);
    const pace = pacedReads(readBudget(redis, config.prefix, settings.readRateLimit, tenant));
    return new GraphState(new SnapshotStore(redis, config.prefix, tenant), client, pace, config.snapshotMaxAgeMs, options.fresh === true);
  };
  // Made now, as before tenants: missing default credentials stop the command before it creates a run (it reads nothing yet).
  const defaultState = state(DEFAULT_TENANT, { graphBaseUrl: config.graphBaseUrl, readRateLimit: config.readRateLimit, tokens: options.tokens ?? createTokenSource(config) });
  return new GraphStates((tenant) => {
    if (tenant === DEFAULT_TENANT) return defaultState;
    const t = tenants.get(tenant);
    return t && state(tenant, { graphBaseUrl: t.graphBaseUrl, readRateLimit: t.readRateLimit, tokens: options.tenantTokens?.(t) ?? createTokenSource(t) });
  });
}
