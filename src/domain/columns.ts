import { OperatorError } from '../errors.js';
import { quoteValue } from './quote.js';
/**
 * Canonical input column names and how headers map onto them.
 * Exports differ in case and surrounding spaces, and some call the user status id plain `id`.
 */
export const REQUIRED_COLUMNS = ['configurationId', 'userStatusId'] as const;
export const PROPERTY_COLUMNS = ['userDisplayName', 'devicesCount', 'status', 'lastReportedDateTime', 'userPrincipalName'] as const;
/** `tenantId` (a GUID) picks the tenant of SYNC_TENANTS_FILE a row belongs to; absent: the default tenant. */
export const KNOWN_COLUMNS = ['configurationType', ...REQUIRED_COLUMNS, ...PROPERTY_COLUMNS, 'tenantId'] as const;
export type CanonicalColumn = (typeof KNOWN_COLUMNS)[number];

const ALIASES: Record<string, CanonicalColumn> = { id: 'userStatusId' };
const BY_FOLDED_NAME = new Map<string, CanonicalColumn>([
  ...KNOWN_COLUMNS.map((c) => [c.toLowerCase(), c] as const),
  ...Object.entries(ALIASES),
]);

export class ColumnError extends OperatorError {
  override name = 'ColumnError';
}

const fold = (name: string) =>
  name
    .replace(/^\uFEFF/, '')
    .trim()
    .toLowerCase();

/**
 * Builds the mapping from source column names to canonical ones.
 * `renames` (from `--map target=source`) wins over the names found in the source.
 */
export function createColumnMapper(renames: Record<string, string> = {}): (sourceName: string) => CanonicalColumn | undefined {
  const renamed = new Map<string, CanonicalColumn>();
  for (const [target, source] of Object.entries(renames)) {
    const canonical = BY_FOLDED_NAME.get(fold(target));
    if (!canonical) throw new ColumnError(`--map ${target}=${source}: "${target}" is not a known column (${KNOWN_COLUMNS.join(', ')})`);
    renamed.set(fold(source), canonical);
  }
  // A renamed target is no longer reachable by its own name: `--map status=state` means "ignore any status column".
  const redirected = new Set(renamed.values());
  const cache = new Map<string, CanonicalColumn | undefined>();
  return (sourceName) => {
    if (cache.has(sourceName)) return cache.get(sourceName);
    const folded = fold(sourceName);
    const natural = BY_FOLDED_NAME.get(folded);
    const hit = renamed.get(folded) ?? (natural && !redirected.has(natural) ? natural : undefined);
    cache.set(sourceName, hit);
    return hit;
  };
}

/**
 * Checks a header row once, so a file that cannot produce a single valid row fails before any work.
 * Returns the canonical name for each position (undefined for unknown columns) and the unknown names.
 */
export function resolveHeader(
  header: string[],
  mapColumn: (sourceName: string) => CanonicalColumn | undefined,
): { columns: (CanonicalColumn | undefined)[]; unknown: string[] } {
  const columns = header.map(mapColumn);
  const seen = new Map<CanonicalColumn, string>();
  header.forEach((name, i) => {
    const canonical = columns[i];
    if (!canonical) return;
    const earlier = seen.get(canonical);
    // `id` and `userStatusId` together are allowed; the row check makes sure they agree.
    if (earlier !== undefined && !(canonical === 'userStatusId' && fold(earlier) !== fold(name))) {
      throw new ColumnError(
        `column ${quoteValue(name.trim())} appears twice in the header (as ${quoteValue(earlier.trim())} and ${quoteValue(name.trim())})`,
      );
    }
    seen.set(canonical, name);
  });
  const missing = REQUIRED_COLUMNS.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    const hint = missing.includes('userStatusId') ? ' (or its alias "id")' : '';
    const found =
      header
        .slice(0, 50)
        .map((h) => quoteValue(h.trim()))
        .join(', ') + (header.length > 50 ? `, and ${header.length - 50} more` : '');
    throw new ColumnError(
      `required column ${missing.map((m) => `"${m}"`).join(' and ')}${hint} is missing from the header; found: ${found}`,
    );
  }
  return { columns, unknown: header.filter((_, i) => columns[i] === undefined).map((h) => h.trim()) };
}
