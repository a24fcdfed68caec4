import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLogFormat } from '../../src/logger.js';

describe('log format', () => {
  it('is pretty on a terminal and JSON otherwise, unless asked for', () => {
    assert.equal(chooseLogFormat(undefined, true), 'pretty');
    assert.equal(chooseLogFormat(undefined, false), 'json');
    assert.equal(chooseLogFormat('json', true), 'json');
    assert.equal(chooseLogFormat('pretty', false), 'pretty');
  });
});
