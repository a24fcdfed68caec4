import type { SyncConfig } from '../config.js';
import { compareWithGraph, comparedValues, COMPARED_PROPERTIES, SELECTED_PROPERTIES, type ComparedProperty } from '../domain/compare.js';
import { graphIdKey, nullsToConfirm } from '../domain/judging.js';
import { knownOverridden } from '../domain/override.js';
import type { ListOptions, UserStatusWriter } from '../graph/client.js';
import { OperatorError } from '../errors.js';
import type { ConfigurationType, RedisClient, UserStatusProperties } from '../interfaces.js';
import { pacedReads, ReadFailedError } from '../pacing/reads.js';
import { tenantIdOf } from '../redis-layout.js';
import { MissingStatuses } from '../results/missing-statuses.js';
import { OverrideStore } from '../results/overrides.js';
import { PENDING, SnapshotStore, type SnapshotMeta, type SnapshotValue } from '../results/snapshots.js';
import { tenantsOf, type TokenOverrides } from '../tenants/tenant.js';
import type { UnversionedRow } from './validate-rows.js';

/** Page size asked of Graph (`$top`); Graph may return fewer. */
export const READ_PAGE_SIZE = 1000;

/** A configuration could not be read whole: the command stops (exit 1) rather than judge rows on part of a listing. */
export class GraphReadError extends OperatorError {
  override name = 'GraphReadError';
}

/** GETs of single user statuses (null confirmations) in flight at once per configuration; the read budget paces them. */
const CONFIRM_CONCURRENCY = 16;

/** What Graph does not hold, remembered per configuration of one tenant (src/results/missing-statuses.ts). */
export interface MissingMemory {
  store: MissingStatuses;
  /** '' for the default tenant. */
  tenant: string;
}

/** One row to judge against what a listing gave for it: its user status and the properties it sets. */
export interface JudgedStatus {
  userStatusId: string;
  properties: UserStatusProperties;
}

/**
 * Graph's state per configuration for one run: each configuration is read at most once per run (the snapshot in
 * Redis is reused while younger than SYNC_SNAPSHOT_MAX_AGE, or read again when `fresh` asks for a new read).
 */
export class GraphState {
  private readonly known = new Map<string, Promise<SnapshotMeta>>();
  /** Pages read and the configurations read from Graph (not from a reused snapshot), for summaries and tests. */
  readonly stats = { configurationsRead: 0, pagesRead: 0, snapshotsReused: 0, nullsConfirmed: 0 };

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly client: Pick<UserStatusWriter, 'listUserStatuses' | 'getUserStatus'>,
    private readonly pace: ListOptions['pace'],
    private readonly maxAgeMs: number,
    /** Verify reads Graph now, whatever snapshot exists. */
    private readonly fresh = false,
    /** Where what Graph lacks is remembered; without it nothing is remembered or forgotten. */
    private readonly memory?: MissingMemory,
    /** What verify found Graph sets back itself (P:overrides): such properties are not a reason to send a row. */
    readonly overrides?: OverrideStore,
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

  /**
   * What the listing gave, with every null the row needs confirmed: a listing that answers `null` for a property the
   * row sets (Intune does for userPrincipalName) is not what Graph holds, so that one status is read (GET, through the
   * read budget) and its answer replaces the listed values; a 404 there means Graph no longer holds it.
   */
  async confirmNulls(
    configurationType: ConfigurationType,
    configurationId: string,
    rows: readonly JudgedStatus[],
    held: SnapshotValue[],
  ): Promise<SnapshotValue[]> {
    const out = held.slice();
    const todo = rows.flatMap((row, i) => {
      const listed = held[i];
      return listed !== PENDING && nullsToConfirm(row.properties, listed, COMPARED_PROPERTIES).length > 0 ? [i] : [];
    });
    const pace = this.pace ?? ((request) => request(false));
    const confirmed: Parameters<SnapshotStore['confirm']>[1] = [];
    const next = async (): Promise<void> => {
      for (let i = todo.shift(); i !== undefined; i = todo.shift()) {
        // Asked for as Graph listed it (a GUID lower-cased).
        const userStatusId = graphIdKey(rows[i].userStatusId);
        let found: Record<string, unknown> | undefined;
        try {
          found = await pace(() => this.client.getUserStatus(configurationType, configurationId, userStatusId, COMPARED_PROPERTIES));
        } catch (err) {
          throw new GraphReadError(
            `could not read ${configurationType}/${configurationId}/${userStatusId} from Graph: ${(err as Error).message}`,
          );
        }
        this.stats.nullsConfirmed++;
        out[i] = found === undefined ? undefined : comparedValues(found);
        confirmed.push({
          userStatusId: rows[i].userStatusId,
          listed: held[i] as Record<string, unknown>,
          confirmed: out[i] as Record<string, unknown> | undefined,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONFIRM_CONCURRENCY, todo.length) }, next));
    await this.snapshots.confirm(`${configurationType}/${configurationId}`, confirmed);
    return out;
  }

