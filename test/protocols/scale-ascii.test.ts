import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { asciiDecoder, asciiReportsStability, encodeAscii } from '../../protocols/scale/ascii.ts';
import { scaleCodec, SCALE_FORMATS } from '../../protocols/scale/index.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ASCII_LINES, bytes } from '../fixtures/scale-frames.ts';
import { withoutLfAfterCr, assertAccounted, assertSplitInvariant, decodeChunks, discardsOf, framesOf } from '../fixtures/stream-helpers.ts';

test('decodes the fixture lines (CR, LF, CRLF; grams; overload without a number)', () => {
  for (const f of ASCII_LINES) assert.equal(framesOf(asciiDecoder().push(bytes(f.hex))), [f.reading], f.name);
});

test('encode then decode round trips; encoding is the documented layout', () => {
  assert.is(encodeAscii({ weightKg: 12.34, stable: true, overload: false }).toString(), 'ST,GS,+0012.34kg\r\n');
  assert.is(encodeAscii({ weightKg: -0.5, stable: false, overload: false, net: true }).toString(), 'US,NT,-0000.50kg\r\n');
  for (const r of [
    { weightKg: 0, stable: true, overload: false, net: false },
    { weightKg: 49.5, stable: false, overload: false, net: false },
    { weightKg: -3.21, stable: true, overload: false, net: true },
  ]) {
    assert.equal(framesOf(asciiDecoder().push(encodeAscii(r))), [r]);
  }
});

test('split at every position with glued lines and garbage lines between', () => {
  const input = Buffer.concat([...ASCII_LINES.map((f) => bytes(f.hex)), Buffer.from('garbage\r\n'), bytes(ASCII_LINES[0].hex)]);
  const frames = assertSplitInvariant(() => asciiDecoder(), input);
  assert.equal(frames, [...ASCII_LINES.map((f) => f.reading), ASCII_LINES[0].reading]);
  const out = decodeChunks(() => asciiDecoder(), [input]);
  assert.equal(discardsOf(out).map((d) => d.reason), ['line does not match the scale pattern']);
  assertAccounted(withoutLfAfterCr(input), out);
});

test('unknown status, mode, unit and a non-number value are refused with their reasons', () => {
  const cases: [string, RegExp][] = [
    ['XX,GS,+0012.34kg\r\n', /unknown status "XX"/],
    ['ST,TR,+0012.34kg\r\n', /unknown mode "TR"/],
    ['ST,GS,+0012.34st\r\n', /unknown unit "st"/],
    ['ST,GS,+00-12.3kg\r\n', /not a number/],
  ];
  for (const [line, why] of cases) {
    const out = asciiDecoder().push(Buffer.from(line));
    assert.equal(framesOf(out), [], line);
    assert.match(discardsOf(out)[0].reason, why);
  }
});

test('a truncated line glued to the next is one bad line; the following line decodes', () => {
  const input = Buffer.from('ST,GS,+00ST,GS,+0012.34kg\r\nUS,GS,+0001.00kg\r\n');
  const out = asciiDecoder().push(input);
  assert.equal(framesOf(out), [{ weightKg: 1, stable: false, overload: false, net: false }]);
  assert.is(discardsOf(out).length, 1);
});

test('custom pattern: XK3190-A12 lines (devices.md 3.4); no status group = no stability on the wire', () => {
  const opts = { pattern: '^w(?<mode>[wn])(?<sign>[+-])?(?<value>[0-9.]+)(?<unit>kg|lb)$', gross: ['w'], net: ['n'], decimals: 3 };
  assert.is(asciiReportsStability(opts), false);
  assert.is(asciiReportsStability(), true);
  const out = asciiDecoder(opts).push(Buffer.from('ww012.340kg\r\nwn-00.100kg\r\nwt000.000kg\r\n'));
  assert.equal(framesOf(out), [
    { weightKg: 12.34, stable: false, overload: false, net: false },
    { weightKg: -0.1, stable: false, overload: false, net: true },
  ]);
  assert.match(discardsOf(out)[0].reason, /does not match/);
});

test('bad patterns are configuration errors at construction', () => {
  for (const pattern of ['(?<value>[0-9', '^(?<weight>\\d+)$']) {
    try {
      scaleCodec('ascii', { pattern });
      assert.unreachable('should throw');
    } catch (err) {
      assert.ok(isFillgateError(err, 'BAD_CONFIG'), String(err));
    }
  }
});

test('scaleCodec: every format round trips through its own encoder and says whether it reports stability', () => {
  const r = { weightKg: 15.25, stable: true, overload: false };
  const expectStable: Record<string, boolean> = { 'xk3190-a9': false, toledo: true, ascii: true };
  for (const format of SCALE_FORMATS) {
    const c = scaleCodec(format);
    assert.is(c.reportsStability, expectStable[format], format);
    const [out] = framesOf(c.decoder().push(c.encode(r)));
    assert.is(out.weightKg, 15.25, format);
    assert.is(out.stable, c.reportsStability, format);
  }
});

test('a line cut short at any byte, then CR LF, is discarded and counted, never read as a weight (issue 12 point 10)', () => {
  for (const full of ['ST,GS,+0016.52kg', 'US,GS,-0001.00kg', 'ST,NT,+0123.45kg']) {
    for (let cut = 1; cut < full.length; cut++) {
      const line = `${full.slice(0, cut)}\r\n`;
      const out = asciiDecoder().push(Buffer.from(line, 'latin1'));
      assert.equal(framesOf(out), [], `cut after ${cut} bytes: ${JSON.stringify(line)} must not be a weight`);
      assert.is(discardsOf(out).length, 1, `cut after ${cut} bytes: counted once`);
    }
    // The whole line still decodes, and a cut line does not spoil the next one.
    const out = asciiDecoder().push(Buffer.from(`${full.slice(0, 10)}\r\n${full}\r\n`, 'latin1'));
    assert.is(framesOf(out).length, 1, full);
  }
});

test('configured decimals, width and unit are required: fewer decimals, a short field or another unit are refused', () => {
  const cases: [string, RegExp][] = [
    ['ST,GS,+0016.5kg\r\n', /decimals/],
    ['ST,GS,+016.52kg\r\n', /width/],
    ['ST,GS,+0016.52\r\n', /unit/],
    ['ST,GS,+0016520g\r\n', /decimals|width/],
  ];
  for (const [line, why] of cases) {
    const out = asciiDecoder().push(Buffer.from(line));
    assert.equal(framesOf(out), [], line);
    assert.match(discardsOf(out)[0]?.reason ?? '', why, line);
  }
  const grams = asciiDecoder({ decimals: 0, width: 7, unit: 'g' });
  assert.equal(framesOf(grams.push(Buffer.from('ST,GS,+  16520g\r\n'))).map((r) => r.weightKg), [16.52]);
  assert.equal(framesOf(grams.push(Buffer.from('ST,GS,+0016.52kg\r\n'))), [], 'another unit than the configured one');
});

test.run();
