import type { UserStatusProperties } from '../interfaces.js';
import { COMPARED_PROPERTIES, sameValue, type ComparedProperty } from './compare.js';

/** What we sent for one property and what Graph held instead. */
export interface SentAndHeld {
  sent: string | number;
  graph: unknown;
}

/**
 * What `verify` remembers per key (P:overrides) to tell a property Graph sets back itself from drift:
 * - observed: the properties the last verify found differing (not yet overridden), and when it read Graph;
 * - overridden: the properties Graph set back twice running to the same value, with the value we sent.
 */
export interface OverrideMemory {
  observed?: { readAt: number; properties: Partial<Record<ComparedProperty, SentAndHeld>> };
  overridden?: Partial<Record<ComparedProperty, SentAndHeld>>;
}

/** A verified row, as the judgement needs it. */
export interface VerifiedRow {
  values: UserStatusProperties;
  /** Only a succeeded row was PATCHed by its run; its finishedAt says when. */
  state: string;
  finishedAt?: number;
}

export interface OverrideJudgement {
  /** Differing properties that Graph sets itself: not drift, and not a reason to send the row again. */
  overridden: ComparedProperty[];
  /** Differing properties that are drift. */
  drifted: ComparedProperty[];
  /** What to remember for the key from now on; undefined: nothing (forget the key). */
  memory: OverrideMemory | undefined;
}

function sameGraphValue(name: ComparedProperty, earlier: unknown, now: unknown): boolean {
  if (typeof earlier === 'string' || typeof earlier === 'number') return sameValue(name, earlier, now);
  return JSON.stringify(earlier) === JSON.stringify(now);
}

/**
 * Which of a row's differing properties are overridden. A property is overridden when:
 * - it already was, for the same value we send (Graph owns it; only a different value in the input is worth sending), or
 * - the last verify found it differing, the row was PATCHed successfully after that verify read Graph (the resend),
 *   with the same value, and Graph holds the same value it held then: Graph set it back twice running.
 * Anything else is drift. A property overridden before whose value the input changed is forgotten: the new value is
 * sent, and judged afresh.
 * `differs` are the properties compareWithGraph found differing; `graph` what Graph holds; `readAt` when verify read it.
 * "After that verify read Graph" compares the row's finishedAt (the worker's clock) with readAt (verify's clock): hosts
 * are expected to keep time within far less than the span between a verify and the import that resends.
 */
export function judgeOverrides(
  row: VerifiedRow,
  differs: readonly ComparedProperty[],
  graph: Record<string, unknown>,
  readAt: number,
  memory: OverrideMemory | undefined,
): OverrideJudgement {
  const overridden: ComparedProperty[] = [];
  const drifted: ComparedProperty[] = [];
  const resentSinceObserved =
    memory?.observed !== undefined && row.state === 'succeeded' && row.finishedAt !== undefined && row.finishedAt > memory.observed.readAt;
  for (const name of differs) {
    const sent = row.values[name];
    if (sent === undefined) continue;
    const known = memory?.overridden?.[name];
    const seen = memory?.observed?.properties[name];
    if (known && known.sent === sent) overridden.push(name);
    else if (resentSinceObserved && seen && seen.sent === sent && sameGraphValue(name, seen.graph, graph[name])) overridden.push(name);
    else drifted.push(name);
  }
  const next: OverrideMemory = {};
  const keep: Partial<Record<ComparedProperty, SentAndHeld>> = {};
  for (const name of COMPARED_PROPERTIES) {
    const sent = row.values[name];
    if (overridden.includes(name)) keep[name] = { sent: sent!, graph: graph[name] };
    // A property this row does not set tells nothing new about it.
    else if (sent === undefined && memory?.overridden?.[name]) keep[name] = memory.overridden[name];
  }
  if (Object.keys(keep).length > 0) next.overridden = keep;
  if (drifted.length > 0)
    next.observed = {
      readAt,
      properties: Object.fromEntries(drifted.map((name) => [name, { sent: row.values[name]!, graph: graph[name] }])),
    };
  return { overridden, drifted, memory: next.overridden || next.observed ? next : undefined };
}

/**
 * import --reconcile: the properties of `differs` that are known overridden for the value the row sets. When all of
 * them are, Graph holds what the row asks for, as far as anything sent could make it.
 */
export function knownOverridden(
  values: UserStatusProperties,
  differs: readonly ComparedProperty[],
  memory: OverrideMemory | undefined,
): ComparedProperty[] {
  return differs.filter((name) => {
    const known = memory?.overridden?.[name];
    return known !== undefined && values[name] !== undefined && known.sent === values[name];
  });
}
