import type { UserStatusProperties } from '../interfaces.js';
import { sameInstant } from './judging.js';

/** The properties a row can set, which is all that reads ask Graph for (`$select`) and all that is compared. */
export const COMPARED_PROPERTIES = ['userDisplayName', 'devicesCount', 'status', 'lastReportedDateTime', 'userPrincipalName'] as const;
export type ComparedProperty = (typeof COMPARED_PROPERTIES)[number];
/** What a listing asks Graph for (`$select`): Graph answers only what `$select` names, so the id must be named too. */
export const SELECTED_PROPERTIES = ['id', ...COMPARED_PROPERTIES] as const;

export type GraphComparison =
  /** Graph holds every property the row sets, as Graph compares them. */
  | { kind: 'equal' }
  /** Graph holds the object, but at least one property the row sets differs (listed, in COMPARED_PROPERTIES order). */
  | { kind: 'differs'; properties: ComparedProperty[] }
  /** Graph does not list the object. */
  | { kind: 'missing' };

/**
 * Compares what a row sets with what Graph holds, as Graph would judge equality: only the properties the row
 * sets (PATCH leaves the others alone); enums without regard to case (Graph answers its own casing);
 * DateTimeOffsets as instants, whatever their offset or fractional digits; strings and numbers exactly.
 * A value Graph holds that we cannot read as the same type counts as different, so the row is sent.
 */
export function compareWithGraph(values: UserStatusProperties, graph: Record<string, unknown> | undefined): GraphComparison {
  if (graph === undefined) return { kind: 'missing' };
  const differs: ComparedProperty[] = [];
  for (const name of COMPARED_PROPERTIES) {
    const ours = values[name];
    if (ours === undefined) continue;
    if (!sameValue(name, ours, graph[name])) differs.push(name);
  }
  return differs.length === 0 ? { kind: 'equal' } : { kind: 'differs', properties: differs };
}

/** One property the row sets against what Graph holds for it, as compareWithGraph judges it. */
export function sameValue(name: ComparedProperty, ours: string | number, theirs: unknown): boolean {
  switch (name) {
    case 'status':
      return typeof theirs === 'string' && theirs.toLowerCase() === String(ours).toLowerCase();
    case 'lastReportedDateTime':
      return typeof theirs === 'string' && sameInstant(String(ours), theirs);
    default:
      return ours === theirs;
  }
}

/** Keeps only the compared properties of a Graph object (what a snapshot stores), dropping nulls' absence as Graph does. */
export function comparedValues(graph: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of COMPARED_PROPERTIES) if (name in graph) out[name] = graph[name];
  return out;
}
