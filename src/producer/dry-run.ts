import type { RawRow } from '../interfaces.js';
import type { ResultStore } from '../results/store.js';
import { RowChecker, describeErrors } from './validate-rows.js';

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
}

/**
 * Validates and diffs like an import, but only reads Redis: nothing is created, queued or sent.
 * Within-file duplicates are judged against Redis only, not against each other.
 */
export async function dryRun(
  store: ResultStore,
  rows: AsyncIterable<RawRow>,
  options: { renames?: Record<string, string>; full?: boolean; chunkSize?: number; onRow?: (row: DryRunRow) => void; onUnknownColumn?: (name: string) => void },
): Promise<DryRunSummary> {
  const checker = new RowChecker(options.renames, options.onUnknownColumn);
  const summary: DryRunSummary = { rows: 0, new: 0, changed: 0, unchanged: 0, rejected: 0, stale: 0 };
  let batch: RawRow[] = [];
  const { redis, keys } = store;

  const flush = async () => {
    const checked = batch.map((raw) => checker.check(raw, Number.MAX_SAFE_INTEGER));
    batch = [];
    const valid = checked.filter((r) => r.record);
    const [latest, sent] = valid.length
      ? await Promise.all([redis.hmget(keys.latest, ...valid.map((r) => r.key)), redis.hmget(keys.fingerprints, ...valid.map((r) => r.key))])
      : [[], []];
    let v = 0;
    for (const row of checked) {
      summary.rows++;
      let verdict: DryRunRow['verdict'];
      if (!row.record) verdict = 'rejected';
      else {
        const [latestVersion] = (latest[v] ?? '').split('|');
        const [sentFp, sentVersion] = (sent[v] ?? '').split('|');
        v++;
        // Compare without the arrival part: this row has not arrived yet.
        const reported = row.version.split(':')[0];
        if (latestVersion && latestVersion.split(':')[0] > reported) verdict = 'stale';
        else if (!options.full && sentFp === row.fingerprint && (!latestVersion || latestVersion === sentVersion)) verdict = 'unchanged';
        else verdict = sentFp || latestVersion ? 'changed' : 'new';
      }
      summary[verdict]++;
      options.onRow?.({ line: row.line, key: row.key, verdict, ...(row.errors ? { reason: describeErrors(row.errors) } : {}) });
    }
  };

  for await (const raw of rows) {
    batch.push(raw);
    if (batch.length >= (options.chunkSize ?? 1000)) await flush();
  }
  await flush();
  return summary;
}
