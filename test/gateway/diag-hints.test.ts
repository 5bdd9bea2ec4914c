/**
 * The doctor's reasoning as tables: which probe outcomes point to which
 * mistake, and how a scale reading reveals word or byte order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkScaleReading, judgeModbus, outcomeOf, type BusFacts, type ProbeOutcome } from '../../gateway/diag/modbus-hints.ts';
import type { ScaleRegisterMap } from '../../devices/scale/modbus-scale-map.ts';
import { encodeValue } from '../../protocols/modbus/registers.ts';
import { FillgateError } from '../../protocols/errors.ts';
import Database from '../../gateway/sqlite.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registeredWeights } from '../../gateway/cli/diag.ts';
import { openRegistry } from '../../gateway/registry/registry.ts';

const rtu: BusFacts = { url: 'modbus-rtu:///dev/ttyUSB0?baud=9600', scheme: 'modbus-rtu', describe: 'modbus-rtu serial:///dev/ttyUSB0 9600 8N1', anyUnitAnswered: false };
const tcp: BusFacts = { url: 'modbus-tcp://10.0.0.7:502', scheme: 'modbus-tcp', describe: 'modbus-tcp tcp://10.0.0.7:502', anyUnitAnswered: false };
const rtuTcp: BusFacts = { url: 'modbus-rtu-tcp://10.0.0.5:4001', scheme: 'modbus-rtu-tcp', describe: 'x', anyUnitAnswered: false };

const ok: ProbeOutcome = { kind: 'ok' };
const timeout: ProbeOutcome = { kind: 'timeout', message: 'unit 3 did not answer within 300 ms' };
const badFrame: ProbeOutcome = { kind: 'bad-frame', message: 'CRC error' };
const link: ProbeOutcome = { kind: 'link', message: 'cannot open' };
const exc = (code: number): ProbeOutcome => ({ kind: 'exception', code, message: `exception ${code}` });

const cases: [string, ProbeOutcome[], number, BusFacts, string, RegExp | undefined][] = [
  ['every read answered', [ok, ok, ok], 0, rtu, 'ok', undefined],
  ['one read of three lost', [ok, timeout, ok], 0, rtu, 'problem', /1 of 3 reads failed .* termination/],
  ['answers, with late replies discarded', [ok, ok], 2, rtu, 'problem', /2 garbled or late replies/],
  ['one late reply in many reads', Array(20).fill(ok), 1, rtu, 'ok', /1 garbled or late replies/],
  ['serial port cannot be used', [link], 0, rtu, 'unreachable', /dialout group/],
  ['TCP connection refused', [link], 0, tcp, 'unreachable', /check the IP address and port/],
  ['illegal data address: map wrong, id right', [exc(2), exc(2)], 0, rtu, 'problem', /unit id and the wiring are right.*register map does not match.*address − 1/],
  ['illegal function: holding vs input', [exc(1)], 0, tcp, 'problem', /function 3\) vs input registers \(function 4/],
  ['TCP gateway: no target behind it', [exc(11), exc(11)], 0, tcp, 'unreachable', /nothing answers at unit id 3 behind it.*modbus scan modbus-tcp:\/\/10\.0\.0\.7:502/],
  ['RTU: silence plus garbage: baud or parity', [timeout, timeout], 2, rtu, 'unreachable', /garbled .* baud rate or parity/],
  ['RTU: bad CRC replies', [badFrame, timeout], 0, rtu, 'unreachable', /baud rate or parity/],
  ['Modbus TCP: garbled replies: RTU over TCP', [badFrame], 0, tcp, 'unreachable', /use modbus-rtu-tcp:\/\//],
  ['silence while neighbours answer: unit id', [timeout, timeout], 0, { ...rtu, anyUnitAnswered: true }, 'unreachable', /other units on this bus answer.*unit id 3 is wrong/],
  ['silence on the whole RTU line: wiring', [timeout, timeout], 0, rtu, 'unreachable', /A\/B \(D\+\/D−\) lines swapped, wrong port/],
  ['silence behind a device server', [timeout], 0, rtuTcp, 'unreachable', /device server accepts the connection.*baud, parity, RS-485 mode/],
  ['silence from a Modbus TCP device', [timeout], 0, tcp, 'unreachable', /does not answer unit id 3.*modbus-rtu-tcp/],
];

for (const [name, outcomes, discarded, bus, status, hint] of cases) {
  test(`judgeModbus: ${name}`, () => {
    const v = judgeModbus(3, outcomes, discarded, bus);
    assert.is(v.status, status);
    if (hint) assert.match(v.hints.join('\n'), hint);
    else assert.equal(v.hints, []);
  });
}

test('outcomeOf sorts the bus errors', () => {
  assert.equal(outcomeOf(new FillgateError('MODBUS_EXCEPTION', 'x', { exceptionCode: 2 })), { kind: 'exception', code: 2, message: 'x' });
  assert.is(outcomeOf(new FillgateError('TIMEOUT', 't')).kind, 'timeout');
  assert.is(outcomeOf(new FillgateError('BAD_FRAME', 'b')).kind, 'bad-frame');
  assert.is(outcomeOf(new FillgateError('LINK_CLOSED', 'l')).kind, 'link');
  assert.is(outcomeOf(new Error('boom')).kind, 'other');
});

const map = (weight: Partial<ScaleRegisterMap['weight']>, extra: Partial<ScaleRegisterMap> = {}): ScaleRegisterMap => ({
  function: 3,
  weight: { address: 0, type: 'int32', wordOrder: 'big', ...weight },
  decimals: 2,
  capacityKg: 150,
  ...extra,
});
const image = (words: number[]) => new Map(words.map((w, i) => [i, w]));

test('checkScaleReading: a plausible weight is ok', () => {
  const c = checkScaleReading(map({}), image(encodeValue(1710, { type: 'int32' })));
  assert.equal(c, { status: 'ok', detail: '17.1 kg moving', hints: [] });
});

test('checkScaleReading: low word first read as high word first names wordOrder little', () => {
  const c = checkScaleReading(map({}), image(encodeValue(1710, { type: 'int32', wordOrder: 'little' })));
  assert.is(c.status, 'problem');
  assert.match(c.hints[0]!, /reads 1120665\.6 kg.*wordOrder little\) it reads 17\.1 kg: set scale\.overrides: \{ weight: \{ wordOrder: little \} \}/);
});

test('checkScaleReading: a small negative weight in the other order is caught too', () => {
  const c = checkScaleReading(map({ wordOrder: 'little' }), image(encodeValue(-5, { type: 'int32', wordOrder: 'big' })));
  assert.match(c.hints[0]!, /it reads -0\.05 kg: set scale\.overrides: \{ weight: \{ wordOrder: big \} \}/);
});

test('checkScaleReading: bytes swapped inside words names byteSwap', () => {
  const c = checkScaleReading(map({ type: 'int16' }), image(encodeValue(1234, { type: 'int16', byteSwap: true })));
  assert.match(c.hints[0]!, /byteSwap true\) it reads 12\.34 kg/);
});

test('checkScaleReading: a float32 sent low word first', () => {
  const c = checkScaleReading(map({ type: 'float32' }, { decimals: undefined }), image(encodeValue(17.5, { type: 'float32', wordOrder: 'little' })));
  assert.is(c.status, 'problem');
  assert.match(c.hints[0]!, /it reads 17\.5 kg: set scale\.overrides: \{ weight: \{ wordOrder: little \} \}/);
});

test('checkScaleReading: absurd in every order, and a refused status, each say what to check', () => {
  let c = checkScaleReading(map({ type: 'int16' }, { capacityKg: 10 }), image([0x2020]));
  assert.is(c.status, 'problem');
  assert.match(c.hints[0]!, /not plausible for this scale \(limit 10 kg\): check weight\.address, type, decimals or kgPerCount/);
  const withStatus = map({}, { status: { address: 2, type: 'uint16', require: [{ bit: 0 }] } });
  c = checkScaleReading(withStatus, image([0, 100, 0]));
  assert.is(c.status, 'problem');
  assert.match(c.detail, /^refused: status bit 0 is not 1/);
  assert.match(c.hints[0]!, /the manual numbers from 1/);
});

// ---- issue 12 point 12: a swapped word order that reads as a plausible small or negative weight

test('checkScaleReading: a float32 read in the wrong word order as a plausible small weight names the fix (a displayed value is round)', () => {
  // 5.07 kg sent high word first, read low word first: 0.0588995… kg, a weight the other checks let through.
  const c = checkScaleReading(map({ type: 'float32', wordOrder: 'little' }, { decimals: undefined }), image(encodeValue(5.07, { type: 'float32', wordOrder: 'big' })));
  assert.is(c.status, 'problem', JSON.stringify(c));
  assert.match(c.hints[0]!, /it reads 5\.07\d* kg.*set scale\.overrides: \{ weight: \{ wordOrder: big \} \}/);
});

test('checkScaleReading: a float32 read as a tiny negative weight (below a gram) names the fix', () => {
  const c = checkScaleReading(map({ type: 'float32', wordOrder: 'little' }, { decimals: undefined }), image(encodeValue(5.21, { type: 'float32', wordOrder: 'big' })));
  assert.is(c.status, 'problem', JSON.stringify(c));
  assert.match(c.hints[0]!, /wordOrder: big/);
});

test("checkScaleReading: int32 65.536 kg read low word first is 0.001 kg; the status (not at zero) and the registry's tares say which is right", () => {
  const m = map({ wordOrder: 'little' }, { decimals: 3, status: { address: 2, type: 'uint16', zero: { bit: 12 } } });
  const words = [...encodeValue(65536, { type: 'int32', wordOrder: 'big' }), 0]; // status: not at centre of zero
  let c = checkScaleReading(m, image(words));
  assert.is(c.status, 'problem', JSON.stringify(c));
  assert.match(c.hints[0]!, /it reads 65\.536 kg.*wordOrder: big/);
});

test('checkScaleReading: a float32 read in the wrong word order as a plausible negative weight names the fix', () => {
  // 5.18 kg read low word first is -71.6 kg: within −10 % of the default 1000 kg limit.
  const c = checkScaleReading(map({ type: 'float32', wordOrder: 'little' }, { decimals: undefined, capacityKg: undefined }), image(encodeValue(5.18, { type: 'float32', wordOrder: 'big' })));
  assert.is(c.status, 'problem', JSON.stringify(c));
  assert.match(c.hints[0]!, /reads -71\.6\d* kg, less likely \(negative beyond zero drift.*it reads 5\.18\d* kg.*wordOrder: big/);
});

test("checkScaleReading: when both orders read as a weight, the registry's cylinders decide", () => {
  // 25.65 kg (0x0a05) with its bytes swapped reads 12.90 kg (0x050a): both plausible on their own.
  const words = [0x050a];
  assert.is(checkScaleReading(map({ type: 'int16' }), image(words)).status, 'ok', 'nothing to tell them apart');
  const c = checkScaleReading(map({ type: 'int16' }), image(words), { minKg: 20, maxKg: 110 });
  assert.is(c.status, 'problem', JSON.stringify(c));
  assert.match(c.hints[0]!, /reads 12\.9 kg, less likely \(outside the registered cylinders' 20-110 kg\).*it reads 25\.65 kg: set scale\.overrides: \{ weight: \{ byteSwap: true \} \}/);
});

test('checkScaleReading: a right reading stays ok (an empty scale at zero, a cylinder in the registry range, a round float)', () => {
  assert.is(checkScaleReading(map({}), image(encodeValue(0, { type: 'int32' }))).status, 'ok');
  assert.is(checkScaleReading(map({}, { decimals: 3 }), image(encodeValue(65536, { type: 'int32' })), { minKg: 5, maxKg: 110 }).status, 'ok');
  assert.is(checkScaleReading(map({ type: 'float32' }, { decimals: undefined }), image(encodeValue(5.07, { type: 'float32' }))).status, 'ok');
  assert.is(checkScaleReading(map({ type: 'float32' }, { decimals: undefined }), image(encodeValue(-0.02, { type: 'float32' }))).status, 'ok');
});

test('judgeModbus: a large share of failed reads or discarded replies is not ok', () => {
  assert.is(judgeModbus(3, [ok, timeout, ok], 0, rtu).status, 'problem');
  assert.is(judgeModbus(3, [ok, ok, ok], 3, rtu).status, 'problem');
  assert.is(judgeModbus(3, Array(20).fill(ok), 1, rtu).status, 'ok');
});

test("the doctor CLI takes the likely weights from the station's registry, read-only; none without one", () => {
  const dir = mkdtempSync(join(tmpdir(), 'fillgate-doctor-reg-'));
  try {
    assert.is(registeredWeights(dir), undefined);
    const db = new Database(join(dir, 'station.db'));
    const reg = openRegistry(db);
    const base = { ownerUnit: 'U1', medium: 'LPG' as const, manufacturedOn: '2024-01-01', designLifeYears: 8, nextInspectionDue: '2028-01-31', status: 'active' as const };
    reg.upsertCylinder({ ...base, code: 'C1', valveCode: 'V1', model: 'YSP4.7', waterVolumeL: 4.7, allowedFillKg: 1.9, tareKg: 5.2 });
    reg.upsertCylinder({ ...base, code: 'C2', valveCode: 'V2', model: 'YSP118', waterVolumeL: 118, allowedFillKg: 49.5, tareKg: 47.5 });
    db.close();
    assert.equal(registeredWeights(dir), { minKg: 5.2, maxKg: 97 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
