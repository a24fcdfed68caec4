import type { UserStatusProperties } from '../interfaces.js';
import { reportedTicks } from './version.js';

/**
 * How Graph serves what it holds, and how we judge it: pure decisions for import --reconcile, verify and the worker.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The form of an id under which we look it up in what Graph listed: Graph lower-cases GUIDs (a row may carry
 * `0A1B…`, the listing answers `0a1b…`), so a GUID is compared lower-cased; any other id exactly, as Graph keeps it.
 */
export function graphIdKey(id: string): string {
  return GUID.test(id) ? id.toLowerCase() : id;
}

/** Two ids name the same Graph object: GUIDs without regard to case, other ids exactly. */
export function sameGraphId(a: string, b: string): boolean {
  return graphIdKey(a) === graphIdKey(b);
}

/**
 * Two DateTimeOffsets name the same instant, at the precision Graph keeps (100 ns, 7 fraction digits): ours may be
 * written with milliseconds or an offset, Graph answers UTC with seven digits. A value that is not a date-time is
 * never the same.
 */
export function sameInstant(ours: string, theirs: string): boolean {
  if (ours === theirs) return true;
  try {
    return reportedTicks(ours) === reportedTicks(theirs);
  } catch {
    return false;
  }
}

/**
 * What a 404 names: the user status itself, or the whole configuration. Graph's message for a missing configuration
 * names the configuration's id (`The managedDeviceMobileAppConfiguration with id '<id>' was not found.`); one that
 * names the user status's id, or neither, is about the status: the narrower memory, since remembering a whole
 * configuration as missing would fail every one of its rows without a PATCH.
 */
export function notFoundScope(message: string, configurationId: string, userStatusId: string): 'status' | 'configuration' {
  const text = message.toLowerCase();
  const names = (id: string) => id !== '' && text.includes(`'${id.toLowerCase()}'`);
  if (names(userStatusId)) return 'status';
  return names(configurationId) ? 'configuration' : 'status';
}

/**
 * The properties a row sets that a listing answered as `null`. Intune's listings give null for properties a GET of
 * the one status holds (userPrincipalName, as the project's guide notes): such a row cannot be judged from the listing,
 * and is confirmed with a GET of that status first. An object the listing does not hold needs no GET.
 */
export function nullsToConfirm(
  values: UserStatusProperties,
  listed: Record<string, unknown> | undefined,
  properties: readonly string[],
): string[] {
  if (listed === undefined) return [];
  return properties.filter((name) => (values as Record<string, unknown>)[name] !== undefined && listed[name] === null);
}
