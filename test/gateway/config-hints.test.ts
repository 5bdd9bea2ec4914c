/**
 * `fillgate config check` explains mistakes: each common one gives an error (or a
 * warning) at the right path and line, with a hint that says what to write.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig, formatConfigErrors, type ConfigError, type ConfigResult } from '../../gateway/config/config.ts';

/** A valid small station; each test changes one thing. */
function base(): string {
  return `station: { code: T1, unit: U1 }
buses:
  rs485: { url: "modbus-rtu:///dev/ttyUSB0?baud=38400" }
  tcp: { url: "modbus-tcp://10.0.0.7:502" }
posts:
  - id: P1
    medium: LPG
    scale: { kind: modbus, bus: rs485, unit: 1, preset: flintec-ft112 }
    reader: { link: "serial:///dev/ttyUSB1?baud=9600" }
    valve: { bus: rs485, unit: 10, coil: 0 }
  - id: P2
    medium: LPG
    scale: { kind: stream, link: "tcp://10.0.0.5:4001", format: xk3190-a9 }
    reader: { link: "tcp://10.0.0.5:4002" }
    valve: { bus: rs485, unit: 10, coil: 1 }
checkScale: { kind: modbus, bus: tcp, unit: 1, preset: rinstrum-c500 }
checkReader: { link: "tcp://10.0.0.5:4003" }
`;
}

function errorsOf(r: ConfigResult): ConfigError[] {
  return r.ok ? [] : r.errors;
}

function only(r: ConfigResult, path: string): ConfigError {
  const found = errorsOf(r).filter((e) => e.path === path);
  assert.is(found.length, 1, `one error at ${path}, got ${JSON.stringify(errorsOf(r))}`);
  return found[0];
}

test('the base config is valid and has no warnings', () => {
  const r = parseConfig(base());
  assert.ok(r.ok, JSON.stringify(errorsOf(r)));
  assert.equal(r.warnings, []);
});

test('unknown preset: error at the preset with the list of presets', () => {
  const r = parseConfig(base().replace('preset: flintec-ft112', 'preset: flintec'));
  const e = only(r, 'posts.0.scale.preset');
  assert.match(e.message, 'unknown scale preset "flintec"');
  assert.match(e.hint ?? '', 'flintec-ft112');
  assert.match(e.hint ?? '', 'mettler-ind570');
  assert.is(e.line, 8);
});

test('a bus that is not defined: the hint lists the defined buses', () => {
  const r = parseConfig(base().replace('valve: { bus: rs485, unit: 10, coil: 1 }', 'valve: { bus: rs458, unit: 10, coil: 1 }'));
  const e = only(r, 'posts.1.valve.bus');
  assert.match(e.message, 'bus "rs458" is not defined');
  assert.is(e.hint, 'defined buses: rs485, tcp');
  assert.is(e.line, 15);
});

test('a Modbus URL in a stream link field', () => {
  const r = parseConfig(base().replace('reader: { link: "tcp://10.0.0.5:4002" }', 'reader: { link: "modbus-tcp://10.0.0.5:502" }'));
  const e = only(r, 'posts.1.reader.link');
  assert.match(e.hint ?? '', 'this is a Modbus bus URL: define it under buses:');
});

test('a stream URL as a Modbus bus: the hint writes the Modbus forms out', () => {
  const r = parseConfig(base().replace('"modbus-tcp://10.0.0.7:502"', '"tcp://10.0.0.7:502"'));
  const e = only(r, 'buses.tcp.url');
  assert.match(e.hint ?? '', 'modbus-tcp://10.0.0.7:502');
  assert.match(e.hint ?? '', 'modbus-rtu-tcp://10.0.0.7:502');
  const serial = parseConfig(base().replace('"modbus-rtu:///dev/ttyUSB0?baud=38400"', '"serial:///dev/ttyUSB0?baud=38400"'));
  assert.match(only(serial, 'buses.rs485.url').hint ?? '', 'modbus-rtu:///dev/ttyUSB0?baud=38400');
});

test('baud rate missing: a warning, the config still loads', () => {
  const r = parseConfig(base().replace('"serial:///dev/ttyUSB1?baud=9600"', '"serial:///dev/ttyUSB1"'));
  assert.ok(r.ok);
  const w = r.warnings.find((x) => x.path === 'posts.0.reader.link');
  assert.ok(w, JSON.stringify(r.warnings));
  assert.match(w!.message, '9600 8N1 is assumed');
  assert.is(w!.line, 9);
});

test('a bad baud rate or URL option is an error naming it', () => {
  const r = parseConfig(base().replace('?baud=38400', '?buad=38400'));
  assert.match(only(r, 'buses.rs485.url').message, 'unknown option "buad"');
  const b = parseConfig(base().replace('ttyUSB1?baud=9600', 'ttyUSB1?baud=9601'));
  assert.match(only(b, 'posts.0.reader.link').message, 'baud "9601"');
});

test('unit id out of range: 0 on RTU, 300 anywhere', () => {
  const r = parseConfig(base().replace('valve: { bus: rs485, unit: 10, coil: 0 }', 'valve: { bus: rs485, unit: 0, coil: 0 }'));
  const e = only(r, 'posts.0.valve.unit');
  assert.match(e.message, 'RTU bus "rs485"');
  assert.match(e.hint ?? '', '1..247');
  const big = parseConfig(base().replace('checkScale: { kind: modbus, bus: tcp, unit: 1', 'checkScale: { kind: modbus, bus: tcp, unit: 300'));
  assert.match(only(big, 'checkScale.unit').hint ?? '', '0..255 on Modbus TCP');
  // Unit 0 is a legal Modbus TCP unit id.
  assert.ok(parseConfig(base().replace('bus: tcp, unit: 1', 'bus: tcp, unit: 0')).ok);
});

