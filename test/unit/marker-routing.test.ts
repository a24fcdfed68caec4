import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  groupByOwner,
  IDLE_SLOT,
  markerSeen,
  mergeMarkers,
  nextSweepDelay,
  waitEnded,
  waitOrder,
  waitStarted,
  type Marker,
} from '../../src/queue/marker-routing.js';

const NOW: Marker = { member: '0', score: 0 };
const DELAYED: Marker = { member: '1', score: 1_700_000_000_000 };
const LATER: Marker = { member: '1', score: 1_700_000_060_000 };

describe('marker routing: a popped marker reaches its queue’s worker exactly once', () => {
  it('wakes a waiting worker with the marker, and the slot no longer waits', () => {
    assert.deepEqual(markerSeen({ waiting: true }, DELAYED), { slot: { waiting: false }, wake: DELAYED });
  });

  it('holds a marker for a busy worker, which then fetches at once when it next waits, and only once', () => {
    const seen = markerSeen(IDLE_SLOT, NOW);
    assert.equal(seen.wake, undefined);
    const first = waitStarted(seen.slot);
    assert.deepEqual(first, { slot: { waiting: false }, wake: NOW });
    assert.deepEqual(waitStarted(first.slot), { slot: { waiting: true } }, 'the held marker was used up');
  });

  it('keeps the marker that wakes soonest when several come while the worker is busy', () => {
    assert.deepEqual(markerSeen(markerSeen(IDLE_SLOT, LATER).slot, DELAYED).slot.held, DELAYED);
    assert.deepEqual(markerSeen(markerSeen(IDLE_SLOT, DELAYED).slot, NOW).slot.held, NOW, 'a job waiting now beats a delayed one');
    assert.deepEqual(markerSeen(markerSeen(IDLE_SLOT, NOW).slot, LATER).slot.held, NOW);
    assert.deepEqual(mergeMarkers(undefined, LATER), LATER);
  });

  it('a wait that ends without a marker (time out, interrupt) keeps what is held and stops waiting', () => {
    assert.deepEqual(waitEnded({ waiting: true }), { waiting: false });
    assert.deepEqual(waitEnded({ waiting: false, held: NOW }), { waiting: false, held: NOW });
  });
});

describe('waitOrder: every tenant comes first in turn', () => {
  const keys = ['a', 'b', 'c', 'd'];

  it('starts right after the key popped last, and keeps every key once', () => {
    assert.deepEqual(waitOrder(keys, 'b'), ['c', 'd', 'a', 'b']);
    assert.deepEqual(waitOrder(keys, 'd'), ['a', 'b', 'c', 'd']);
  });

  it('keeps the order when nothing was popped yet, or the last popped key no longer waits', () => {
    assert.deepEqual(waitOrder(keys, undefined), keys);
    assert.deepEqual(waitOrder(keys, 'gone'), keys);
    assert.deepEqual(waitOrder([], 'a'), []);
  });

  it('over many pops with every marker always full, each tenant is popped equally often', () => {
    const popped = new Map<string, number>();
    let last: string | undefined;
    for (let i = 0; i < 400; i++) {
      last = waitOrder(keys, last)[0];
      popped.set(last, (popped.get(last) ?? 0) + 1);
    }
    assert.deepEqual([...popped.values()], [100, 100, 100, 100]);
  });
});

describe('nextSweepDelay (cluster): fast while markers come, one sweep a second when idle', () => {
  const bounds = { minMs: 100, maxMs: 1000 };

  it('goes back to the shortest delay after a sweep found markers', () => {
    assert.equal(nextSweepDelay(1000, true, bounds), 100);
  });

  it('doubles while nothing is found, up to the longest', () => {
    const delays: number[] = [];
    let delay = bounds.minMs;
    for (let i = 0; i < 6; i++) delays.push((delay = nextSweepDelay(delay, false, bounds)));
    assert.deepEqual(delays, [200, 400, 800, 1000, 1000, 1000]);
  });

  it('never goes below the shortest, whatever it was given', () => {
    assert.equal(nextSweepDelay(0, false, bounds), 100);
    assert.equal(nextSweepDelay(-5, false, bounds), 100);
  });
});

describe('groupByOwner (cluster): one script per master', () => {
  it('groups the markers by the master of their slot and sets apart those with no known master', () => {
    const owners: Record<number, string> = { 1: 'm1:7000', 2: 'm2:7001', 3: 'm1:7000' };
    const { byOwner, unplaced } = groupByOwner(
      [
        { key: 'q1:marker', slot: 1 },
        { key: 'q2:marker', slot: 2 },
        { key: 'q3:marker', slot: 3 },
        { key: 'q4:marker', slot: 4 },
      ],
      (slot) => owners[slot],
    );
    assert.deepEqual(
      [...byOwner],
      [
        ['m1:7000', ['q1:marker', 'q3:marker']],
        ['m2:7001', ['q2:marker']],
      ],
    );
    assert.deepEqual(unplaced, ['q4:marker']);
  });
});
