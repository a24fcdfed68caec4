/** The pure rules behind issue 9: run ids, input identity, ids, dates, request paths, encodings, quoting, redaction. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { quoteValue } from '../../src/domain/quote.js';
import { runIdProblem } from '../../src/domain/run-id.js';
import { dateTimeProblem, idProblem, validateRow } from '../../src/domain/validate.js';
import { reportedTicks } from '../../src/domain/version.js';
import { assertRequestPath, PATCH_PATH_SHAPES, pathMatchesShape } from '../../src/graph/request-path.js';
import { decideRunReuse, fileIdentity, STDIN_IDENTITY } from '../../src/producer/run-input.js';
import { describeRedisFailure, isCredentialsError } from '../../src/queue/connection.js';
import { redactUrl } from '../../src/redact-url.js';
import { pathOf } from '../../src/server/app.js';
import { decodeToUtf8, incompleteUtf8Tail, INVALID_MARK, markInvalidUtf8, sniffBom } from '../../src/sources/encoding.js';
import { readNdjson, splitLines } from '../../src/sources/ndjson.js';
import { readRows } from '../../src/sources/index.js';
import { createColumnMapper } from '../../src/domain/columns.js';

async function decode(chunks: Buffer[], encoding: 'utf8' | 'utf16le' | 'windows-1252' = 'utf8'): Promise<string> {
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(chunks).pipe(decodeToUtf8(encoding))) out.push(chunk as Buffer);
  return Buffer.concat(out).toString('utf8');
}

describe('run ids', () => {
  it('accept letters, digits and _ . - up to 128 characters', () => {
    for (const id of ['nightly', 'a.b-c_d', 'x'.repeat(128), '20261128T120000Z-abcdef', '.hidden', 'a..b'])
      assert.equal(runIdProblem(id), undefined, id);
  });
  it('refuse other characters, empty ids, ids over 128 characters and ids made only of dots', () => {
    assert.match(runIdProblem('nd1:rows')!, /only letters, digits/);
    assert.match(runIdProblem('a/b')!, /only letters, digits/);
    assert.match(runIdProblem('')!, /empty/);
    assert.match(runIdProblem('x'.repeat(129))!, /longer than 128/);
    assert.match(runIdProblem('.')!, /only of dots/);
    assert.match(runIdProblem('...')!, /only of dots/);
    assert.match(runIdProblem('a\u200bb')!, /only letters, digits/);
  });
});

describe('a run id names one input', () => {
  const day1 = fileIdentity('/data/day1.csv', 70, Date.UTC(2026, 10, 1));
  const day2 = fileIdentity('/data/day2.csv', 93, Date.UTC(2026, 10, 2));
  const finished = (input: string) => ({ input, importFinished: true, importError: '', source: 'x' });

  it('resumes the same file, finished or not', () => {
    assert.deepEqual(decideRunReuse('nightly', finished(day1.id), day1), { kind: 'resume' });
    assert.deepEqual(decideRunReuse('nightly', { ...finished(day1.id), importFinished: false }, day1), { kind: 'resume' });
  });
  it('refuses another file, naming the input the run holds', () => {
    const decision = decideRunReuse('nightly', finished(day1.id), day2);
    assert.equal(decision.kind, 'refuse');
    assert.match(
      (decision as { reason: string }).reason,
      /run nightly already holds file \/data\/day1\.csv size=70 .*this input is file \/data\/day2\.csv/,
    );
  });
  it('refuses the same path once its size or modification time changed', () => {
    assert.equal(decideRunReuse('r', finished(day1.id), fileIdentity('/data/day1.csv', 71, Date.UTC(2026, 10, 1))).kind, 'refuse');
    assert.equal(decideRunReuse('r', finished(day1.id), fileIdentity('/data/day1.csv', 70, Date.UTC(2026, 10, 3))).kind, 'refuse');
  });
  it('continues stdin only while the earlier pass had broken off', () => {
    assert.deepEqual(decideRunReuse('r', { input: 'stdin', importFinished: false, importError: '', source: 's' }, STDIN_IDENTITY), {
      kind: 'resume',
    });
    assert.deepEqual(decideRunReuse('r', { input: 'stdin', importFinished: true, importError: 'malformed', source: 's' }, STDIN_IDENTITY), {
      kind: 'resume',
    });
    assert.equal(decideRunReuse('r', finished('stdin'), STDIN_IDENTITY).kind, 'refuse');
  });
  it('refuses a run created before inputs were recorded, naming its source', () => {
    const decision = decideRunReuse('old', { input: '', importFinished: true, importError: '', source: 'export.csv (csv)' }, day1);
    assert.match((decision as { reason: string }).reason, /already holds export\.csv \(csv\)/);
  });
});

describe('ids', () => {
  it('refuse ids made only of dots', () => {
    for (const id of ['.', '..', '....']) assert.match(idProblem(id)!, /only of dots/, id);
    assert.equal(idProblem('a.b'), undefined);
    assert.equal(idProblem('.a'), undefined);
  });
  it('refuse zero-width and bidirectional control characters (Unicode category Cf)', () => {
    for (const [id, code] of [
      ['a\u200bb', '200B'],
      ['\u202euser', '202E'],
      ['user\u2066', '2066'],
      ['\u2060cfg', '2060'],
      ['a\u00adb', '00AD'],
    ]) {
      assert.match(idProblem(id)!, new RegExp(`invisible character U\\+${code}`), JSON.stringify(id));
    }
  });
  it('reject the row naming the column', () => {
    const result = validateRow({ configurationId: '.', userStatusId: 'u\u200d', status: 'compliant' });
    assert.equal(result.ok, false);
    assert.deepEqual(
      (result as { errors: { column: string }[] }).errors.map((e) => e.column),
      ['configurationId', 'userStatusId'],
    );
  });
});

describe('dates', () => {
  it('accept every year from 0001 to 0099, as DateTimeOffset does', () => {
    assert.equal(dateTimeProblem('0001-01-01T00:00:00Z'), undefined);
    for (let year = 1; year <= 99; year++)
      assert.equal(dateTimeProblem(`${String(year).padStart(4, '0')}-06-15T12:00:00Z`), undefined, String(year));
    assert.equal(dateTimeProblem('0004-02-29T00:00:00Z'), undefined, 'year 4 is a leap year');
    assert.match(dateTimeProblem('0100-02-29T00:00:00Z')!, /not a real calendar/, 'year 100 is not');
    assert.match(dateTimeProblem('0000-01-01T00:00:00Z')!, /not a real calendar/);
  });
  it('accept offsets up to ±14:00 and refuse beyond', () => {
    assert.equal(dateTimeProblem('2026-01-01T00:00:00+14:00'), undefined);
    assert.equal(dateTimeProblem('2026-01-01T00:00:00-14:00'), undefined);
    assert.match(dateTimeProblem('2026-01-01T00:00:00+14:01')!, /beyond ±14:00/);
    assert.match(dateTimeProblem('2026-01-01T00:00:00-15:00')!, /beyond ±14:00/);
    assert.match(dateTimeProblem('2026-01-01T00:00:00+23:59')!, /beyond ±14:00/);
  });
  it('refuse a time whose UTC instant leaves years 0001-9999', () => {
    assert.match(dateTimeProblem('0001-01-01T00:00:00+01:00')!, /outside years 0001-9999/);
    assert.match(dateTimeProblem('9999-12-31T23:00:00-14:00')!, /outside years 0001-9999/);
    assert.equal(dateTimeProblem('0001-01-01T00:00:00-01:00'), undefined);
  });
  it('order year 1 before year 99 before today in versions, by 100 ns ticks', () => {
    const ticks = ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.0000001Z', '0099-12-31T23:59:59Z', '2026-01-01T00:00:00Z'].map((d) =>
      reportedTicks(d),
    );
    assert.deepEqual([...ticks].sort(), ticks);
    assert.equal(ticks[0], '0'.repeat(20));
    assert.ok(ticks.every((t) => t.length === 20 && /^\d+$/.test(t)));
  });
});

describe('the Graph request path guard', () => {
  it('allows exactly the two PATCH shapes with one safe segment per id', () => {
    assert.ok(pathMatchesShape('/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses/user%40x', PATCH_PATH_SHAPES));
    assert.ok(pathMatchesShape('/deviceAppManagement/iosLobAppProvisioningConfigurations/c/userStatuses/u', PATCH_PATH_SHAPES));
  });
  it('refuses dot segments, encoded or not, empty segments, extra segments and other collections', () => {
    for (const path of [
      '/deviceAppManagement/mobileAppConfigurations/./userStatuses/u',
      '/deviceAppManagement/mobileAppConfigurations/c/userStatuses/.',
      '/deviceAppManagement/mobileAppConfigurations/../userStatuses/u',
      '/deviceAppManagement/mobileAppConfigurations/%2E/userStatuses/u',
      '/deviceAppManagement/mobileAppConfigurations/%2e%2e/userStatuses/u',
      '/deviceAppManagement/mobileAppConfigurations/c/userStatuses/',
      '/deviceAppManagement/mobileAppConfigurations/c/userStatuses/u/extra',
      '/deviceAppManagement/mobileAppConfigurations/a%2Fb/userStatuses/u',
      '/deviceAppManagement/mobileAppConfigurations/c/userStatuses/u?x=1',
      '/deviceAppManagement/managedDevices/c/userStatuses/u',
      '/deviceAppManagement/mobileAppConfigurations/a%E2%80%8Bb/userStatuses/u',
    ]) {
      assert.equal(pathMatchesShape(path, PATCH_PATH_SHAPES), false, path);
    }
    assert.throws(
      () => assertRequestPath('/deviceAppManagement/mobileAppConfigurations/./userStatuses/u', PATCH_PATH_SHAPES),
      /refusing to send a request/,
    );
  });
  it('takes its shapes as an argument, so a list path can be allowed where it is needed', () => {
    const shapes = [...PATCH_PATH_SHAPES, '/deviceAppManagement/mobileAppConfigurations/{id}/userStatuses'];
    assert.ok(pathMatchesShape('/deviceAppManagement/mobileAppConfigurations/c/userStatuses', shapes));
    assert.equal(pathMatchesShape('/deviceAppManagement/mobileAppConfigurations/c/userStatuses', PATCH_PATH_SHAPES), false);
  });
});

describe('encodings', () => {
  it('marks each invalid UTF-8 sequence and keeps valid text, a real U+FFFD included', () => {
    assert.equal(markInvalidUtf8(Buffer.from('M\xfcller', 'latin1')).toString('utf8'), `M${INVALID_MARK}ller`);
    assert.equal(markInvalidUtf8(Buffer.from('Müller \uFFFD ok', 'utf8')).toString('utf8'), 'Müller \uFFFD ok');
    assert.equal(
      markInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82, 0x62])).toString('utf8'),
      `a${INVALID_MARK}b`,
      'a truncated sequence is one mark',
    );
    assert.equal(
      markInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80])).toString('utf8'),
      INVALID_MARK.repeat(3),
      'an encoded surrogate is invalid',
    );
  });
  it('counts a sequence split across chunks as valid', async () => {
    const bytes = Buffer.from('ab€cd', 'utf8');
    assert.equal(incompleteUtf8Tail(bytes.subarray(0, 3)), 1);
    assert.equal(await decode([bytes.subarray(0, 3), bytes.subarray(3, 4), bytes.subarray(4)]), 'ab€cd');
  });
  it('detects UTF-8 and UTF-16 byte order marks, whatever --encoding says', async () => {
    assert.deepEqual(sniffBom(Buffer.from([0xff, 0xfe, 0x41, 0])), { encoding: 'utf16le', bomLength: 2 });
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('id,x\nMüller\n', 'utf16le')]);
    assert.equal(await decode([utf16.subarray(0, 5), utf16.subarray(5)], 'windows-1252'), 'id,x\nMüller\n');
    const be = Buffer.from('Müller', 'utf16le').swap16();
    assert.equal(await decode([Buffer.concat([Buffer.from([0xfe, 0xff]), be])]), 'Müller');
    assert.equal(await decode([Buffer.from('\ufeffabc', 'utf8')]), 'abc');
  });
  it('decodes windows-1252 and UTF-16LE without a BOM when asked, marking lone surrogates', async () => {
    assert.equal(await decode([Buffer.from([0x4d, 0xfc, 0x6c, 0x80])], 'windows-1252'), 'Mül€');
    const lone = Buffer.from([0x41, 0x00, 0x00, 0xd8, 0x42, 0x00]);
    assert.equal(await decode([lone], 'utf16le'), `A${INVALID_MARK}B`);
  });
});

describe('CSV rows with invalid bytes', () => {
  it('are rejected naming line and column, however the bytes are chunked (small pooled chunks, as from stdin)', async () => {
    const bytes = Buffer.concat([
      Buffer.from('configurationId,userStatusId,userDisplayName\ncfg,u1,ok\ncfg,u2,M'),
      Buffer.from([0xfc]),
      Buffer.from('ller\ncfg,u3,fine\n'),
    ]);
    for (const size of [1, 3, 7, bytes.length]) {
      const chunks = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(Buffer.from(bytes.subarray(at, at + size)));
      const rows = [];
      for await (const row of readRows(Readable.from(chunks), 'csv', createColumnMapper())) rows.push(row);
      assert.deepEqual(
        rows.map((r) => [r.line, r.problem?.column]),
        [
          [2, undefined],
          [3, 'userDisplayName'],
          [4, undefined],
        ],
        `chunks of ${size}`,
      );
      assert.match(rows[1].problem!.reason, /not valid UTF-8/);
    }
  });
});

describe('NDJSON lines', () => {
  it('bound a line: an oversize one is flagged, the next line is read', async () => {
    const lines = [];
    for await (const l of splitLines(
      Readable.from([Buffer.from('abc\n'), Buffer.from('x'.repeat(50)), Buffer.from('y'.repeat(50) + '\nok\n')]),
      64,
    ))
      lines.push(l);
    assert.deepEqual(lines, [
      { text: 'abc', oversize: false },
      { text: '', oversize: true },
      { text: 'ok', oversize: false },
    ]);
  });
  it('stop at a "line" that runs on for 64 MiB without a line end, however small the maximum row', async () => {
    async function* zeros() {
      for (let i = 0; i < 80; i++) yield Buffer.alloc(1024 * 1024);
    }
    await assert.rejects(async () => {
      for await (const _ of splitLines(zeros(), 100)) void _;
    }, /line 1 runs on for more than 67108864 bytes without a line end/);
    const lines = [];
    for await (const l of splitLines(Readable.from([Buffer.alloc(5 * 1024 * 1024, 0x78), Buffer.from('\nok\n')]), 100))
      lines.push(l.oversize ? 'oversize' : l.text);
    assert.deepEqual(lines, ['oversize', 'ok'], 'a 5 MB line is only an oversize row');
  });
  it('reject a row whose value holds invalid bytes, naming its column', async () => {
    const rows = [];
    const input = Readable.from([Buffer.from(`{"configurationId":"c","userDisplayName":"M${INVALID_MARK}ller"}\n`, 'utf8')]);
    for await (const row of readNdjson(input)) rows.push(row);
    assert.equal(rows[0].problem?.column, 'userDisplayName');
    assert.match(rows[0].problem.reason, /not valid UTF-8/);
  });
});

describe('configuration of the new limits', () => {
  it('defaults to a 10 s command timeout, 64 KiB rows and a 30 s body timeout, and refuses non-numbers naming the variable only', () => {
    const config = loadConfig({});
    assert.deepEqual(
      [config.redisCommandTimeoutMs, config.maxRowBytes, config.apiBodyTimeoutMs, config.redisConnectTimeoutMs],
      [10_000, 65_536, 30_000, undefined],
    );
    assert.equal(loadConfig({ SYNC_REDIS_CONNECT_TIMEOUT_MS: '90000' }).redisConnectTimeoutMs, 90_000);
    for (const name of [
      'SYNC_REDIS_COMMAND_TIMEOUT_MS',
      'SYNC_REDIS_CONNECT_TIMEOUT_MS',
      'SYNC_MAX_ROW_BYTES',
      'SYNC_API_BODY_TIMEOUT_MS',
    ]) {
      assert.throws(() => loadConfig({ [name]: '-5' }), new RegExp(`${name} must be a positive integer`));
    }
  });
});

describe('quoting, redaction and log paths', () => {
  it('quotes at most 200 characters of a value', () => {
    assert.equal(quoteValue('abc'), '"abc"');
    assert.equal(quoteValue('x'.repeat(5_000_000)).length, 203, 'two quotes, 200 characters and an ellipsis');
    assert.match(
      validateRow({ configurationId: 'c', userStatusId: 'u', status: 'z'.repeat(10_000) }).ok
        ? ''
        : JSON.stringify(validateRow({ configurationId: 'c', userStatusId: 'u', status: 'z'.repeat(10_000) })),
      /z{200}…/,
    );
  });
  it('masks passwords and secret query parameters of URLs', () => {
    assert.equal(redactUrl('http://user:s3cret@graph.example/x'), 'http://user:***@graph.example/x');
    assert.equal(redactUrl('https://hooks.example/a?sig=abc&x=1'), 'https://hooks.example/a?sig=***&x=1');
    assert.equal(redactUrl('not a url'), '<invalid url>');
  });
  it('logs request paths without their query string', () => {
    assert.equal(pathOf('/v1/runs?token=abc'), '/v1/runs?[query removed]');
    assert.equal(pathOf('/v1/runs'), '/v1/runs');
  });
  it('names a Redis timeout and refused credentials', () => {
    assert.match(describeRedisFailure(new Error('Command timed out'), 1500)!, /did not answer within 1500 ms/);
    assert.ok(isCredentialsError(new Error('WRONGPASS invalid username-password pair or user is disabled.')));
    assert.ok(isCredentialsError(new Error('NOAUTH Authentication required.')));
    assert.equal(describeRedisFailure(new Error('something else'), 1), undefined);
  });
});
