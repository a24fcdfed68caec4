import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareWithGraph } from '../../src/domain/compare.js';
import { graphIdKey, notFoundScope, nullsToConfirm, sameGraphId, sameInstant } from '../../src/domain/judging.js';
import { GraphState } from '../../src/producer/reconcile.js';
import { PENDING, type SnapshotStore } from '../../src/results/snapshots.js';

describe('judging what Graph holds, as Graph serves it', () => {
  it('compares dates as instants at the 7 fraction digits Graph keeps, whatever offset or precision we wrote', () => {
    assert.equal(sameInstant('2026-11-20T10:00:05Z', '2026-11-20T10:00:05.0000000Z'), true);
    assert.equal(sameInstant('2026-11-20T10:00:05.123Z', '2026-11-20T10:00:05.1230000Z'), true);
    assert.equal(sameInstant('2026-11-20T11:00:05.123+01:00', '2026-11-20T10:00:05.1230000Z'), true);
    assert.equal(sameInstant('2026-11-20T05:30:00-04:30', '2026-11-20T10:00:00.0000000Z'), true);
    assert.equal(sameInstant('2026-11-20T10:00:05.1234567Z', '2026-11-20T10:00:05.1234567Z'), true);
    // One tick (100 ns) apart is another instant; so is a millisecond.
    assert.equal(sameInstant('2026-11-20T10:00:05.1234567Z', '2026-11-20T10:00:05.1234568Z'), false);
    assert.equal(sameInstant('2026-11-20T10:00:05.123Z', '2026-11-20T10:00:05.1240000Z'), false);
    assert.equal(sameInstant('2026-11-20T10:00:05Z', 'not a date'), false);
    assert.deepEqual(
      compareWithGraph({ lastReportedDateTime: '2026-11-20T11:00:05.5+01:00' }, { lastReportedDateTime: '2026-11-20T10:00:05.5000000Z' }),
      { kind: 'equal' },
    );
  });

  it('compares GUID ids without regard to case (Graph lower-cases them) and other ids exactly', () => {
    assert.equal(graphIdKey('0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D'), '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d');
    assert.equal(sameGraphId('0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'), true);
    assert.equal(graphIdKey('User-1'), 'User-1', 'not a GUID: kept as Graph keeps it');
    assert.equal(sameGraphId('User-1', 'user-1'), false);
    assert.equal(sameGraphId('0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e'), false);
  });

  it('decides whether a 404 is about the user status or its whole configuration', () => {
    const config = 'c0ffee00-0000-4000-8000-000000000001';
    const status = 'ab12cd34-0000-4000-8000-000000000002';
    assert.equal(
      notFoundScope(`404 ResourceNotFound: The managedDeviceMobileAppConfiguration with id '${config}' was not found.`, config, status),
      'configuration',
    );
    assert.equal(
      notFoundScope(
        `404 ResourceNotFound: The iosLobAppProvisioningConfiguration with id '${config.toUpperCase()}' was not found.`,
        config,
        status,
      ),
      'configuration',
    );
    assert.equal(notFoundScope(`404 ResourceNotFound: The userStatus '${status}' was not found.`, config, status), 'status');
    // Intune's status ids can contain the configuration's id: naming the status decides.
    assert.equal(
      notFoundScope(`404 ResourceNotFound: The userStatus '${config}_${status}' was not found.`, config, `${config}_${status}`),
      'status',
    );
    assert.equal(
      notFoundScope('404 ResourceNotFound: Resource not found', config, status),
      'status',
      'naming neither: the narrower memory',
    );
  });

  it('asks for a GET only where the listing gave null for a property the row sets', () => {
    const props = ['userDisplayName', 'status', 'userPrincipalName'] as const;
    const row = { status: 'compliant' as const, userPrincipalName: 'a@contoso.example' };
    assert.deepEqual(nullsToConfirm(row, { status: 'compliant', userPrincipalName: null }, props), ['userPrincipalName']);
    assert.deepEqual(
      nullsToConfirm(row, { status: 'compliant', userPrincipalName: 'a@contoso.example', userDisplayName: null }, props),
      [],
      'a null the row does not set does not matter',
    );
    assert.deepEqual(nullsToConfirm(row, { status: 'compliant' }, props), [], 'an absent property is not a listed null');
    assert.deepEqual(nullsToConfirm(row, undefined, props), [], 'not listed: nothing to confirm');
  });
});

describe('GraphState.confirmNulls: a listed null is confirmed with a GET before it is judged', () => {
  it(
    'GETs only the statuses whose listed null the row sets (a GUID as Graph lists ' +
      'it), takes a 404 as not held, and hands the answers to the snapshot',
    async () => {
      const gets: string[] = [];
      const graph: Record<string, Record<string, unknown>> = {
        'u-1': { id: 'u-1', status: 'compliant', userPrincipalName: 'u1@contoso.example' },
      };
      const client = {
        listUserStatuses: () => {
          throw new Error('not listed here');
        },
        getUserStatus: (_type: string, _config: string, id: string, select?: readonly string[]) => {
          gets.push(`${id}?${select?.join(',')}`);
          return Promise.resolve(graph[id]);
        },
      };
      const confirmed: unknown[] = [];
      const snapshots = {
        confirm: (configKey: string, entries: unknown[]) => Promise.resolve(void confirmed.push(configKey, ...entries)),
      } as unknown as SnapshotStore;
      const state = new GraphState(snapshots, client, undefined, 60_000);
      const guid = '0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D';
      const upn = { userPrincipalName: 'x@contoso.example' };
      const rows = [
        { userStatusId: 'u-1', properties: { status: 'compliant' as const, ...upn } },
        { userStatusId: guid, properties: upn },
        { userStatusId: 'u-3', properties: { status: 'compliant' as const } },
        { userStatusId: 'u-4', properties: upn },
        { userStatusId: 'u-5', properties: upn },
      ];
      const listed = [
        { status: 'compliant', userPrincipalName: null },
        { userPrincipalName: null },
        { status: 'compliant', userPrincipalName: null },
        undefined,
        PENDING,
      ];
      const held = await state.confirmNulls('mobileAppConfiguration', 'cfg-1', rows, listed);
      assert.deepEqual(
        gets.sort(),
        [
          `${guid.toLowerCase()}?userDisplayName,devicesCount,status,lastReportedDateTime,userPrincipalName`,
          'u-1?userDisplayName,devicesCount,status,lastReportedDateTime,userPrincipalName',
        ].sort(),
        'u-3 sets no UPN; u-4 is not listed; u-5 is being written',
      );
      assert.deepEqual(
        held,
        [{ status: 'compliant', userPrincipalName: 'u1@contoso.example' }, undefined, listed[2], undefined, PENDING],
        'the GUID answered 404: not held',
      );
      assert.equal(confirmed[0], 'mobileAppConfiguration/cfg-1');
      assert.equal(confirmed.length, 3);
      assert.equal(state.stats.nullsConfirmed, 2);
    },
  );
});
