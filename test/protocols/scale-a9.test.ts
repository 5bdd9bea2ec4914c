import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { a9Decoder, encodeA9 } from '../../protocols/scale/xk3190-a9.ts';
import { A9_FRAMES, bytes } from '../fixtures/scale-frames.ts';
import { assertAccounted, assertSplitInvariant, decodeChunks, discardsOf, framesOf } from '../fixtures/stream-helpers.ts';

test('decodes every captured fixture, including domain.md example and both check encodings', () => {
  for (const f of A9_FRAMES) {
    const out = a9Decoder().push(bytes(f.hex));
    assert.is(out.length, 1, f.name);
    assert.equal(out[0], { kind: 'frame', frame: f.reading, bytes: bytes(f.hex) }, f.name);
  }
});

test('encodes with nibble+0x30 check characters, byte for byte as the Yaohua fixtures', () => {
  assert.equal(encodeA9(23960, 0), bytes('02 2b 30 32 33 39 36 30 30 31 35 03'));
  assert.equal(encodeA9(20, 2), bytes('02 2b 30 30 32 30 30 30 32 31 3b 03'));
  assert.equal(encodeA9(-0.5, 2), bytes('02 2d 30 30 30 30 35 30 32 31 3a 03'));
  assert.equal(encodeA9(12.345, 3), bytes('02 2b 30 31 32 33 34 35 33 31 39 03'));
  // A negative zero is sent as +0, never "-0000000".
  assert.is(encodeA9(-0.001, 2)[1], 0x2b);
});

test('round trip across signs and decimals', () => {
  for (const dp of [0, 1, 2, 3, 4]) {
    for (const kg of [0, 1, -1, 15.5, 49.5, 99.99]) {
      const scaled = Math.round(kg * 10 ** dp);
      if (Math.abs(scaled) > 999_999) continue;
      const [out] = a9Decoder().push(encodeA9(kg, dp));
      assert.is(out.kind, 'frame');
      if (out.kind === 'frame') assert.is(out.frame.weightKg, scaled / 10 ** dp || 0, `${kg} dp ${dp}`);
    }
  }
  assert.throws(() => encodeA9(1_000_000, 0), /does not fit/);
  assert.throws(() => encodeA9(1, 5), /decimals/);
});

test('split at every byte position, glued frames, one byte at a time', () => {
  const stream = Buffer.concat(A9_FRAMES.map((f) => bytes(f.hex)));
  const frames = assertSplitInvariant(a9Decoder, stream);
  assert.equal(frames, A9_FRAMES.map((f) => f.reading));
});

test('a corrupted check character is discarded with the reason, the next frame still decodes', () => {
  const bad = bytes('02 2b 30 30 32 30 30 30 32 31 3c 03'); // '<' instead of ';'
  const good = bytes(A9_FRAMES[0].hex);
  const input = Buffer.concat([bad, good]);
  const out = decodeChunks(a9Decoder, [input]);
  assert.equal(framesOf(out), [A9_FRAMES[0].reading]);
  const d = discardsOf(out);
  assert.is(d.length, 1);
  assert.match(d[0].reason, /XOR check mismatch/);
  assertAccounted(input, out);
  assertSplitInvariant(a9Decoder, input);
});

test('a corrupted digit changes the XOR: never becomes a weight', () => {
  const f = bytes(A9_FRAMES[1].hex);
  f[5] = 0x31; // 002000 → 001000 (a plausible but wrong weight)
  const out = a9Decoder().push(f);
  assert.equal(framesOf(out), []);
  assert.match(discardsOf(out)[0].reason, /XOR/);
});

test('truncated frame followed by a good one: resynchronises on the next STX at once', () => {
  const good = bytes(A9_FRAMES[4].hex);
  const input = Buffer.concat([good.subarray(0, 6), good, good]);
  const out = decodeChunks(a9Decoder, [input]);
  assert.equal(framesOf(out), [A9_FRAMES[4].reading, A9_FRAMES[4].reading]);
  assert.is(discardsOf(out).length, 1);
  assert.match(discardsOf(out)[0].reason, /weight digit/);
  assertAccounted(input, out);
  assertSplitInvariant(a9Decoder, input);
});

test('garbage between frames is reported as discarded, not dropped and not a weight', () => {
  const good = bytes(A9_FRAMES[2].hex);
  const input = Buffer.concat([Buffer.from('noise\r\n'), good, Buffer.from([0xff, 0x00, 0x30]), good]);
  const out = decodeChunks(a9Decoder, [input]);
  assert.equal(framesOf(out), [A9_FRAMES[2].reading, A9_FRAMES[2].reading]);
  assert.is(discardsOf(out).length, 2);
  assertAccounted(input, out);
  assertSplitInvariant(a9Decoder, input);
});

test('missing ETX, bad sign, bad decimals are refused', () => {
  const cases: [string, RegExp][] = [
    ['02 2b 30 30 32 30 30 30 32 31 3b 04', /ETX/],
    ['02 20 30 30 32 30 30 30 32 31 3b 03', /sign/],
    ['02 2b 30 30 32 30 30 30 37 31 3b 03', /decimal places/],
  ];
  for (const [hex, why] of cases) {
    const out = a9Decoder().push(bytes(hex));
    assert.equal(framesOf(out), [], hex);
    assert.match(discardsOf(out)[0].reason, why);
  }
});

test('junk with no STX is held at most 64 bytes, then reported; reset forgets a half frame', () => {
  const d = a9Decoder();
  assert.equal(d.push(Buffer.alloc(40, 0x41)), []);
  const out = d.push(Buffer.alloc(40, 0x41));
  assert.is(discardsOf(out).length, 1);
  assert.is(discardsOf(out)[0].bytes.length, 80);
  const good = bytes(A9_FRAMES[0].hex);
  assert.equal(d.push(good.subarray(0, 7)), []);
  d.reset();
  assert.equal(framesOf(d.push(good)), [A9_FRAMES[0].reading]);
});

test.run();
