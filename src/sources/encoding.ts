import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Input encodings. Everything is turned into UTF-8 bytes before parsing, so the parsers and their line counting
 * stay as they are. Bytes that are not valid in the input's encoding are never replaced silently: each invalid
 * sequence becomes INVALID_MARK, and the source rejects the row holding it, naming its line and column.
 */
export const INPUT_ENCODINGS = ['utf8', 'utf16le', 'windows-1252'] as const;
export type InputEncoding = (typeof INPUT_ENCODINGS)[number];

/**
 * Stands for bytes that were not valid. A noncharacter (U+FDD0), which Unicode reserves for internal use and no
 * export should hold, so a row holding one is rejected too (and said to hold invalid bytes).
 */
export const INVALID_MARK = '\uFDD0';
const INVALID_MARK_UTF8 = Buffer.from(INVALID_MARK, 'utf8');

export type DetectedEncoding = InputEncoding | 'utf16be';

/** A byte order mark wins over --encoding: it says what the file is. Returns the encoding and the BOM's length. */
export function sniffBom(head: Uint8Array): { encoding: DetectedEncoding; bomLength: number } | undefined {
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf8', bomLength: 3 };
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf16le', bomLength: 2 };
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf16be', bomLength: 2 };
  return undefined;
}

/** How many bytes at the end of `bytes` start a UTF-8 sequence that the next chunk may complete (0-3). */
export function incompleteUtf8Tail(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * Valid UTF-8 without INVALID_MARK is returned as the same Buffer (no copy); each maximal invalid subsequence
 * (WHATWG's rule, as TextDecoder counts them) becomes INVALID_MARK. The slow path only runs on chunks that are not valid.
 */
export function markInvalidUtf8(bytes: Uint8Array): Buffer {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buffer) && buffer.indexOf(INVALID_MARK_UTF8) === -1) return buffer;
  const text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(buffer);
  // U+FFFD in the decoded text is either an invalid sequence or a real U+FFFD in the input: tell them apart by
  // re-encoding each piece and comparing with the input bytes.
  const out: Buffer[] = [];
  let at = 0;
  let pending = '';
  for (const ch of text) {
    if (ch === '\uFFFD' && !(buffer[at] === 0xef && buffer[at + 1] === 0xbf && buffer[at + 2] === 0xbd)) {
      if (pending) out.push(Buffer.from(pending, 'utf8'));
      pending = '';
      out.push(INVALID_MARK_UTF8);
      at += invalidSequenceLength(buffer, at);
      continue;
    }
    pending += ch;
    at += Buffer.byteLength(ch, 'utf8');
  }
  if (pending) out.push(Buffer.from(pending, 'utf8'));
  return Buffer.concat(out);
}

/** Length of the maximal invalid subsequence starting at `at` (1 byte, or the valid prefix of a truncated sequence). */
function invalidSequenceLength(bytes: Uint8Array, at: number): number {
  const b = bytes[at];
  let need: number;
  let lower = 0x80;
  let upper = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) need = 1;
  else if (b >= 0xe0 && b <= 0xef) {
    need = 2;
    if (b === 0xe0) lower = 0xa0;
    if (b === 0xed) upper = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3;
    if (b === 0xf0) lower = 0x90;
    if (b === 0xf4) upper = 0x8f;
  } else return 1;
  let length = 1;
  for (let i = 0; i < need; i++) {
    const c = bytes[at + length];
    if (c === undefined || c < lower || c > upper) break;
    lower = 0x80;
    upper = 0xbf;
    length++;
  }
  return length;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A Transform from the input's bytes to UTF-8 bytes with invalid sequences marked. The BOM (UTF-8, UTF-16 LE or BE)
 * is detected and removed here, so the parsers never see one.
 */