  /** Remembers user statuses the complete listing of this configuration lacks (a plain import then does not send them). */
  async rememberMissing(configKey: string, entries: [userStatusId: string, reason: string][]): Promise<void> {
    await this.memory?.store.rememberStatuses(this.memory.tenant, configKey, entries);
  }

  /** The rows of this chunk that will be written: the snapshot no longer speaks for them (see SnapshotStore.markPending). */
  async markPending(rows: UnversionedRow[]): Promise<void> {
    const byConfig = groupByConfiguration(rows);
    await Promise.all(
      [...byConfig].map(([configKey, group]) =>
        this.snapshots.markPending(
          configKey,
          group.map((r) => r.record!.userStatusId),
          this.maxAgeMs,
        ),
      ),
    );
  }

  private async load(configurationType: ConfigurationType, configurationId: string, configKey: string): Promise<SnapshotMeta> {
    const memory = this.memory;
    const remembered = memory ? await memory.store.of(memory.tenant, configKey) : { userStatusIds: [] };
    const rememberedIds = new Set(remembered.userStatusIds);
    // Something remembered missing is only forgotten by a listing that holds it: a snapshot read before cannot tell.
    const mustRead = remembered.configuration !== undefined || rememberedIds.size > 0;
    if (!this.fresh && !mustRead) {
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
    const listedAgain: string[] = [];
    try {
      for await (const page of this.client.listUserStatuses(configurationType, configurationId, {
        select: SELECTED_PROPERTIES,
        top: READ_PAGE_SIZE,
        pace: this.pace,
      })) {
        this.stats.pagesRead++;
        const items = page.items.filter((item) => typeof item.id === 'string');
        if (rememberedIds.size > 0)
          for (const item of items) if (rememberedIds.has(graphIdKey(item.id as string))) listedAgain.push(item.id as string);
        await writer.add(items.map((item) => [item.id as string, comparedValues(item)]));
      }
      await writer.commit();
      // The complete listing holds the configuration, and these statuses: they are no longer remembered as missing.
      if (memory && mustRead) await memory.store.forgetListed(memory.tenant, configKey, listedAgain);
      return { readAt };
    } catch (err) {
      if (err instanceof ReadFailedError && err.status === 404) {
        await writer.abandon();
        const w = this.snapshots.begin(configKey, readAt, this.maxAgeMs);
        await w.commit(err.message);
        await memory?.store.rememberConfiguration(memory.tenant, configKey, `its listing answered 404 at ${iso(readAt)}: ${err.message}`);
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
    const tenant = tenantIdOf(row.record);
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
  const metas = await Promise.all(
    groups.map(([, group]) => state.configuration(group[0].record!.configurationType, group[0].record!.configurationId)),
  );
  const listed = groups.flatMap(([configKey, group], g) =>
    metas[g].missing === undefined ? [{ configKey, userStatusIds: group.map((r) => r.record!.userStatusId), g }] : [],
  );
  const listedValues = await state.valuesMany(listed);
  // Nulls in the listing are confirmed (GET of the one status) before anything is judged.
  const held = await Promise.all(
    listed.map((l, k) => {
      const group = groups[l.g][1];
      const { configurationType, configurationId } = group[0].record!;
      return state.confirmNulls(
        configurationType,
        configurationId,
        group.map((r) => r.record!),
        listedValues[k],
      );
    }),
  );
  const heldByGroup = new Map(listed.map((l, k) => [l.g, held[k]]));
  const differing: { row: UnversionedRow; properties: ComparedProperty[]; readAt: number }[] = [];
  await Promise.all(
    groups.map(async ([configKey, group], g) => {
      const meta = metas[g];
      if (meta.missing !== undefined) {
        const reason = `not sent: Graph has no such configuration (${meta.missing}; read at ${iso(meta.readAt)})`;
        for (const row of group) row.graph = { verdict: 'missingConfiguration', reason };
        return;
      }
      const values = heldByGroup.get(g)!;
      const reason = `unchanged: Graph held these values when its state was read at ${iso(meta.readAt)}`;
      const missing: [string, string][] = [];
      group.forEach((row, i) => {
        const held = values[i];
        // Queued to be written after the read: change detection decides, as without --reconcile.
        if (held === PENDING) return;
        if (held === undefined) {
          // PATCH updates and never creates: sending it could only be answered 404.
          const why = `not in the complete listing of ${configKey} read at ${iso(meta.readAt)}`;
          row.graph = { verdict: 'missingStatus', reason: missingStatusReason(why) };
          missing.push([row.record!.userStatusId, why]);
          return;
        }
        const comparison = compareWithGraph(row.record!.properties, held);
        if (comparison.kind === 'equal') row.graph = { verdict: 'holds', reason, readAt: meta.readAt };
        else {
          row.graph = { verdict: 'differs' };
          if (comparison.kind === 'differs') differing.push({ row, properties: comparison.properties, readAt: meta.readAt });
        }
      });
      await state.rememberMissing(configKey, missing);
    }),
  );
  if (!state.overrides || differing.length === 0) return;
  // A row that differs only in properties verify found Graph sets back itself, for the value it sends, holds as far as
  // any PATCH could make it: sending it again would only be set back again.
  const memories = await state.overrides.readMany(differing.map((d) => d.row.key));
  differing.forEach(({ row, properties, readAt }, k) => {
    const overridden = knownOverridden(row.record!.properties, properties, memories[k]);
    if (overridden.length !== properties.length) return;
    row.graph = {
      verdict: 'holds',
      reason:
        `unchanged: Graph held these values when its state was read at ${iso(readAt)}, ` +
        `but for ${overridden.join(', ')}, which Graph sets back itself (overridden)`,
      readAt,
    };
  });
}

/** A row failed at admission because Graph holds no such user status; `why` says how we know. */
export function missingStatusReason(why: string): string {
  return `not sent: Graph holds no such user status, and PATCH cannot create one (${why}); import --reconcile sends it once Graph lists it`;
}

export interface GraphStatesOptions extends TokenOverrides {
  /** Verify reads Graph now, whatever snapshot exists. */
  fresh?: boolean;
}

/**
 * Graph's state for one run, for every tenant (tenantsOf): each read with its own graphBaseUrl and credentials through
 * its own read budget (its readRateLimit: P:budget:read for the default tenant, P:tenant:T:budget:read otherwise) into
 * its own snapshots (P:snapshot:T/...).
 */
export function createGraphStates(config: SyncConfig, redis: RedisClient, options: GraphStatesOptions = {}): GraphStates {
  const states = new Map(
    tenantsOf(config).map((tenant) => {
      // Made on first use; the default tenant's (below) now: missing default credentials stop the command before it
      // creates a run (it reads nothing yet), as before tenants.
      let state: GraphState | undefined;
      const make = () => {
        const pace = pacedReads(tenant.readBudget(redis), { maxRetryAfterMs: config.maxRetryAfterMs });
        const memory = { store: new MissingStatuses(redis, config.prefix), tenant: tenant.id };
        const snapshots = new SnapshotStore(redis, config.prefix, tenant.id);
        const client = tenant.writer(tenant.tokens(options));
        const overrides = new OverrideStore(redis, config.prefix);
        return (state ??= new GraphState(snapshots, client, pace, config.snapshotMaxAgeMs, options.fresh === true, memory, overrides));
      };
      if (tenant.isDefault) make();
      return [tenant.id, make] as const;
    }),
  );
  return new GraphStates((tenant) => states.get(tenant)?.());
}
