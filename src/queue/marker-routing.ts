/**
 * Decisions of the marker watch (marker-watch.ts), with no I/O. BullMQ wakes a worker through its queue's marker
 * (a sorted set `<queue>:marker`): score 0 when a job waits now, a timestamp when the next delayed job is due. A
 * worker process here watches the markers of every tenant's queue through one shared wait instead of one blocking
 * connection per queue, and hands each marker it pops to that queue's worker.
 */

/** One popped marker: BullMQ's member and score (0 = a job waits now; else the ms its next delayed job is due). */
export interface Marker {
  member: string;
  score: number;
}

/** One queue's side of the watch: whether its worker waits for a marker now, and a marker popped while it did not. */
export interface MarkerSlot {
  waiting: boolean;
  held?: Marker;
}

export const IDLE_SLOT: MarkerSlot = { waiting: false };

/** Two markers of one queue seen before its worker asked: keep the one that wakes it soonest (0, a job waiting, first). */
export function mergeMarkers(held: Marker | undefined, seen: Marker): Marker {
  if (!held) return seen;
  return seen.score < held.score ? seen : held;
}

/**
 * A marker was popped for a queue: wake its worker if it waits, else hold the marker for its next wait (a worker busy
 * with its jobs asks again when it has room, and must then fetch at once, not wait for a marker already taken).
 */
export function markerSeen(slot: MarkerSlot, marker: Marker): { slot: MarkerSlot; wake?: Marker } {
  if (slot.waiting) return { slot: { waiting: false }, wake: marker };
  return { slot: { waiting: false, held: mergeMarkers(slot.held, marker) } };
}

/** A queue's worker starts to wait: a held marker wakes it at once; otherwise it waits for the next one. */
export function waitStarted(slot: MarkerSlot): { slot: MarkerSlot; wake?: Marker } {
  if (slot.held) return { slot: { waiting: false }, wake: slot.held };
  return { slot: { waiting: true } };
}

/** The wait ended without a marker (its time ran out, or the worker closes). */
export function waitEnded(slot: MarkerSlot): MarkerSlot {
  return { waiting: false, ...(slot.held ? { held: slot.held } : {}) };
}

/**
 * The order of the marker keys for the next multi-key BZPOPMIN. Redis pops from the first non-empty key in the order
 * given, so a fixed order would always serve the first tenants first when several have work: the order starts right
 * after the key popped last, and every tenant comes first in turn.
 */
export function waitOrder(keys: readonly string[], lastPopped: string | undefined): string[] {
  const at = lastPopped === undefined ? -1 : keys.indexOf(lastPopped);
  if (at < 0) return [...keys];
  return [...keys.slice(at + 1), ...keys.slice(0, at + 1)];
}

/**
 * On a Redis Cluster the markers are swept instead (one script per master, marker-watch.ts): soon again after a sweep
 * found markers, backing off (doubling) to `maxMs` while there are none, so an idle process sends one script per
 * master every `maxMs`.
 */
export function nextSweepDelay(previousMs: number, found: boolean, bounds: { minMs: number; maxMs: number }): number {
  if (found) return bounds.minMs;
  return Math.min(bounds.maxMs, Math.max(bounds.minMs, previousMs * 2));
}

/**
 * Marker keys grouped by the master that serves their slot (`slotOwner(slot)`), for one script per master; a key
 * whose slot has no known master yet is in `unplaced` (its queue's worker is woken instead, so nothing waits on it).
 */
export function groupByOwner(
  keys: ReadonlyArray<{ key: string; slot: number }>,
  slotOwner: (slot: number) => string | undefined,
): { byOwner: Map<string, string[]>; unplaced: string[] } {
  const byOwner = new Map<string, string[]>();
  const unplaced: string[] = [];
  for (const { key, slot } of keys) {
    const owner = slotOwner(slot);
    if (owner === undefined) {
      unplaced.push(key);
      continue;
    }
    const group = byOwner.get(owner);
    if (group) group.push(key);
    else byOwner.set(owner, [key]);
  }
  return { byOwner, unplaced };
}
