import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServiceSet } from '../../src/cli/simulate.js';
import { OperatorError } from '../../src/errors.js';
import { resolveOptions } from '../../src/simulator/options.js';

describe('simulator serviceSets: what the service sets itself after each applied PATCH', () => {
  it('is none by default', () => {
    assert.deepEqual(resolveOptions().serviceSets, {});
  });

  it('--service-sets reads <property>=<value>, the value as JSON when it is, and repeats', () => {
    assert.deepEqual(parseServiceSet('devicesCount=3'), { devicesCount: 3 });
    assert.deepEqual(parseServiceSet('status=compliant', { devicesCount: 3 }), { devicesCount: 3, status: 'compliant' });
    assert.deepEqual(parseServiceSet('userPrincipalName=null'), { userPrincipalName: null });
  });

  it('refuses a flag without a property, and the object id, as the options do', () => {
    for (const bad of ['devicesCount', '=3', 'id=x']) assert.throws(() => parseServiceSet(bad), OperatorError, bad);
    assert.throws(() => resolveOptions({ serviceSets: { id: 'other' } }), /serviceSets cannot set id/);
    assert.throws(() => resolveOptions({ serviceSets: [] as unknown as Record<string, unknown> }), /serviceSets must be an object/);
  });
});
