import type { RawRow, UserStatusProperties } from '../interfaces.js';
import type { AdmitRow, ResultStore } from '../results/store.js';
import { RowChecker, describeErrors, type TenantDirectory, type UnversionedRow } from './validate-rows.js';

export interface DryRunSummary {
  rows: number;
  new: number;
  changed: number;
  unchanged: number;
  rejected: number;
  /** Older than an update already accepted for the same key. */
  stale: number;
}

export interface DryRunRow {
  line: number;
  key: string;
  verdict: 'new' | 'changed' | 'unchanged' | 'rejected' | 'stale';
  reason?: string;
  /** A valid row's properties: what its PATCH would set. */
  properties?: UserStatusProperties;
}

/** A dry run's counts in an import's words (`import --json`): what a real import of the same input would report. */
export interface DryRunAsImport {
  accepted: number;
  enqueued: number;
  superseded: number;
}

/**
 * new and changed rows would be queued (enqueued); a stale row is what an import calls superseded; every row not
 * rejected is accepted. The dry run's own words stay too (they tell new from changed); these are added beside them.
 */
export function asImportWords(s: DryRunSummary): DryRunAsImport {
  return { accepted: s.rows - s.rejected, enqueued: s.new + s.changed, superseded: s.stale };
}

const DRY_RUN_ID = 'dry-run';
const VERDICTS = new Set<string>(['new', 'changed', 'unchanged', 'rejected', 'stale']);

/**
 * Validates and diffs like an import, asking the admit script itself in its dry-run mode, which decides every row as
 * an import would and writes nothing: nothing is created, queued or sent. Rows are judged against Redis only, not
 * against each other.
 */
export async function dryRun(
  store: ResultStore,
  rows: AsyncIterable<RawRow>,
  options: {
    /** The caller's checker (built with the same apiVersion), else one is built from `renames` and `apiVersion`. */
    checker?: RowChecker;
    renames?: Record<string, string>;
    full?: boolean;
    /** GRAPH_API_VERSION: under v1.0, iosLobAppProvisioningConfiguration rows are rejected, as at import. */
    apiVersion?: 'beta' | 'v1.0';
    tenants?: TenantDirectory;
    chunkSize?: number;
    /** Awaited: a slow writer holds the dry run back. */
    onRow?: (row: DryRunRow) => void | Promise<void>;
    onUnknownColumn?: (name: string) => void;
  },
): Promise<DryRunSummary> {
  const checker =
    options.checker ??
    new RowChecker(options.renames, options.onUnknownColumn, { apiVersion: options.apiVersion, tenants: options.tenants });
  const summary: DryRunSummary = { rows: 0, new: 0, changed: 0, unchanged: 0, rejected: 0, stale: 0 };
  let batch: UnversionedRow[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const checked = batch;
    batch = [];
    const admitRows: AdmitRow[] = checked.map((row) =>
      row.record ? row : { line: row.line, key: '', fingerprint: '', reportedTicks: '', rejectedJson: '{}' },
    );
    const { decisions } = await store.admitRows(DRY_RUN_ID, options.full === true, admitRows, 'dry');
    for (const [i, row] of checked.entries()) {
      const verdict = decisions[i].kind;
      if (!VERDICTS.has(verdict)) throw new Error(`the admit script answered "${verdict}" in dry-run mode`);
      summary.rows++;
      summary[verdict as DryRunRow['verdict']]++;
      await options.onRow?.({
        line: row.line,
        key: row.key,
        verdict: verdict as DryRunRow['verdict'],
        ...(row.errors ? { reason: describeErrors(row.errors) } : {}),
        ...(row.record ? { properties: row.record.properties } : {}),
      });
    }
  };

  for await (const raw of rows) {
    batch.push(checker.checkUnversioned(raw));
    if (batch.length >= (options.chunkSize ?? 1000)) await flush();
  }
  await flush();
  return summary;
}
