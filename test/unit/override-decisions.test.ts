import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeOverrides, knownOverridden, type OverrideMemory } from '../../src/domain/override.js';

describe('judgeOverrides: a property Graph sets back itself, twice running, is overridden, not drift', () => {
  const values = { userDisplayName: 'Ann', devicesCount: 5, status: 'compliant' } as const;
  const graph = { userDisplayName: 'Ann', devicesCount: 3, status: 'compliant' };
  const firstRead = 1_000;
  const secondRead = 5_000;

  it('the first verify that sees it differ calls it drift and remembers what it saw', () => {
    const j = judgeOverrides({ values, state: 'succeeded', finishedAt: 500 }, ['devicesCount'], graph, firstRead, undefined);
    assert.deepEqual(j.overridden, []);
    assert.deepEqual(j.drifted, ['devicesCount']);
    assert.deepEqual(j.memory, { observed: { readAt: firstRead, properties: { devicesCount: { sent: 5, graph: 3 } } } });
  });

  const observed: OverrideMemory = { observed: { readAt: firstRead, properties: { devicesCount: { sent: 5, graph: 3 } } } };

  it('after a successful resend of the same value, the same Graph value again makes it overridden, and it is remembered so', () => {
    const j = judgeOverrides({ values, state: 'succeeded', finishedAt: 2_000 }, ['devicesCount'], graph, secondRead, observed);
    assert.deepEqual([j.overridden, j.drifted], [['devicesCount'], []]);
    assert.deepEqual(j.memory, { overridden: { devicesCount: { sent: 5, graph: 3 } } });
  });

  it('without a resend since the first read (the same run verified twice, or an unchanged row) it stays drift', () => {
    assert.deepEqual(
      judgeOverrides({ values, state: 'succeeded', finishedAt: 500 }, ['devicesCount'], graph, secondRead, observed).drifted,
      ['devicesCount'],
    );
    assert.deepEqual(judgeOverrides({ values, state: 'unchanged' }, ['devicesCount'], graph, secondRead, observed).drifted, [
      'devicesCount',
    ]);
    const again = judgeOverrides({ values, state: 'unchanged' }, ['devicesCount'], graph, secondRead, observed);
    assert.equal(again.memory?.observed?.readAt, secondRead, 'the newer read is the one a resend must follow');
  });

  it('a different Graph value the second time, or a different value sent, is drift', () => {
    assert.deepEqual(
      judgeOverrides(
        { values, state: 'succeeded', finishedAt: 2_000 },
        ['devicesCount'],
        { ...graph, devicesCount: 4 },
        secondRead,
        observed,
      ).drifted,
      ['devicesCount'],
    );
    assert.deepEqual(
      judgeOverrides(
        { values: { ...values, devicesCount: 6 }, state: 'succeeded', finishedAt: 2_000 },
        ['devicesCount'],
        graph,
        secondRead,
        observed,
      ).drifted,
      ['devicesCount'],
    );
  });

  it(
    'once overridden, any later verify (unchanged rows, whatever Graph now holds) ' +
      'counts it overridden while the row sends the same value',
    () => {
      const known: OverrideMemory = { overridden: { devicesCount: { sent: 5, graph: 3 } } };
      const j = judgeOverrides({ values, state: 'unchanged' }, ['devicesCount'], { ...graph, devicesCount: 4 }, secondRead, known);
      assert.deepEqual([j.overridden, j.drifted], [['devicesCount'], []]);
      assert.deepEqual(j.memory, { overridden: { devicesCount: { sent: 5, graph: 4 } } });
    },
  );

  it('an input that changes the overridden property makes it drift again, judged afresh from what was sent now', () => {
    const known: OverrideMemory = { overridden: { devicesCount: { sent: 5, graph: 3 } } };
    const j = judgeOverrides(
      { values: { ...values, devicesCount: 7 }, state: 'succeeded', finishedAt: 9_000 },
      ['devicesCount'],
      graph,
      secondRead,
      known,
    );
    assert.deepEqual([j.overridden, j.drifted], [[], ['devicesCount']]);
    assert.deepEqual(j.memory, { observed: { readAt: secondRead, properties: { devicesCount: { sent: 7, graph: 3 } } } });
  });

  it('an overridden property beside a drifted one: each is judged on its own', () => {
    const known: OverrideMemory = { overridden: { devicesCount: { sent: 5, graph: 3 } } };
    const j = judgeOverrides(
      { values, state: 'unchanged' },
      ['userDisplayName', 'devicesCount'],
      { ...graph, userDisplayName: 'Bob' },
      secondRead,
      known,
    );
    assert.deepEqual([j.overridden, j.drifted], [['devicesCount'], ['userDisplayName']]);
    assert.deepEqual(j.memory, {
      overridden: { devicesCount: { sent: 5, graph: 3 } },
      observed: { readAt: secondRead, properties: { userDisplayName: { sent: 'Ann', graph: 'Bob' } } },
    });
  });

  it('dates are the same Graph value as instants', () => {
    const dated = { lastReportedDateTime: '2026-11-20T10:00:00Z' };
    const memory: OverrideMemory = {
      observed: {
        readAt: firstRead,
        properties: { lastReportedDateTime: { sent: '2026-11-20T10:00:00Z', graph: '2026-11-21T00:00:00Z' } },
      },
    };
    const j = judgeOverrides(
      { values: dated, state: 'succeeded', finishedAt: 2_000 },
      ['lastReportedDateTime'],
      { lastReportedDateTime: '2026-11-21T00:00:00.0000000Z' },
      secondRead,
      memory,
    );
    assert.deepEqual(j.overridden, ['lastReportedDateTime']);
  });

  it('nothing differing and nothing overridden leaves nothing to remember', () => {
    assert.equal(
      judgeOverrides({ values, state: 'succeeded', finishedAt: 2_000 }, [], { ...graph, devicesCount: 5 }, secondRead, observed).memory,
      undefined,
    );
  });
});

describe('knownOverridden: what import --reconcile need not send', () => {
  const memory: OverrideMemory = { overridden: { devicesCount: { sent: 5, graph: 3 } } };
  it('names the differing properties overridden for the value the row sets, and no others', () => {
    assert.deepEqual(knownOverridden({ devicesCount: 5 }, ['devicesCount'], memory), ['devicesCount']);
    assert.deepEqual(knownOverridden({ devicesCount: 7 }, ['devicesCount'], memory), []);
    assert.deepEqual(knownOverridden({ devicesCount: 5, userDisplayName: 'x' }, ['userDisplayName', 'devicesCount'], memory), [
      'devicesCount',
    ]);
    assert.deepEqual(knownOverridden({ devicesCount: 5 }, ['devicesCount'], undefined), []);
  });
});
