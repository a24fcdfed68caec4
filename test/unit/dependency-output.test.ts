import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isConnectionLoss, routeConsoleLine } from '../../src/console-routing.js';
import { RedisDropReport } from '../../src/queue/redis-drop.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });

describe('console lines of dependencies, as log lines', () => {
  it("BullMQ's eviction warning becomes a warn in our words, with the fix, logged once per policy", () => {
    const line = routeConsoleLine('warn', ['IMPORTANT! Eviction policy is allkeys-lru. It should be "noeviction"']);
    assert.equal(line.level, 'warn');
    const expected =
      "Redis's maxmemory-policy is allkeys-lru, not noeviction: " + 'when memory runs short Redis may evict queued jobs and row results';
    assert.equal(line.msg, expected);
    assert.deepEqual(line.fields, {
      source: 'bullmq',
      maxmemoryPolicy: 'allkeys-lru',
      fix: 'set maxmemory-policy noeviction (compliance-sync doctor checks it)',
    });
    assert.equal(line.onceKey, 'eviction:allkeys-lru');
  });

  it("BullMQ's version advice becomes one warn", () => {
    const bullmqText = 'It is highly recommended to use a minimum Redis version of 6.2.0\n             Current: 6.0.9';
    const line = routeConsoleLine('warn', [bullmqText]);
    assert.deepEqual(
      { level: line.level, msg: line.msg, onceKey: line.onceKey },
      { level: 'warn', msg: 'Redis 6.0.9 works, but BullMQ recommends 6.2.0 or later', onceKey: 'redis-version:6.0.9' },
    );
  });

  it('an error is its name and message, never its stack or inspected fields', () => {
    const line = routeConsoleLine('error', [new TypeError('boom')]);
    assert.deepEqual(line, { level: 'error', msg: 'TypeError: boom', fields: { source: 'console' } });
    assert.doesNotMatch(routeConsoleLine('error', ['failed:', new Error('x')]).msg, /\n|\bat /);
  });

  it('a lost connection printed by a dependency is debug: the connection watcher has said it once', () => {
    assert.equal(routeConsoleLine('error', [refused]).level, 'debug');
  });

  it("keeps each console method's level, and formats objects on one line", () => {
    assert.equal(routeConsoleLine('log', ['hello']).level, 'info');
    assert.equal(routeConsoleLine('trace', ['t']).level, 'debug');
    assert.equal(routeConsoleLine('warn', ['a', { b: 1 }]).msg, 'a { b: 1 }');
  });

  it('knows a lost connection from other errors', () => {
    assert.equal(isConnectionLoss(refused), true);
    assert.equal(isConnectionLoss(new Error('Connection is closed.')), true);
    assert.equal(isConnectionLoss(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' })), true);
    assert.equal(isConnectionLoss(new Error('Missing lock for job 1. moveToFinished')), false);
    assert.equal(isConnectionLoss(new Error('WRONGPASS invalid username-password pair')), false);
    assert.equal(isConnectionLoss(undefined), false);
  });
});

describe('a Redis drop, as an operator reads it', () => {
  it('one line when lost, none for each retry, one when back with how long it was down', () => {
    const report = new RedisDropReport('Redis at redis://127.0.0.1:6379');
    assert.equal(report.ready(0), undefined, 'the first ready is not a return');
    const lost = report.error(refused, 1000);
    assert.deepEqual(lost, {
      level: 'warn',
      msg: 'Redis connection lost (connect ECONNREFUSED 127.0.0.1:6379); retrying until it is back',
      fields: { redis: 'Redis at redis://127.0.0.1:6379' },
    });
    for (let attempt = 1; attempt <= 50; attempt++) assert.equal(report.error(refused, 1000 + attempt * 200), undefined);
    assert.deepEqual(report.ready(13_500), {
      level: 'info',
      msg: 'Redis connection back after 12.5 s',
      fields: { redis: 'Redis at redis://127.0.0.1:6379', downMs: 12_500 },
    });
    assert.equal(report.ready(14_000), undefined);
  });

  it('a different error while down is a line of its own, once; a second drop is reported again', () => {
    const report = new RedisDropReport('r');
    report.error(refused, 0);
    const wrongPass = new Error('WRONGPASS invalid username-password pair');
    assert.equal(report.error(wrongPass, 100)?.msg, 'Redis still unavailable: WRONGPASS invalid username-password pair');
    assert.equal(report.error(wrongPass, 200), undefined);
    report.ready(300);
    assert.match(report.error(refused, 400)?.msg ?? '', /^Redis connection lost/);
  });
});
