import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeToledo, toledoChecksum, toledoDecoder } from '../../protocols/scale/toledo.ts';
import { TOLEDO_FRAMES, bytes } from '../fixtures/scale-frames.ts';
import { assertAccounted, assertSplitInvariant, decodeChunks, discardsOf, framesOf } from '../fixtures/stream-helpers.ts';

const withChecksum = (hex: string, cs: string) => Buffer.concat([bytes(hex), bytes(cs)]);

test('decodes every fixture built from the WILDCAT bit tables, without and with checksum', () => {
  for (const f of TOLEDO_FRAMES) {
    const plain = toledoDecoder(f.options).push(bytes(f.hex));
    assert.equal(framesOf(plain), [f.reading], f.name);
    const checked = toledoDecoder({ ...f.options, checksum: true }).push(withChecksum(f.hex, f.checksum));
    assert.equal(framesOf(checked), [f.reading], `${f.name} (checksum)`);
    assert.is(checked.length, 1);
  }
});

test('checksum is the two\'s complement of the 7-bit sum, STX and CR included', () => {
  for (const f of TOLEDO_FRAMES) assert.is(toledoChecksum(bytes(f.hex)), parseInt(f.checksum, 16), f.name);
});

test('encoder sends Mettler always-bits and matches the fixtures byte for byte', () => {
  const [gross, net, over] = TOLEDO_FRAMES;
  assert.equal(encodeToledo(gross.reading), bytes(gross.hex));
  assert.equal(encodeToledo(net.reading, { checksum: true }), withChecksum(net.hex, net.checksum));
  assert.equal(encodeToledo(over.reading), bytes(over.hex));
  assert.equal(encodeToledo({ weightKg: 12.34, stable: true, overload: false }, { tare: false }), bytes(TOLEDO_FRAMES[6].hex));
});

test('round trip for decimals 0-5, signs, net with tare', () => {
  for (const decimals of [0, 1, 2, 3, 4, 5]) {
    for (const weightKg of [0, 1, -2, decimals === 0 ? 9 : 9.5]) {
      const r = { weightKg, stable: weightKg !== 1, overload: false, net: weightKg < 0, tareKg: decimals === 0 ? 1 : decimals < 5 ? 1.5 : 0.5 };
      const out = toledoDecoder({ checksum: true }).push(encodeToledo(r, { decimals, checksum: true }));
      assert.equal(framesOf(out), [r], `decimals ${decimals} weight ${weightKg}`);
    }
  }
  assert.throws(() => encodeToledo({ weightKg: 10_000, stable: true, overload: false }), /does not fit/);
});

test('split at every position, glued frames, with and without checksum', () => {
  // One indicator's stream keeps its decimal position and unit (kg, XXXX.XX); the lb and gram
  // fixtures are split on their own.
  for (const group of [[0, 1, 2, 4], [3], [5]].map((ix) => ix.map((i) => TOLEDO_FRAMES[i]))) {
    const plain = Buffer.concat(group.map((f) => bytes(f.hex)));
    assert.equal(assertSplitInvariant(() => toledoDecoder(), plain), group.map((f) => f.reading));
    const checked = Buffer.concat(group.map((f) => withChecksum(f.hex, f.checksum)));
    assert.equal(assertSplitInvariant(() => toledoDecoder({ checksum: true }), checked), group.map((f) => f.reading));
  }
});

test('a corrupted checksum or a bit flip in a status word is discarded with the reason', () => {
  const [gross] = TOLEDO_FRAMES;
  const badCs = withChecksum(gross.hex, '2c');
  const flipped = withChecksum(gross.hex, gross.checksum);
  flipped[2] ^= 0x02; // sign bit: a positive weight must not turn negative unnoticed
  const good = withChecksum(gross.hex, gross.checksum);
  const input = Buffer.concat([badCs, flipped, good]);
  const out = decodeChunks(() => toledoDecoder({ checksum: true }), [input]);
  assert.equal(framesOf(out), [gross.reading]);
  const reasons = discardsOf(out).map((d) => d.reason);
  assert.is(reasons.length, 2);
  for (const r of reasons) assert.match(r, /checksum mismatch/);
  assertAccounted(input, out);
});

