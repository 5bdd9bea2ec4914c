import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lineDecoder } from '../../protocols/line.ts';
import { withoutLfAfterCr, assertAccounted, assertSplitInvariant, decodeChunks, discardsOf, framesOf } from '../fixtures/stream-helpers.ts';

test('CR, LF and CR LF all end a line; CR LF is one terminator even split across chunks', () => {
  const input = Buffer.from('A1\rB2\nC3\r\nD4\r\n');
  assert.equal(assertSplitInvariant(() => lineDecoder(), input), ['A1', 'B2', 'C3', 'D4']);
  const out = decodeChunks(() => lineDecoder(), [input]);
  assert.equal(discardsOf(out), []);
  assertAccounted(withoutLfAfterCr(input), out);
  // The LF of CR LF arriving alone in the next chunk is not an empty line.
  assert.equal(decodeChunks(() => lineDecoder(), [Buffer.from('X\r'), Buffer.from('\nY\r'), Buffer.from('\n')]).length, 2);
});

test('empty lines are reported as discarded, not emitted', () => {
  const out = lineDecoder().push(Buffer.from('\n\nA\r\r\n'));
  assert.equal(framesOf(out), ['A']);
  assert.equal(discardsOf(out).map((d) => d.reason), ['empty line', 'empty line', 'empty line']);
});

test('an over-long line is discarded in bounded pieces up to its terminator; the next line is fine', () => {
  const long = 'x'.repeat(25);
  const input = Buffer.from(`${long}\nok\n`);
  const out = lineDecoder({ maxLength: 10 }).push(input);
  assert.equal(framesOf(out), ['ok']);
  const reasons = discardsOf(out).map((d) => d.reason);
  assert.is(reasons[0], 'line longer than 10 bytes');
  assert.ok(reasons.slice(1).every((r) => r.startsWith('rest of a line')));
  assert.ok(discardsOf(out).every((d) => d.bytes.length <= 11));
  assertAccounted(withoutLfAfterCr(input), out);
  assert.equal(assertSplitInvariant(() => lineDecoder({ maxLength: 10 }), input), ['ok']);
  // Exactly maxLength is accepted.
  assert.equal(framesOf(lineDecoder({ maxLength: 10 }).push(Buffer.from('0123456789\n'))), ['0123456789']);
});

test('custom terminators (ETX) and latin1 keep control bytes; reset drops a partial line', () => {
  const d = lineDecoder({ terminators: [0x03], encoding: 'latin1' });
  assert.equal(framesOf(d.push(Buffer.from('\x020A00112233\x03'))), ['\x020A00112233']);
  assert.equal(d.push(Buffer.from('half')), []);
  d.reset();
  assert.equal(framesOf(d.push(Buffer.from('whole\x03'))), ['whole']);
});

test('UTF-8 split inside a character is joined before decoding', () => {
  const input = Buffer.from('瓶123\n');
  assert.equal(assertSplitInvariant(() => lineDecoder(), input), ['瓶123']);
});

test.run();
