import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileCodeRules, type CodeRule } from '../../devices/codes.ts';
import { isFillgateError } from '../../protocols/errors.ts';

const station: CodeRule[] = [
  { match: 'hex', length: 8, kind: 'badge', name: 'mifare-badge' },
  { match: 'numeric', prefix: 'B', keepPrefix: true, length: 6, kind: 'badge' },
  { match: 'url', hosts: ['qr.gas.example.cn'], param: 'id', kind: 'cylinder' },
  { match: 'url', hosts: ['qr.gas.example.cn'], pattern: '[0-9A-Z]{10}', kind: 'cylinder' },
  { match: 'hex', length: [14, 16, 24], kind: 'cylinder' },
  { match: 'numeric', padTo: 12, kind: 'cylinder' },
];

test('hex UIDs: separators removed, uppercased, length decides badge vs cylinder', () => {
  const n = compileCodeRules(station);
  assert.equal(n('04:a2:2b:1c'), { code: '04A22B1C', kind: 'badge' });
  assert.equal(n('04-A2-2B-1C-55-66-80'), { code: '04A22B1C556680', kind: 'cylinder' });
  assert.equal(n('e2 00 00 17 22 0b 01 23 45 67 89 ab'), { code: 'E2000017220B0123456789AB', kind: 'cylinder' });
  assert.equal(n('  04a22b1c \t'), { code: '04A22B1C', kind: 'badge' }, 'surrounding whitespace ignored');
});

test('byte-order reversal for readers that send the UID LSB first; odd length refused', () => {
  const n = compileCodeRules([{ match: 'hex', reverseBytes: true, kind: 'cylinder' }]);
  assert.equal(n('1C2BA204'), { code: '04A22B1C', kind: 'cylinder' });
  assert.ok('error' in n('1C2BA20'));
  const strict = compileCodeRules([{ match: 'hex', separators: false, kind: 'cylinder' }]);
  assert.ok('error' in strict('04:A2'));
});

test('numeric codes: leading zeros added up to padTo; too long refused; badge by prefix', () => {
  const n = compileCodeRules(station);
  // 9 digits: no hex rule takes 9 digits, so the numeric cylinder rule pads it.
  assert.equal(n('123456789'), { code: '000123456789', kind: 'cylinder' });
  assert.equal(n('B004711'), { code: 'B004711', kind: 'badge' });
  const r = n('1234567890123');
  assert.ok('error' in r && /no rule accepts/.test(r.error) && /more than 12/.test(r.error), JSON.stringify(r));
  const fixed = compileCodeRules([{ match: 'numeric', length: 8, kind: 'cylinder' }]);
  assert.ok('error' in fixed('1234567'));
  assert.equal(fixed('01234567'), { code: '01234567', kind: 'cylinder' });
});

test('QR URLs: query parameter or last path segment; foreign hosts and bad codes refused', () => {
  const n = compileCodeRules(station);
  assert.equal(n('https://qr.gas.example.cn/c?id=GB58420001&x=1'), { code: 'GB58420001', kind: 'cylinder' });
  assert.equal(n('https://qr.gas.example.cn/cyl/A123456789/'), { code: 'A123456789', kind: 'cylinder' });
  assert.equal(n('HTTPS://QR.GAS.EXAMPLE.CN/cyl/A123456789'), { code: 'A123456789', kind: 'cylinder' }, 'host is case-insensitive');
  const foreign = n('https://evil.example.com/cyl/A123456789');
  assert.ok('error' in foreign && /not one of/.test(foreign.error));
  assert.ok('error' in n('https://qr.gas.example.cn/cyl/short'), 'segment must match the pattern');
  assert.ok('error' in n('ftp://qr.gas.example.cn/cyl/A123456789'));
  const encoded = compileCodeRules([{ match: 'url', kind: 'cylinder' }]);
  assert.equal(encoded('http://x.cn/p/%E7%93%B6123'), { code: '瓶123', kind: 'cylinder' });
});

test('regex rules: named group "code", then group 1, then the whole match; upper option', () => {
  const named = compileCodeRules([{ match: 'regex', pattern: '^CYL-(?<code>[a-z0-9]+)$', upper: true, kind: 'cylinder' }]);
  assert.equal(named('CYL-ab12'), { code: 'AB12', kind: 'cylinder' });
  const first = compileCodeRules([{ match: 'regex', pattern: '^OP(\\d{4})$', kind: 'badge' }]);
  assert.equal(first('OP0042'), { code: '0042', kind: 'badge' });
  const whole = compileCodeRules([{ match: 'regex', pattern: '^[A-Z]{2}\\d{6}$', kind: 'cylinder' }]);
  assert.equal(whole('GB123456'), { code: 'GB123456', kind: 'cylinder' });
  assert.ok('error' in whole('GB12345'));
});

test('first matching rule wins: order is how badges are told apart', () => {
  const badgeFirst = compileCodeRules([{ match: 'hex', length: 8, kind: 'badge' }, { match: 'hex', kind: 'cylinder' }]);
  const cylFirst = compileCodeRules([{ match: 'hex', kind: 'cylinder' }, { match: 'hex', length: 8, kind: 'badge' }]);
  assert.is((badgeFirst('04A22B1C') as { kind: string }).kind, 'badge');
  assert.is((cylFirst('04A22B1C') as { kind: string }).kind, 'cylinder');
});

test('empty input and control characters are errors, never codes', () => {
  const n = compileCodeRules(station);
  assert.equal(n('   '), { error: 'empty code' });
  assert.ok('error' in n('04A2\x002B1C'));
});

test('bad rule lists are configuration errors naming every bad rule', () => {
  const bad = [
    { match: 'regex', pattern: '([', kind: 'cylinder' },
    { match: 'hex', kind: 'operator' },
    { match: 'guess', kind: 'cylinder' },
  ] as unknown as CodeRule[];
  try {
    compileCodeRules(bad);
    assert.unreachable();
  } catch (err) {
    assert.ok(isFillgateError(err, 'BAD_CONFIG'));
    const errors = (err as { context: Record<string, unknown> }).context.errors as string[];
    assert.is(errors.length, 3, errors.join('\n'));
    assert.match(errors.join('\n'), /rules\[0\].*regular expression/);
    assert.match(errors.join('\n'), /rules\[1\].*kind/);
    assert.match(errors.join('\n'), /rules\[2\].*match/);
  }
  assert.throws(() => compileCodeRules([]), /at least one/);
});

test.run();