test('truncated frame followed by a good one resynchronises; garbage between frames is reported', () => {
  const f = bytes(TOLEDO_FRAMES[1].hex);
  const input = Buffer.concat([f.subarray(0, 9), f, Buffer.from('??\r\n'), f]);
  const out = decodeChunks(() => toledoDecoder(), [input]);
  assert.equal(framesOf(out), [TOLEDO_FRAMES[1].reading, TOLEDO_FRAMES[1].reading]);
  assert.is(discardsOf(out).length, 2);
  assert.match(discardsOf(out)[0].reason, /digit/);
  assertAccounted(input, out);
  assertSplitInvariant(() => toledoDecoder(), input);
});

test('STX inside a status word (Fairbanks negative lb gross: SWB 0x02) still frames correctly', () => {
  // SWA 0x2c, SWB 0x02 (b5 = 0, negative, lb), SWC 0x20, 1.00 lb
  const frame = bytes('02 2c 02 20 303030313030 303030303030 0d');
  const out = toledoDecoder().push(Buffer.concat([frame, frame]));
  assert.equal(framesOf(out).map((r) => r.weightKg), [-0.45359237, -0.45359237]);
});

test('no-unit code (Ohaus 111) is refused rather than guessed', () => {
  const out = toledoDecoder().push(bytes('02 2c 30 27 303031323334 303030303030 0d'));
  assert.equal(framesOf(out), []);
  assert.match(discardsOf(out)[0].reason, /unit/);
});

test('checksum option off but device sends it: the extra byte is reported, frames still decode', () => {
  const f = TOLEDO_FRAMES[0];
  const input = Buffer.concat([withChecksum(f.hex, f.checksum), withChecksum(f.hex, f.checksum)]);
  const out = decodeChunks(() => toledoDecoder(), [input]);
  assert.equal(framesOf(out), [f.reading, f.reading]);
  assert.is(discardsOf(out).length, 1); // the first checksum byte; the second is held until an STX shows up
});

test('without checksum, a bit flip that moves the decimal point or changes the unit is discarded (issue 12 point 11)', () => {
  const [gross] = TOLEDO_FRAMES; // 12.34 kg, SWA code 100 (XXXX.XX), SWB kg
  const good = bytes(gross.hex);
  const point = Buffer.from(good);
  point[1] ^= 0x02; // SWA code 110: XX.XXXX, 0.1234 kg
  const unit = Buffer.from(good);
  unit[2] ^= 0x10; // SWB b4: lb
  const out = toledoDecoder().push(Buffer.concat([good, point, unit, good]));
  assert.equal(framesOf(out), [gross.reading, gross.reading]);
  const reasons = discardsOf(out).map((d) => d.reason);
  assert.is(reasons.length, 2);
  assert.match(reasons[0], /decimal/);
  assert.match(reasons[1], /unit/);
});

test('configured decimals and unit are required from the first frame; unconfigured, a lasting change is a reconfiguration', () => {
  const [gross] = TOLEDO_FRAMES;
  const three = encodeToledo(gross.reading, { decimals: 3 });
  assert.equal(framesOf(toledoDecoder({ decimals: 2 }).push(three)), []);
  assert.equal(framesOf(toledoDecoder({ unit: 'lb' }).push(bytes(gross.hex))), []);
  assert.equal(framesOf(toledoDecoder({ decimals: 2, unit: 'kg' }).push(bytes(gross.hex))), [gross.reading]);
  // First seen 2 decimals; the indicator is then set to 3: accepted once 5 frames in a row agree.
  const d = toledoDecoder();
  assert.is(framesOf(d.push(bytes(gross.hex))).length, 1);
  const after = [1, 2, 3, 4, 5, 6].map(() => framesOf(d.push(three)).length);
  assert.equal(after, [0, 0, 0, 0, 1, 1]);
  // Configured: never.
  const fixed = toledoDecoder({ decimals: 2 });
  assert.equal([1, 2, 3, 4, 5, 6].map(() => framesOf(fixed.push(three)).length), [0, 0, 0, 0, 0, 0]);
});

test.run();