test('duplicate post ids', () => {
  const r = parseConfig(base().replace('- id: P2', '- id: P1'));
  const e = only(r, 'posts.1.id');
  assert.match(e.message, 'duplicate post id P1');
  assert.is(e.line, 11);
});

test('two posts on the same coil of the same unit', () => {
  const r = parseConfig(base().replace('unit: 10, coil: 1', 'unit: 10, coil: 0'));
  const e = only(r, 'posts.1.valve.coil');
  assert.match(e.message, "already post P1's valve");
  // The same coil number on another unit is fine.
  assert.ok(parseConfig(base().replace('unit: 10, coil: 1', 'unit: 11, coil: 0')).ok);
});

test('LPG and DME posts in one station are an error citing domain.md 1', () => {
  const r = parseConfig(base().replace('- id: P2\n    medium: LPG', '- id: P2\n    medium: DME'));
  const e = only(r, 'posts.1.medium');
  assert.match(e.message, 'post P2 fills DME but post P1 fills LPG');
  assert.match(e.hint ?? '', '同一充装地址不得同时充装液化石油气和二甲醚');
  // A DME-only station is fine.
  assert.ok(parseConfig(base().replace(/medium: LPG/g, 'medium: DME')).ok);
});

test('pollHz over 50', () => {
  const r = parseConfig(base().replace('preset: flintec-ft112 }', 'preset: flintec-ft112, pollHz: 80 }'));
  const e = only(r, 'posts.0.scale.pollHz');
  assert.match(e.hint ?? '', 'at most 50 Hz');
});

test('no check scale: a warning citing the separate re-weigh scale', () => {
  const r = parseConfig(base().replace(/checkScale:.*\n/, '').replace(/checkReader:.*\n/, ''));
  assert.ok(r.ok);
  const w = r.warnings.find((x) => x.path === 'checkScale');
  assert.ok(w);
  assert.match(w!.hint ?? '', '专用的复称衡器');
});

test('an unknown key is an error with "did you mean"', () => {
  const r = parseConfig(base().replace('preset: flintec-ft112 }', 'preset: flintec-ft112, pollhz: 20 }'));
  const e = only(r, 'posts.0.scale.pollhz');
  assert.is(e.hint, 'did you mean pollHz?');
  assert.is(e.line, 8);
  const top = parseConfig(base() + 'chekScale: {}\n');
  assert.is(only(top, 'chekScale').hint, 'did you mean checkScale?');
});

test('an overloaded RTU line is a warning', () => {
  const r = parseConfig(base().replace('?baud=38400', '?baud=9600').replace('preset: flintec-ft112 }', 'preset: flintec-ft112, pollHz: 50 }'));
  assert.ok(r.ok);
  assert.ok(r.warnings.some((w) => w.path === 'buses.rs485' && /exchanges\/s/.test(w.message)), JSON.stringify(r.warnings));
});

test('every error at once, in line order, each with path and line; a missing key points at its parent', () => {
  const text = base()
    .replace('preset: flintec-ft112', 'preset: nope')
    .replace('"tcp://10.0.0.5:4002"', '"modbus-tcp://x:1"')
    .replace('unit: 10, coil: 1', 'unit: 10, coil: 0')
    .replace('checkScale: { kind: modbus, bus: tcp, unit: 1, preset: rinstrum-c500 }', 'checkScale: { kind: modbus, bus: tcp, preset: rinstrum-c500 }');
  const r = parseConfig(text);
  const errs = errorsOf(r);
  assert.equal(errs.map((e) => e.path), ['posts.0.scale.preset', 'posts.1.reader.link', 'posts.1.valve.coil', 'checkScale.unit']);
  assert.equal(errs.map((e) => e.line), [8, 14, 15, 16]);
  assert.match(errs[3].hint ?? '', 'unit is required');
  const text2 = formatConfigErrors('station.yaml', errs);
  assert.match(text2, 'station.yaml:8: posts.0.scale.preset: unknown scale preset "nope"\n    hint: known presets:');
});

test('YAML syntax errors carry their line', () => {
  const r = parseConfig('station: { code: T1\nposts: [');
  assert.not.ok(r.ok);
  assert.is(errorsOf(r)[0].path, '(yaml)');
  assert.ok(errorsOf(r)[0].line);
});

test('a Toledo scale without its checksum: a warning that recommends turning it on (issue 12 point 11)', () => {
  const plain = parseConfig(base().replace('format: xk3190-a9', 'format: toledo'));
  assert.ok(plain.ok, JSON.stringify(errorsOf(plain)));
  const w = plain.warnings.find((x) => x.path === 'posts.1.scale.formatOptions.checksum');
  assert.ok(w, JSON.stringify(plain.warnings));
  assert.match(w!.message, /without its checksum/);
  assert.match(w!.hint ?? '', 'formatOptions: { checksum: true }');
  const on = parseConfig(base().replace('format: xk3190-a9', 'format: toledo, formatOptions: { checksum: true }'));
  assert.equal(on.warnings, []);
});

test.run();
