import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { demoMayClear, demoPrefixOf, demoRunId } from '../../src/cli/demo-prefix.js';
import { ConfigError } from '../../src/config.js';

describe("the demo's prefix", () => {
  it('is SYNC_PREFIX with -demo appended, csync-demo when SYNC_PREFIX is unset', () => {
    assert.equal(demoPrefixOf(undefined), 'csync-demo');
    assert.equal(demoPrefixOf('csync'), 'csync-demo');
    assert.equal(demoPrefixOf('team-a'), 'team-a-demo');
    assert.equal(demoPrefixOf('x'.repeat(59)), `${'x'.repeat(59)}-demo`);
  });

  it("refuses what the configuration refuses, naming SYNC_PREFIX and never the demo's own prefix as the culprit", () => {
    for (const hostile of ['', 'a*', 'a?b', '{tag}', 'a b', 'a\nb', 'é', 'x'.repeat(65)]) {
      const refused = (err: Error) => err instanceof ConfigError && /SYNC_PREFIX may hold only/.test(err.message);
      assert.throws(() => demoPrefixOf(hostile), refused, hostile);
    }
  });

  it('refuses a SYNC_PREFIX too long to take -demo, saying how long it may be', () => {
    const refused = (err: Error) => err instanceof ConfigError && /at most 59 characters/.test(err.message);
    assert.throws(() => demoPrefixOf('x'.repeat(60)), refused);
  });
});

describe('whether the demo may clear its prefix', () => {
  it('clears an empty prefix, or one a demo marked', () => {
    assert.equal(demoMayClear({ holdsKeys: false, marked: false, runIds: [] }), true);
    assert.equal(demoMayClear({ holdsKeys: true, marked: true, runIds: ['nightly-1'] }), true);
  });

  it('clears what an older demo left (only demo runs, no marker yet)', () => {
    assert.equal(demoMayClear({ holdsKeys: true, marked: false, runIds: [demoRunId('first', 1), demoRunId('second', 2)] }), true);
  });

  it('keeps a deployment whose own prefix happens to be <SYNC_PREFIX>-demo', () => {
    assert.equal(demoMayClear({ holdsKeys: true, marked: false, runIds: ['20261207T101010Z-abcdef', demoRunId('first', 1)] }), false);
    assert.equal(demoMayClear({ holdsKeys: true, marked: false, runIds: [] }), false, "keys but no runs: not known to be a demo's");
    assert.equal(demoMayClear({ holdsKeys: true, marked: false, runIds: ['demo-first-1x'] }), false);
  });
});