export interface DecodingStream extends Transform {
  /** The encoding in use, once the first bytes were seen (a BOM wins over the one asked for). */
  readonly detected: DetectedEncoding;
  /** True once any INVALID_MARK was written, so parsers look for marks only in inputs that can hold one. */
  readonly marked: boolean;
}

export function decodeToUtf8(encoding: InputEncoding = 'utf8'): DecodingStream {
  let detected: DetectedEncoding | undefined;
  let carry: Buffer = Buffer.alloc(0);
  let utf16HighSurrogate = '';
  let cp1252: TextDecoder | undefined;
  let marked = false;
  const note = (out: Buffer): Buffer => {
    if (!marked && out.indexOf(INVALID_MARK_UTF8) !== -1) marked = true;
    return out;
  };

  const convert = (bytes: Buffer, final: boolean): Buffer => {
    if (detected === 'utf8') {
      const keep = final ? 0 : incompleteUtf8Tail(bytes);
      carry = Buffer.from(bytes.subarray(bytes.length - keep));
      const body = bytes.subarray(0, bytes.length - keep);
      const out = markInvalidUtf8(body);
      // markInvalidUtf8 returns the very buffer it was given when it is valid and mark-free: only a new one can hold a mark.
      return out === body ? out : note(out);
    }
    if (detected === 'windows-1252') {
      // Every byte has a meaning in windows-1252 (WHATWG maps the 5 unassigned ones to C1 controls, which ids refuse).
      cp1252 ??= new TextDecoder('windows-1252');
      return note(Buffer.from(cp1252.decode(bytes, { stream: !final }), 'utf8'));
    }
    // UTF-16: pairs of bytes; an odd byte waits for its partner, a high surrogate for its low half.
    const even = final ? bytes.length : bytes.length - (bytes.length % 2);
    carry = Buffer.from(bytes.subarray(even));
    let units = bytes.subarray(0, even - (even % 2));
    if (detected === 'utf16be') {
      const swapped = Buffer.from(units);
      swapped.swap16();
      units = swapped;
    }
    let text = utf16HighSurrogate + units.toString('utf16le');
    utf16HighSurrogate = '';
    if (!final && /[\uD800-\uDBFF]$/.test(text)) {
      utf16HighSurrogate = text.slice(-1);
      text = text.slice(0, -1);
    }
    let out = text.replace(LONE_SURROGATE, INVALID_MARK);
    if (final && even % 2 === 1) out += INVALID_MARK; // a stray last byte
    return note(Buffer.from(out, 'utf8'));
  };

  const stream = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      let bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      carry = Buffer.alloc(0);
      if (detected === undefined) {
        if (bytes.length < 3) {
          carry = bytes;
          return done();
        }
        const bom = sniffBom(bytes);
        detected = bom?.encoding ?? encoding;
        if (bom) bytes = bytes.subarray(bom.bomLength);
      }
      done(null, convert(bytes, false));
    },
    flush(done: TransformCallback) {
      if (detected === undefined) {
        const bom = sniffBom(carry);
        detected = bom?.encoding ?? encoding;
        if (bom) carry = carry.subarray(bom.bomLength);
      }
      const rest = carry;
      carry = Buffer.alloc(0);
      const out = convert(rest, true);
      done(null, out.length > 0 ? out : undefined);
    },
  });
  Object.defineProperty(stream, 'detected', { get: () => detected ?? encoding });
  Object.defineProperty(stream, 'marked', { get: () => marked });
  return stream as DecodingStream;
}

export function encodingLabel(encoding: DetectedEncoding): string {
  return encoding === 'utf8' ? 'UTF-8' : encoding === 'utf16le' ? 'UTF-16LE' : encoding === 'utf16be' ? 'UTF-16BE' : 'windows-1252';
}

/** The reason a row holding INVALID_MARK is rejected with. */
export function invalidBytesReason(encoding: DetectedEncoding): string {
  return `holds bytes that are not valid ${encodingLabel(encoding)} (the row was not sent; fix the export or pass the right --encoding)`;
}
