import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { graphMessageOf, judgeRefusal, refusalShape, REFUSAL_HOLD_MS, type RefusalView } from '../../src/pacing/refusal.js';

/** Intune's answer when it has no PATCH route, as the simulator's refusePatches mode (and real tenants) give it. */
function noRoute(collection: string, configId: string, userStatusId: string, activityId: string, build = 2411): string {
  const request =
    `/DeviceConfiguration_${build}` +
    `/StatelessDeviceConfigurationFEService/deviceAppManagement/${collection}` +
    `('${configId}')/userStatuses('${userStatusId}')`;
  const inner =
    `No OData route exists that match template ` +
    `~/singleton/navigation/key/navigation/key with http verb PATCH for ` +
    `request ${request}. - Operation ID (for customer support): ` +
    `00000000-0000-0000-0000-000000000000 - Activity ID: ${activityId} - Url: ` +
    `https://fef.msua06.manage.microsoft.com${request}?api-version=2024-11-01`;
  return JSON.stringify({
    _version: 3,
    Message: inner,
    CustomApiErrorPhrase: '',
    RetryAfter: null,
    ErrorSourceService: '',
    HttpHeaders: '{}',
  });
}

describe('graphMessageOf', () => {
  it("unwraps Intune's JSON inside Graph's message string to its Message", () => {
    assert.match(graphMessageOf(noRoute('mobileAppConfigurations', 'cfg-1', 'user-1', 'a')), /^No OData route exists that match template/);
  });
  it('leaves any other message as it is, JSON without a Message included', () => {
    assert.equal(graphMessageOf('Invalid value "x" for property \'status\'.'), 'Invalid value "x" for property \'status\'.');
    assert.equal(graphMessageOf('{"foo": 1}'), '{"foo": 1}');
    assert.equal(graphMessageOf('{not json'), '{not json');
  });
});

describe('refusalShape', () => {
  it('gives every no-route refusal one shape, whatever the ids, GUIDs, activity ids, hosts and collections', () => {
    const a = refusalShape('BadRequest', noRoute('mobileAppConfigurations', 'cfg-1', 'user-1', '0f8fad5b-d9cb-469f-a165-70867728950e'));
    const b = refusalShape(
      'BadRequest',
      noRoute(
        'iosLobAppProvisioningConfigurations',
        '7c9e6679-7425-40de-944b-e07fc1f90ae7',
        'USER-299',
        '16fd2706-8baf-433b-82eb-8c7fada847da',
        2502,
      ),
    );
    assert.equal(a, b);
    assert.doesNotMatch(a, /cfg-1|user-1|0f8fad5b|fef\.msua06/);
  });
  it('keeps the code: the same message under another code is another shape', () => {
    const message = noRoute('mobileAppConfigurations', 'c', 'u', 'x');
    assert.notEqual(refusalShape('BadRequest', message), refusalShape('No method match route template', message));
  });
  it("keeps a validation message's own value, so two rows' 400s about their own values differ", () => {
    const ann = refusalShape(
      'BadRequest',
      "Invalid value \"Ann\" for property 'userDisplayName' on type 'microsoft.graph.managedDeviceMobileAppConfigurationUserStatus'.",
    );
    const bob = refusalShape(
      'BadRequest',
      "Invalid value \"Bob\" for property 'userDisplayName' on type 'microsoft.graph.managedDeviceMobileAppConfigurationUserStatus'.",
    );
    assert.notEqual(ann, bob);
    assert.notEqual(ann, refusalShape('BadRequest', noRoute('mobileAppConfigurations', 'c', 'u', 'x')));
  });
  it('takes out numbers and collapses white space', () => {
    assert.equal(
      refusalShape('BadRequest', 'Value 12 is out of range  (max 7)'),
      refusalShape('BadRequest', 'Value 99 is out of range (max 7)'),
    );
  });
});

describe('judgeRefusal', () => {
  const view = (v: Partial<RefusalView>): RefusalView => ({ tripped: false, counting: false, own: false, ...v });
  const heldAt = 10_000;
  const deadline = 10_000_000;

  it('fails the row once its run was broken (a success or another 400 came between): the 400 was its own', () => {
    assert.deepEqual(judgeRefusal(view({ own: true }), heldAt, heldAt + 1, deadline, 0.5), { do: 'fail' });
    assert.deepEqual(judgeRefusal(view({ own: true, tripped: true }), heldAt, heldAt + 1, deadline, 0.5), { do: 'fail' });
  });
  it('holds the row, with jitter, while the breaker holds the tenant', () => {
    assert.deepEqual(judgeRefusal(view({ tripped: true, counting: true }), heldAt, heldAt + REFUSAL_HOLD_MS * 10, deadline, 0), {
      do: 'hold',
      delayMs: 500,
    });
  });
  it('holds a counted row until the hold time, then takes its 400 as its own', () => {
    assert.deepEqual(judgeRefusal(view({ counting: true }), heldAt, heldAt + REFUSAL_HOLD_MS - 1, deadline, 0.5), {
      do: 'hold',
      delayMs: 1000,
    });
    assert.deepEqual(judgeRefusal(view({ counting: true }), heldAt, heldAt + REFUSAL_HOLD_MS, deadline, 0.5), { do: 'fail' });
  });
  it("holds no longer than the row's own deadline", () => {
    assert.deepEqual(judgeRefusal(view({ counting: true }), heldAt, heldAt + 5, heldAt + 5, 0.5), { do: 'fail' });
  });
  it('sends the row again once the breaker that held it was released (`resume` cleared the count)', () => {
    assert.deepEqual(judgeRefusal(view({}), heldAt, heldAt + 1, deadline, 0.5), { do: 'resend' });
  });
});
