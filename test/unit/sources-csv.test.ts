import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readCsv } from '../../src/sources/csv.js';
import { readNdjson } from '../../src/sources/ndjson.js';
import type { RawRow } from '../../src/interfaces.js';

async function collect(rows: AsyncIterable<RawRow>): Promise<RawRow[]> {
  const out: RawRow[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

describe('readCsv', () => {
  it('gives the physical start line through BOM, CRLF, blank lines and quoted newlines', async () => {
    const text = '\uFEFFconfigurationId,id,userDisplayName\r\nc,u1,"two\r\nlines"\r\n\r\nc,u2,plain\r\nc,u3,"a\nb\nc"\r\nc,u4,last';
    const rows = await collect(readCsv(Readable.from([text])));
    assert.deepEqual(
      rows.map((r) => r.line),
      [2, 5, 6, 9],
    );
    assert.equal(rows[0].fields.userDisplayName, 'two\r\nlines');
    assert.equal(Object.keys(rows[0].fields)[0], 'configurationId');
  });

  it('flags a row with the wrong number of cells instead of failing the file', async () => {
    const rows = await collect(readCsv(Readable.from(['a,b\n1,2\n3\n4,5,6\n7,8\n'])));
    assert.equal(rows.length, 4);
    assert.equal(rows[0].problem, undefined);
    assert.match(rows[1].problem!.reason, /different number of cells/);
    assert.match(rows[2].problem!.reason, /different number of cells/);
    assert.equal(rows[3].problem, undefined, 'rows after a short one are judged on their own');
  });

  it('calls onHeader once, and its error fails the read', async () => {
    await assert.rejects(
      collect(
        readCsv(Readable.from(['x,y\n1,2\n']), {
          onHeader: () => {
            throw new Error('no good');
          },
        }),
      ),
      /no good/,
    );
  });
});

describe('readNdjson', () => {
  it('numbers lines, skips blank ones and rejects non-objects', async () => {
    const rows = await collect(readNdjson(Readable.from(['\uFEFF{"a":1}\r\n\n[1]\n{oops\n{"b":2}'])));
    assert.deepEqual(
      rows.map((r) => r.line),
      [1, 3, 4, 5],
    );
    assert.match(rows[1].problem!.reason, /not a JSON object/);
    assert.match(rows[2].problem!.reason, /not valid JSON/);
    assert.deepEqual(rows[3].fields, { b: 2 });
  });
});
